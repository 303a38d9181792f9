"""Latency of Vault's answers to SQL-injection payloads next to benign input.

``examples/vault/tests/test_sqli_vault.py`` treats a request that takes as long as a
time-based payload's sleep as an executed injection. This script shows the distributions
that threshold sits above: for each input, benign values and the payloads of
``tests/corpora/sql.txt`` are sent alternately, in process through WSGI, and the
percentiles are printed side by side::

    python benchmarks/sqli_latency.py --rounds 3
    search     benign p50  2.31 ms p95  2.90 ms max  4.02 ms | payloads p50 ...

"time-based" is the slowest answer to a payload that would sleep ``--sleep`` seconds had it
run. Pass ``--database-url`` (a PostgreSQL URL) to measure on PostgreSQL; the default is a
SQLite file under ``benchmarks/.work``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from flask_bastion.accounts.tokens import create_api_token
from flask_bastion.crypto import new_key
from flask_bastion.logs import security_log
from vault import create_app
from vault.db import get_db, init_db
from vault.models import User

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
BASE = "https://localhost"
EMAIL = "bench@example.com"
PASSWORD = "a long and memorable team passphrase"
BENIGN = ("plan", "team notes", "hello world", "2026 budget", "bob@example.com")


def _payloads(sleep: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("corpora", ROOT / "tests/corpora/__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [p.text.replace("SLEEP", str(sleep)) for p in module.load("sql.txt")]


def make_vault(folder: Path, database_url: str | None) -> Flask:
    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "BASTION_CRYPTO_KEYS": [new_key()],
            "DATABASE_URL": database_url or f"sqlite:///{folder / 'vault.sqlite3'}",
            "TRUSTED_HOSTS": ["localhost"],
            "BASTION_SESSIONS_STORE": "memory",
            "BASTION_MAIL_OUTBOX": str(folder / "outbox"),
        }
    )
    with app.app_context():
        init_db()
    runner = app.test_cli_runner()
    runner.invoke(args=["bastion", "users", "create", EMAIL, "--password-stdin"], input=PASSWORD)
    return app


class Case(t.NamedTuple):
    name: str
    send: t.Callable[[str], int]


def cases(app: Flask) -> list[Case]:
    """The inputs measured: a search, the API's search, a note ID in a path, a share
    target and a sign-in address."""
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    client.post(f"{BASE}/login", data={"email": EMAIL, "password": PASSWORD})
    made = client.post(f"{BASE}/notes/new", data={"title": "Plan", "body": "the plan"})
    note = made.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        user = get_db().scalars(select(User).where(User.email == EMAIL)).one()
        token, _ = create_api_token(user, "bench", ("notes:read", "notes:write"), 1)
    bearer = {"Authorization": f"Bearer {token}"}
    anonymous = app.test_client()
    anonymous.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    counter = iter(range(1, 1 << 30))

    def login(value: str) -> int:
        # From a new address each time, so the throttle does not answer in its place.
        n = next(counter)
        address = {"REMOTE_ADDR": f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
        return anonymous.post(
            f"{BASE}/login", data={"email": value, "password": "x"}, environ_overrides=address
        ).status_code

    return [
        Case("search", lambda v: client.get(f"{BASE}/notes", query_string={"q": v}).status_code),
        Case(
            "api-search",
            lambda v: (
                client.get(
                    f"{BASE}/api/v1/notes", query_string={"q": v}, headers=bearer
                ).status_code
            ),
        ),
        Case("note-id", lambda v: client.get(f"{BASE}/notes/{v}").status_code),
        Case(
            "share",
            lambda v: (
                client.post(
                    f"{BASE}/notes/{note}/share", data={"email": v, "access": "read"}
                ).status_code
            ),
        ),
        Case("login", login),
    ]


def timed(case: Case, value: str, statuses: set[int]) -> float:
    started = time.perf_counter()
    statuses.add(case.send(value))
    return (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.2f} ms p95 {p95:6.2f} ms max {ordered[-1]:6.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the corpus")
    parser.add_argument("--sleep", type=int, default=6, help="seconds a time-based payload asks")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args(argv)
    # Nothing configures logging here: each failed sign-in's security line would reach
    # stderr through logging's last resort.
    security_log.addHandler(logging.NullHandler())
    payloads = _payloads(args.sleep)
    timers = [p for p in payloads if f"({args.sleep})" in p or f"{args.sleep}000" in p]
    WORK.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=WORK))
    try:
        app = make_vault(folder, args.database_url)
        print(f"{len(payloads)} payloads ({len(timers)} time-based), {args.rounds} rounds")
        for case in cases(app):
            benign: list[float] = []
            hostile: list[float] = []
            slowest_timer = 0.0
            statuses: set[int] = set()
            for _ in range(args.rounds):
                for i, payload in enumerate(payloads):
                    benign.append(timed(case, BENIGN[i % len(BENIGN)], statuses))
                    hostile.append(timed(case, payload, statuses))
                    if payload in timers:
                        slowest_timer = max(slowest_timer, hostile[-1])
            print(
                f"{case.name:<10} benign {summary(benign)} | payloads {summary(hostile)} | "
                f"time-based max {slowest_timer:.2f} ms of {args.sleep * 1000} | "
                f"statuses {sorted(statuses)}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
