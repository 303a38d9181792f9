"""Attack corpora as data files, read by the suites that prove Vault resists them.

Each file holds one payload per line, grouped under ``## `` headings; lines starting with
``# `` are comments. ``{NL}`` stands for a line break, ``{NUL}`` for the NUL character and
``{TAB}`` for a tab, so that every payload fits on one line of the file.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

HERE = Path(__file__).parent
#: The number of the first payload: numbers stay clear of small integers a page may show.
FIRST_MARK = 2000
#: What a template payload computes (7*191): it must never appear on a page.
EVALUATED = "1337"


class Payload(t.NamedTuple):
    """One attack string, its heading in the file and its unique number."""

    mark: int
    group: str
    text: str


def _expand(line: str) -> str:
    return line.replace("{NL}", "\n").replace("{NUL}", "\x00").replace("{TAB}", "\t")


def load(name: str, *, marked: bool = False) -> list[Payload]:
    """The payloads of ``tests/corpora/<name>``.

    :param marked: replace ``MARK`` in each payload by its unique number; every payload
        must then contain ``MARK``.
    :raises ValueError: when a payload repeats, or lacks ``MARK`` when ``marked``.
    """
    group = ""
    found: list[Payload] = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            group = line[3:].strip()
            continue
        if not line.strip() or line.startswith("# "):
            continue
        mark = FIRST_MARK + len(found)
        if marked and "MARK" not in line:
            raise ValueError(f"{name}: no MARK in {line!r}")
        text = _expand(line.replace("MARK", str(mark)) if marked else line)
        found.append(Payload(mark, group, text))
    texts = [p.text for p in found]
    if len(set(texts)) != len(texts):
        raise ValueError(f"{name}: a payload repeats")
    return found
