"""How many worker processes will serve the application, as far as the deployment shows.

A store that lives in one process's memory (rate-limit counters, sessions, lockout
counters) is only correct with one worker: with several, each counts on its own. The
number of workers is decided by the server, not the application, so the checks look
where servers read it: ``WEB_CONCURRENCY`` (gunicorn and uvicorn), gunicorn's
``GUNICORN_CMD_ARGS`` and command line, uWSGI's ``UWSGI_PROCESSES`` / ``UWSGI_WORKERS``,
and a ``gunicorn.conf.py`` in the working directory.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from flask import Flask

_WORKERS_FLAG = re.compile(r"^(?:-w|--workers)(?:=?(\d+))?$")


def _from_args(args: Sequence[str]) -> int | None:
    """The worker count of gunicorn command-line arguments (``-w 4``, ``--workers=4``,
    ``-w4``)."""
    for index, arg in enumerate(args):
        match = _WORKERS_FLAG.match(arg) or re.match(r"^-w(\d+)$", arg)
        if match is None:
            continue
        value = match.group(1) or (args[index + 1] if index + 1 < len(args) else "")
        if value.isdigit():
            return int(value)
    return None


def _from_config_file(path: Path) -> int | None:
    """``workers = N`` in a gunicorn configuration file, when N is a literal number."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "workers" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):
            return int(node.value.value)
    return None


def worker_processes(
    environ: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> tuple[int, str] | None:
    """The largest worker count the deployment shows, and where it was seen (such as
    ``"WEB_CONCURRENCY=4"``); ``None`` when nothing says.

    :param environ: the environment (default: ``os.environ``).
    :param argv: the command line (default: ``sys.argv``).
    :param cwd: where to look for ``gunicorn.conf.py`` (default: the working directory).
    """
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    cwd = Path.cwd() if cwd is None else cwd
    found: list[tuple[int, str]] = []
    for name in ("WEB_CONCURRENCY", "UWSGI_PROCESSES", "UWSGI_WORKERS"):
        value = environ.get(name, "").strip()
        if value.isdigit():
            found.append((int(value), f"{name}={value}"))
    try:
        cmd_args = shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    except ValueError:
        cmd_args = []
    if (count := _from_args(cmd_args)) is not None:
        found.append((count, f"GUNICORN_CMD_ARGS workers={count}"))
    gunicorn = bool(argv) and Path(argv[0]).name.startswith("gunicorn")
    if gunicorn and (count := _from_args(argv[1:])) is not None:
        found.append((count, f"gunicorn --workers {count}"))
    config = cwd / "gunicorn.conf.py"
    if config.is_file() and (count := _from_config_file(config)) is not None:
        found.append((count, f"workers = {count} in {config.name}"))
    return max(found) if found else None


#: The worker-count settings an application may also carry in its own configuration.
_CONFIG_NAMES = ("WEB_CONCURRENCY", "UWSGI_PROCESSES", "UWSGI_WORKERS", "GUNICORN_CMD_ARGS")


def worker_count(app: Flask) -> int:
    """The number of worker processes serving ``app``, as :func:`worker_processes` reads
    it, with the same names also looked up in ``app.config`` (which wins over the
    environment); 1 when nothing says."""
    environ = dict(os.environ)
    environ.update({n: str(app.config[n]) for n in _CONFIG_NAMES if n in app.config})
    found = worker_processes(environ)
    return found[0] if found is not None else 1
