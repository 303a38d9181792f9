"""What an online password-guessing attack gets from Flask-Bastion's accounts and from the
seed stack's sign-in page: a bounded simulation, in process, on a simulated clock.

The attacker knows the addresses of ``--accounts`` accounts (200) and tries the most
common passwords of Flask-Bastion's blocklist on them, in the list's order, one password
at a time over every account (password spraying: the 10 most common passwords per account
make ``--attempts``, 2,000). The attempts come round-robin from ``--addresses`` loopback
addresses (8: 127.0.0.2 to 127.0.0.9), one every ``--interval`` simulated seconds (1.8: the
2,000 attempts take one hour). One account in ten (20) has one of the 10 most common
passwords, the others a strong random one; the victims' passwords go down the list
(account 0 has the most common password, account 10 the second, ...)::

    python benchmarks/bruteforce.py
    seed: 2000 attempts, ... evaluated, ... refused, ... compromised of 20 reachable victims ...
    bastion: 2000 attempts, ... evaluated, ... refused, ... compromised of 20 reachable victims ...

For each stack: the attempts made; those evaluated (the password was checked and a right
one would have signed in); those refused (a 429, a 403 for an address the IP filter
banned, or an account or address that the throttle held back: its password could not
have signed in); the accounts compromised;
and the victims reachable (those whose password the attacker tries within the attempts).

* The seed stack is ``apps/seed_login_app.py``: Flask-Login, Werkzeug's password hash and
  ``@limiter.limit("5 per minute")`` per client address. Flask-Limiter reads the time
  through ``limits``, which calls ``time.time()``: for the run, this script replaces the
  ``time`` module those modules see with one whose ``time()`` is the simulated clock (a
  patch acceptable in a benchmark only), and checks first that the limit follows it.
* Flask-Bastion is ``Bastion(app, components=[Accounts(clock=clock)])`` with the default
  settings; the clock drives the sign-in throttle as well. The registration policy
  refuses every common password, so the victims are created directly in the database
  with ``accounts_state(app).passwords.hash(pw)``, as a migration of older accounts
  would; the script also asks ``POST /register`` for an account with each of the 10
  passwords and reports how many it accepted. Which refusal held an attempt back is read
  from the ``login_failed`` signal (the response is the same 401 for a wrong password
  and a locked account, by design).

Everything runs in this process: no server, no network. The attacker sends
``Sec-Fetch-Site: same-origin`` (a script sets any header it wants), sets ``REMOTE_ADDR``
in the WSGI environ and keeps no cookies. Each evaluated attempt costs one password hash
(Werkzeug's scrypt in the seed stack; argon2id in Flask-Bastion, which also verifies the
password of a refused attempt, so that the time taken does not tell a locked account):
the default run takes a few minutes. ``--quick`` attacks 40 accounts from 4 addresses
(400 attempts), in under a minute.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gzip
import importlib
import importlib.util
import itertools
import logging
import math
import secrets
import shutil
import sys
import tempfile
import time
import typing as t
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from flask import Flask
from werkzeug.security import generate_password_hash

from flask_bastion import Bastion, signals
from flask_bastion.accounts import Accounts, User, accounts_state
from flask_bastion.accounts import throttle as lockout
from flask_bastion.accounts.core import normalise_email
from flask_bastion.logs import security_log
from flask_bastion.mail import flush_mail
from flask_bastion.passwords.blocklist import DATA_FILE

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BASE = "https://localhost"
#: The simulated time of the first attempt (Unix time, November 2030).
START = 1_900_000_000.0
#: How many of the most common passwords the victims' passwords are drawn from.
TOP = 10
#: One account in this many is a victim, with a password from the top :data:`TOP`.
VICTIM_EVERY = 10
#: The modules that read ``time.time()`` when Flask-Limiter counts in memory.
LIMITS_TIME_MODULES = ("limits.storage.memory", "limits.strategies", "flask_limiter._extension")
#: Why Flask-Bastion's throttle held an attempt back, by its ``login_failed`` reason.
BASTION_REASONS = {
    lockout.REASON_STUFFING: "stuffing",
    lockout.REASON_IP_LIMIT: "address limit",
    lockout.REASON_LOCKED: "account locked",
    lockout.REASON_UNLOCK_REQUIRED: "unlock required",
    lockout.REASON_DELAYED: "account delay",
    lockout.REASON_PAIR_DELAYED: "pair delay",
}


@dataclass
class Clock:
    """The simulated time, moved by the attacker before each attempt."""

    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: when, from where, on which account, with which password."""

    at: float
    ip: str
    email: str
    password: str


@dataclass(frozen=True)
class Scenario:
    """The accounts, the victims' passwords and the attacker's plan."""

    #: Every account's address and password.
    passwords: dict[str, str]
    #: The victims: address -> their common password.
    victims: dict[str, str]
    plan: list[Attempt]

    @property
    def reachable(self) -> int:
        """Victims whose password the attacker tries on their account."""
        return len({(a.email, a.password) for a in self.plan} & set(self.victims.items()))


@dataclass
class Result:
    """What one stack let through."""

    stack: str
    attempts: int = 0
    evaluated: int = 0
    compromised: set[str] = field(default_factory=set)
    #: Refused attempts by reason.
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Alerts about the attack: Flask-Bastion's ``credential_stuffing`` signals.
    alerts: int | None = None
    seconds: float = 0.0

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())


def common_passwords(count: int) -> list[str]:
    """The ``count`` most common passwords of the shipped blocklist, most common first."""
    found: list[str] = []
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as lines:
        for line in lines:
            found.append(line.rstrip("\n"))
            if len(found) == count:
                break
    return found


def make_scenario(accounts: int, attempts: int, addresses: int, interval: float) -> Scenario:
    """Accounts ``user0000@example.com`` ...; every :data:`VICTIM_EVERY`-th one a victim
    whose password goes down the top :data:`TOP`; the attacker sprays the most common
    passwords over all accounts, password by password, round-robin over the addresses."""
    wordlist = common_passwords(max(TOP, math.ceil(attempts / accounts)))
    emails = [f"user{i:04d}@example.com" for i in range(accounts)]
    victims = {
        email: wordlist[(i // VICTIM_EVERY) % TOP]
        for i, email in enumerate(emails)
        if i % VICTIM_EVERY == 0
    }
    passwords = {email: victims.get(email) or secrets.token_urlsafe(18) for email in emails}
    ips = [f"127.0.0.{2 + i}" for i in range(addresses)]
    sprayed = itertools.islice(itertools.product(wordlist, emails), attempts)
    plan = [
        Attempt(START + n * interval, ips[n % addresses], email, password)
        for n, (password, email) in enumerate(sprayed)
    ]
    return Scenario(passwords, victims, plan)


def hash_all(hasher: Callable[[str], str], passwords: dict[str, str]) -> dict[str, str]:
    """``passwords`` hashed on a few threads (argon2-cffi releases the GIL while hashing)."""
    with ThreadPoolExecutor() as pool:
        return dict(zip(passwords, pool.map(hasher, passwords.values()), strict=True))


# -- the seed stack -----------------------------------------------------------------------


class _SimulatedTimeModule:
    """The ``time`` module as ``limits`` sees it during a run: ``time()`` is the clock."""

    def __init__(self, clock: Clock) -> None:
        self.time = clock

    def __getattr__(self, name: str) -> t.Any:
        return getattr(time, name)


@contextlib.contextmanager
def limits_on(clock: Clock) -> Iterator[None]:
    """Flask-Limiter and ``limits`` read ``clock`` instead of the system time."""
    with contextlib.ExitStack() as stack:
        for name in LIMITS_TIME_MODULES:
            module = importlib.import_module(name)
            stack.enter_context(mock.patch.object(module, "time", _SimulatedTimeModule(clock)))
        yield


def load_seed_app() -> t.Any:
    """The module ``apps/seed_login_app.py``."""
    path = HERE / "apps" / "seed_login_app.py"
    spec = importlib.util.spec_from_file_location("_bruteforce_seed_login_app", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bruteforce.py: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def check_limit_follows(module: t.Any) -> None:
    """Stop unless the seed app's limit counts in simulated time: five attempts pass, the
    sixth in the same minute gets a 429, and one a minute later passes again."""
    client = module.create_app({}).test_client(use_cookies=False)
    clock = Clock()
    statuses = []
    with limits_on(clock):
        for step in (0, 0, 0, 0, 0, 0, 61):
            clock.now += step
            response = client.post(
                BASE + "/login",
                data={"email": "nobody@example.com", "password": "x"},
                environ_overrides={"REMOTE_ADDR": "127.0.0.1"},
            )
            statuses.append(response.status_code)
    if statuses != [401] * 5 + [429, 401]:
        raise SystemExit(f"bruteforce.py: the seed limit does not follow the clock: {statuses}")


def run_seed(scenario: Scenario) -> Result:
    module = load_seed_app()
    check_limit_follows(module)
    app = module.create_app(hash_all(generate_password_hash, scenario.passwords))
    client = app.test_client(use_cookies=False)
    result = Result("seed")
    clock = Clock()
    started = time.perf_counter()
    with limits_on(clock):
        for attempt in scenario.plan:
            clock.now = attempt.at
            response = client.post(
                BASE + "/login",
                data={"email": attempt.email, "password": attempt.password},
                environ_overrides={"REMOTE_ADDR": attempt.ip},
            )
            result.attempts += 1
            if response.status_code == 429:
                result.refusals["rate limit"] += 1
                continue
            if response.status_code not in (302, 401):
                raise SystemExit(f"bruteforce.py: the seed app answered {response.status}")
            result.evaluated += 1
            if response.status_code == 302:
                result.compromised.add(attempt.email)
    result.seconds = time.perf_counter() - started
    return result


# -- Flask-Bastion ------------------------------------------------------------------------


def make_bastion_app(folder: Path, clock: Clock) -> Flask:
    app = Flask(__name__, instance_path=str(folder))
    app.config.update(
        SECRET_KEY="9" * 64,
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_MAIL_URL="console",
        BASTION_MAIL_OUTBOX=str(folder / "outbox"),
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{folder}/accounts.db",
    )
    Bastion(app, components=[Accounts(clock=clock)])
    return app


def create_users(app: Flask, scenario: Scenario) -> None:
    """Every account, verified, straight into the database (a migration's way: the
    registration policy would refuse the victims' passwords)."""
    hashes = hash_all(accounts_state(app).passwords.hash, scenario.passwords)
    with app.app_context():
        db = accounts_state(app).db()
        db.add_all(
            User(
                email=email,
                email_key=normalise_email(email),
                password_hash=password_hash,
                email_verified_at=START,
                created_at=START,
                password_changed_at=START,
                active=True,
                must_change_password=False,
            )
            for email, password_hash in hashes.items()
        )
        db.commit()


def registrations_accepted(app: Flask, passwords: Sequence[str]) -> int:
    """How many of ``passwords`` ``POST /register`` accepts for a new account."""
    client = app.test_client(use_cookies=False)
    accepted = 0
    for n, password in enumerate(passwords):
        response = client.post(
            BASE + "/register",
            data={"email": f"newcomer{n}@example.com", "password": password},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        if response.status_code not in (200, 422):
            raise SystemExit(f"bruteforce.py: registration answered {response.status}")
        accepted += response.status_code == 200
    return accepted


def run_bastion(scenario: Scenario, folder: Path) -> tuple[Result, int]:
    """The attack on Flask-Bastion, and how many of the top passwords registration takes."""
    clock = Clock()
    app = make_bastion_app(folder, clock)
    create_users(app, scenario)
    accepted = registrations_accepted(app, common_passwords(TOP))
    reasons: list[str] = []
    result = Result("bastion", alerts=0)

    def failed(sender: Flask, *, reason: str, **extra: t.Any) -> None:
        reasons.append(reason)

    def alert(sender: Flask, **extra: t.Any) -> None:
        result.alerts = (result.alerts or 0) + 1

    signals.login_failed.connect(failed, app)
    signals.credential_stuffing.connect(alert, app)
    # Nothing configures logging here, so each security event would reach stderr through
    # logging's last resort; the alerts are counted from the signal instead.
    quiet = logging.NullHandler()
    security_log.addHandler(quiet)
    client = app.test_client(use_cookies=False)
    started = time.perf_counter()
    for attempt in scenario.plan:
        clock.now = attempt.at
        reasons.clear()
        response = client.post(
            BASE + "/login",
            data={"email": attempt.email, "password": attempt.password},
            environ_overrides={"REMOTE_ADDR": attempt.ip},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        result.attempts += 1
        if response.status_code == 303:
            result.evaluated += 1
            result.compromised.add(attempt.email)
        elif response.status_code in (401, 429) and reasons == ["password"]:
            result.evaluated += 1
        elif response.status_code in (401, 429) and len(reasons) == 1:
            result.refusals[BASTION_REASONS[reasons[0]]] += 1
        elif response.status_code == 403 and not reasons:
            # The IP filter banned the address for credential stuffing (docs/ipfilter.md).
            result.refusals["address banned"] += 1
        else:
            raise SystemExit(f"bruteforce.py: Flask-Bastion answered {response.status} {reasons}")
    result.seconds = time.perf_counter() - started
    signals.login_failed.disconnect(failed, app)
    signals.credential_stuffing.disconnect(alert, app)
    security_log.removeHandler(quiet)
    flush_mail(app, timeout=30)
    return result, accepted


# -- the report ---------------------------------------------------------------------------


def line(result: Result, scenario: Scenario) -> str:
    refusals = ", ".join(f"{name} {count}" for name, count in result.refusals.most_common())
    return (
        f"{result.stack}: {result.attempts} attempts, {result.evaluated} evaluated, "
        f"{result.refused} refused, {len(result.compromised)} compromised of "
        f"{scenario.reachable} reachable victims (refused: {refusals or 'none'}; "
        f"{result.seconds:.0f} s)"
    )


def table(results: Sequence[Result], scenario: Scenario) -> str:
    rows = [
        f"{'stack':8} {'attempts':>9} {'evaluated':>10} {'refused':>8} {'compromised':>12} "
        f"{'victims reachable':>18} {'alerts':>7}"
    ]
    for r in results:
        alerts = "-" if r.alerts is None else str(r.alerts)
        rows.append(
            f"{r.stack:8} {r.attempts:9} {r.evaluated:10} {r.refused:8} "
            f"{len(r.compromised):12} {scenario.reachable:18} {alerts:>7}"
        )
    return "\n".join(rows)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=positive, default=2000, help="sign-in attempts")
    parser.add_argument("--accounts", type=positive, default=200, help="accounts attacked")
    parser.add_argument(
        "--addresses", type=positive, default=8, help="attacker's addresses (at most 254)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.8, help="simulated seconds between two attempts"
    )
    parser.add_argument(
        "--quick", action="store_true", help="400 attempts on 40 accounts from 4 addresses"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.attempts, args.accounts, args.addresses = 400, 40, 4
    if args.addresses > 254:
        parser.error("--addresses: at most 254 (127.0.0.2 to 127.0.0.255)")
    if args.interval <= 0:
        parser.error("--interval: must be positive")
    scenario = make_scenario(args.accounts, args.attempts, args.addresses, args.interval)
    print(
        f"brute force: {len(scenario.plan)} attempts spraying the most common passwords over "
        f"{args.accounts} accounts from {args.addresses} addresses, one every "
        f"{args.interval:g} s ({len(scenario.plan) * args.interval:.0f} s simulated); "
        f"{len(scenario.victims)} accounts have a top-{TOP} password"
    )
    WORK.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bruteforce-", dir=WORK))
    try:
        seed = run_seed(scenario)
        print(line(seed, scenario), flush=True)
        bastion, accepted = run_bastion(scenario, folder)
        print(line(bastion, scenario))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"registration: Flask-Bastion accepted {accepted} of the {TOP} most common passwords "
        "for a new account (the seed stack has no blocklist)"
    )
    print()
    print(table([seed, bastion], scenario))
    return 0


if __name__ == "__main__":
    sys.exit(main())
