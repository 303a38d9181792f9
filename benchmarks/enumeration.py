"""How much the response time of the accounts views tells about whether an account exists.

Sign-in, registration and the forgotten-password form answer alike for existing and
unknown addresses (same status, same page); this measures what is left, the time. Each
pair of cases (existing / unknown) is requested alternately, in-process through WSGI, and
the medians are compared::

    python benchmarks/enumeration.py --rounds 200
    login     existing   20.37 ms  unknown   20.33 ms  difference +0.05 ms (+0.2%)  statuses [401]
    ...

"existing" is the address of an account (a wrong password for sign-in), "unknown" a new
address for every request; ``statuses`` are the status codes seen, which must be the same.

Mail goes to the console backend (an outbox folder under ``benchmarks/.work``), sent by the
background worker, as in production where the page must not wait for the mail server.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from flask import Flask

from flask_bastion import Bastion
from flask_bastion.accounts import Accounts
from flask_bastion.logs import security_log
from flask_bastion.mail import flush_mail

WORK = Path(__file__).resolve().parent / ".work"
BASE = "https://localhost"
PASSWORD = "correct horse battery staple 42"
WRONG = "violet tugboat orchestra midnight"
HEADERS = {"Sec-Fetch-Site": "same-origin"}


def make_app(folder: Path) -> Flask:
    app = Flask(__name__, instance_path=str(folder))
    app.config.update(
        SECRET_KEY="0" * 64,
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_MAIL_URL="console",
        BASTION_MAIL_OUTBOX=str(folder / "outbox"),
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{folder}/accounts.db",
        BASTION_ACCOUNTS_REQUIRE_VERIFIED_EMAIL=False,
        # The counters would lock the measured account; the defence is measured by
        # benchmarks/bruteforce.py, the timing here.
        BASTION_LOCKOUT_ENABLED=False,
    )
    Bastion(app, components=[Accounts()])
    return app


def timed(app: Flask, path: str, data: dict[str, str]) -> tuple[float, int]:
    client = app.test_client()
    start = time.perf_counter()
    response = client.post(BASE + path, data=data, headers=HEADERS)
    elapsed = time.perf_counter() - start
    return elapsed * 1000, response.status_code


def compare(
    app: Flask,
    rounds: int,
    path: str,
    existing: dict[str, str],
    unknown: t.Iterator[dict[str, str]],
) -> tuple[float, float, set[int]]:
    """Median times (ms) of ``existing`` and of fresh ``unknown`` requests, alternated."""
    known_times: list[float] = []
    unknown_times: list[float] = []
    statuses: set[int] = set()
    for i in range(rounds):
        order = [(existing, known_times), (next(unknown), unknown_times)]
        if i % 2:
            order.reverse()
        for data, into in order:
            ms, status = timed(app, path, data)
            into.append(ms)
            statuses.add(status)
    flush_mail(app, timeout=30)
    return statistics.median(known_times), statistics.median(unknown_times), statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="pairs of requests per case")
    args = parser.parse_args(argv)
    # Nothing configures logging here: each failed sign-in's security line would reach
    # stderr through logging's last resort.
    security_log.addHandler(logging.NullHandler())
    WORK.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="enumeration-", dir=WORK))
    try:
        app = make_app(folder)
        client = app.test_client()
        client.post(
            f"{BASE}/register",
            data={"email": "ann@example.com", "password": PASSWORD},
            headers=HEADERS,
        )
        counter = itertools.count()

        def fresh(prefix: str, **fields: str) -> t.Iterator[dict[str, str]]:
            while True:
                yield {"email": f"{prefix}{next(counter)}@example.com", **fields}

        cases = [
            ("login", "/login", {"email": "ann@example.com", "password": WRONG},
             fresh("nobody", password=WRONG)),
            ("register", "/register", {"email": "ann@example.com", "password": PASSWORD},
             fresh("new", password=PASSWORD)),
            ("forgot", "/forgot", {"email": "ann@example.com"}, fresh("nobody")),
        ]  # fmt: skip
        for name, path, existing, unknown in cases:
            known_ms, unknown_ms, statuses = compare(app, args.rounds, path, existing, unknown)
            difference = known_ms - unknown_ms
            print(
                f"{name:9} existing {known_ms:7.2f} ms  unknown {unknown_ms:7.2f} ms  "
                f"difference {difference:+.2f} ms ({difference / unknown_ms:+.1%})  "
                f"statuses {sorted(statuses)}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
