"""Rebuild ``src/flask_bastion/passwords/data/common-passwords.txt.gz`` from the published
list (how it was obtained: ``src/flask_bastion/passwords/data/README.md``).

    python scripts/build_blocklist.py path/to/10_million_password_list_top_1M.txt

Takes the list's entries in its order (most common first) and keeps each one's folded form
(NFKC, then case-folded, as :func:`flask_bastion.passwords.blocklist.fold` computes it)
the first time it appears, until :data:`SIZE` distinct forms are kept. The output is one
form a line, UTF-8, gzip with a fixed timestamp so that a rebuild is byte-identical.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

from flask_bastion.passwords.blocklist import DATA_FILE, fold

#: Distinct (case-insensitive) entries kept.
SIZE = 100_000


def build(source: Path, output: Path = DATA_FILE) -> tuple[int, int, str]:
    """Write the blocklist; return (lines read, entries kept, SHA-256 of the source)."""
    raw = source.read_bytes()
    kept: dict[str, None] = {}
    read = 0
    for line in raw.decode("utf-8").splitlines():
        read += 1
        if line:
            kept.setdefault(fold(line))
        if len(kept) == SIZE:
            break
    body = "".join(f"{entry}\n" for entry in kept).encode("utf-8")
    output.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    return read, len(kept), hashlib.sha256(raw).hexdigest()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    lines, entries, digest = build(Path(sys.argv[1]))
    print(f"read {lines} lines, kept {entries} entries; source sha256 {digest}")
