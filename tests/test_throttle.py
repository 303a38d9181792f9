"""Brute-force lockout: delays, locks, the hard limit, per-address and pair limits,
credential stuffing, race-safe counting and failing closed, on every store."""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_bastion import ConfigurationError, get_state, signals
from flask_bastion.accounts.counters import (
    Counter,
    CounterBackend,
    MemoryCounters,
    RedisCounters,
    SQLCounters,
)
from flask_bastion.accounts.throttle import (
    REASON_DELAYED,
    REASON_IP_LIMIT,
    REASON_LOCKED,
    REASON_PAIR_DELAYED,
    REASON_STUFFING,
    REASON_UNLOCK_REQUIRED,
    AccountStatus,
    LoginThrottle,
    Verdict,
    normalise_ip,
)
from flask_bastion.config import LockoutConfig
from flask_bastion.exceptions import LockoutStoreUnavailable
from flask_bastion.stores.sql import SQLDatabase

from .conftest import make_app

EMAIL = "alice@example.org"
IP = "203.0.113.7"
#: A start time on a window boundary, so per-address windows are predictable.
START = 3600.0 * 500_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def app() -> Iterator[Flask]:
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: t.Any) -> Iterator[CounterBackend]:
    """Each store in turn, on a table or key prefix of its own."""
    if request.param == "memory":
        yield MemoryCounters()
    elif request.param == "redis":
        import redis

        url, prefix = request.getfixturevalue("redis_prefix")
        client = redis.Redis.from_url(url)
        yield RedisCounters(client, prefix)
        client.close()
    else:
        url = f"sqlite:///{tmp_path}/c.db" if request.param == "sqlite" else None
        url = url or request.getfixturevalue("pg_url")
        store = SQLCounters(SQLDatabase(url), "test_login_counters")
        yield store
        store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(app: Flask, backend: CounterBackend, clock: Clock) -> Callable[..., LoginThrottle]:
    """A throttle on ``backend`` with the given ``BASTION_LOCKOUT_*`` settings."""

    def build(**settings: t.Any) -> LoginThrottle:
        return LoginThrottle(backend, LockoutConfig(**settings), secret=b"k" * 32, clock=clock)

    return build


def fail(throttle: LoginThrottle, email: str = EMAIL, ip: str = IP) -> Verdict:
    """One allowed attempt that fails."""
    assert throttle.check(email, ip).allowed
    return throttle.failed(email, ip)


def captured(signal: t.Any) -> Iterator[list[dict[str, t.Any]]]:
    sent: list[dict[str, t.Any]] = []

    def receive(sender: object, **kwargs: t.Any) -> None:
        sent.append(kwargs)

    with signal.connected_to(receive):
        yield sent


@pytest.fixture
def locked_signals() -> Iterator[list[dict[str, t.Any]]]:
    yield from captured(signals.account_locked)


@pytest.fixture
def unlocked_signals() -> Iterator[list[dict[str, t.Any]]]:
    yield from captured(signals.account_unlocked)


@pytest.fixture
def stuffing_signals() -> Iterator[list[dict[str, t.Any]]]:
    yield from captured(signals.credential_stuffing)


def lock(throttle: LoginThrottle, clock: Clock, email: str = EMAIL) -> None:
    """Ten failures from ten addresses, each after its delay: the default lock."""
    for n in range(10):
        clock.advance(60)
        fail(throttle, email, f"198.51.100.{n}")


# -- the account -------------------------------------------------------------------------


def test_free_attempts_pass(make: Callable[..., LoginThrottle]) -> None:
    """Four failures leave the fifth attempt allowed at once."""
    throttle = make()
    for n in range(4):
        fail(throttle, ip=f"198.51.100.{n}")
    assert throttle.check(EMAIL, "198.51.100.9").allowed


def test_delays_double_after_the_free_attempts(
    make: Callable[..., LoginThrottle], clock: Clock
) -> None:
    """After five failures each attempt waits 1, 2, 4, 8, 16 seconds."""
    throttle = make()
    waits = []
    for n in range(9):
        verdict = fail(throttle, ip=f"198.51.100.{n}")
        if n >= 4:
            waits.append(verdict.retry_after)
            assert verdict == throttle.check(EMAIL, "192.0.2.1")
            clock.advance(verdict.retry_after)
    assert waits == [1, 2, 4, 8, 16]


def test_delay_is_refused_with_account_scope(make: Callable[..., LoginThrottle]) -> None:
    """An attempt inside its delay is refused for the account, whatever the address."""
    throttle = make()
    for n in range(5):
        fail(throttle, ip=f"198.51.100.{n}")
    assert throttle.check(EMAIL, "192.0.2.1") == Verdict(False, REASON_DELAYED, 1, "account")


def test_delay_is_capped(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """The delay never exceeds BASTION_LOCKOUT_MAX_DELAY."""
    throttle = make(max_delay=3, threshold=20)
    for n in range(12):
        clock.advance(3)
        verdict = fail(throttle, ip=f"198.51.100.{n}")
    assert verdict.retry_after == 3


def test_threshold_locks_the_account(
    make: Callable[..., LoginThrottle], clock: Clock, locked_signals: list[dict[str, t.Any]]
) -> None:
    """The tenth failure locks the account for 900 s and sends account_locked once."""
    throttle = make()
    lock(throttle, clock)
    assert throttle.check(EMAIL, "192.0.2.1") == Verdict(False, REASON_LOCKED, 900, "account")
    assert locked_signals == [
        {"user": None, "key": locked_signals[0]["key"], "until": clock.now + 900}
    ]


def test_locked_signal_carries_no_identifier(
    make: Callable[..., LoginThrottle], clock: Clock, locked_signals: list[dict[str, t.Any]]
) -> None:
    """account_locked sends a keyed hash, never the email address."""
    lock(make(), clock)
    key = locked_signals[0]["key"]
    assert "alice" not in repr(locked_signals) and key.startswith("a:") and len(key) == 66


def test_status_reports_the_lock(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """status() gives the lock, its end and the consecutive failures."""
    throttle = make()
    lock(throttle, clock)
    assert throttle.status(EMAIL) == AccountStatus(True, clock.now + 900, 10, False)


def test_lock_lifts_by_time(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """After BASTION_LOCKOUT_DURATION the account may try again."""
    throttle = make()
    lock(throttle, clock)
    clock.advance(899)
    assert not throttle.check(EMAIL, "192.0.2.1").allowed
    clock.advance(1)
    assert throttle.check(EMAIL, "192.0.2.1").allowed


def test_failure_after_the_lock_locks_again(
    make: Callable[..., LoginThrottle], clock: Clock, locked_signals: list[dict[str, t.Any]]
) -> None:
    """Past the threshold, each failure after a lock lifts starts a new lock."""
    throttle = make()
    lock(throttle, clock)
    clock.advance(900)
    assert fail(throttle, ip="192.0.2.1").reason == REASON_LOCKED
    assert len(locked_signals) == 2


def test_refused_attempts_do_not_extend_the_lock(
    make: Callable[..., LoginThrottle], clock: Clock
) -> None:
    """Attempts refused during a lock count nowhere: it lifts on time."""
    throttle = make()
    lock(throttle, clock)
    for _ in range(299):
        clock.advance(3)
        assert not throttle.check(EMAIL, "192.0.2.1").allowed
    clock.advance(3)
    assert throttle.check(EMAIL, "192.0.2.1").allowed


def test_unlock_lifts_the_lock(
    make: Callable[..., LoginThrottle], clock: Clock, unlocked_signals: list[dict[str, t.Any]]
) -> None:
    """unlock() allows the next attempt at once and sends account_unlocked."""
    throttle = make()
    lock(throttle, clock)
    throttle.unlock(EMAIL, by="admin")
    assert throttle.check(EMAIL, "192.0.2.1").allowed
    assert [s["by"] for s in unlocked_signals] == ["admin"]


def test_unlock_of_an_unlocked_account_sends_nothing(
    make: Callable[..., LoginThrottle], unlocked_signals: list[dict[str, t.Any]]
) -> None:
    """account_unlocked is sent only when a lock was lifted."""
    throttle = make()
    fail(throttle)
    throttle.unlock(EMAIL)
    assert (unlocked_signals, throttle.status(EMAIL).failures) == ([], 0)


def test_success_resets_the_account(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """A success forgets the failures: five more are free again."""
    throttle = make()
    for n in range(4):
        fail(throttle, ip=f"198.51.100.{n}")
    assert throttle.check(EMAIL, IP).allowed
    throttle.succeeded(EMAIL, IP)
    for n in range(4):
        fail(throttle, ip=f"198.51.100.{n}")
    assert throttle.status(EMAIL) == AccountStatus(False, None, 4, False)
    assert throttle.check(EMAIL, IP).allowed


def test_failures_decay_after_the_window(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """A window without failures forgets the delays and the lock."""
    throttle = make()
    lock(throttle, clock)
    clock.advance(3600)
    for n in range(4):
        fail(throttle, ip=f"192.0.2.{n}")
    assert throttle.check(EMAIL, "192.0.2.9").allowed


def test_hard_limit_needs_an_unlock(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """After 100 consecutive failures only an unlock lets the account try again."""
    throttle = make()
    allowed = 0
    for n in range(150):
        clock.advance(900)
        if throttle.check(EMAIL, f"10.0.{n}.1").allowed:
            allowed += 1
            throttle.failed(EMAIL, f"10.0.{n}.1")
    clock.advance(29 * 86_400)
    verdict = throttle.check(EMAIL, "192.0.2.1")
    assert (allowed, verdict) == (100, Verdict(False, REASON_UNLOCK_REQUIRED, 900, "account"))
    assert throttle.status(EMAIL) == AccountStatus(True, None, 100, True)
    throttle.unlock(EMAIL)
    assert throttle.check(EMAIL, "192.0.2.1").allowed


def test_hard_limit_survives_the_decay(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """Waiting out the window between bursts does not reset the hard limit."""
    throttle = make(max_failures=12, threshold=10, free_attempts=10)
    for burst in range(3):
        clock.advance(3600)
        for n in range(4):
            fail(throttle, ip=f"10.{burst}.{n}.1")
    assert throttle.check(EMAIL, "192.0.2.1").reason == REASON_UNLOCK_REQUIRED


def test_identifier_spelling_shares_the_counters(make: Callable[..., LoginThrottle]) -> None:
    """Case and surrounding spaces do not give an attacker fresh counters."""
    throttle = make()
    for n, spelling in enumerate(["Alice@Example.org", " ALICE@example.org", EMAIL] * 2):
        if n < 5:
            fail(throttle, spelling, f"198.51.100.{n}")
    assert throttle.status("alice@EXAMPLE.ORG ").failures == 5


def test_known_and_unknown_identifiers_behave_alike(
    make: Callable[..., LoginThrottle], clock: Clock
) -> None:
    """The throttle knows no users: every identifier gets the same verdicts."""
    throttle = make()

    def run(email: str) -> list[Verdict]:
        start = clock.now
        verdicts = []
        for n in range(12):
            verdicts.append(throttle.check(email, f"198.51.100.{n}"))
            if verdicts[-1].allowed:
                verdicts.append(throttle.failed(email, f"198.51.100.{n}"))
            clock.advance(8)
        clock.now = start
        return verdicts

    assert run("registered@example.org") == run("nobody-by-this-name@example.org")


# -- the pair and the address ------------------------------------------------------------


def test_pair_is_delayed_before_the_account(make: Callable[..., LoginThrottle]) -> None:
    """One address failing on one account waits; another address does not."""
    throttle = make(pair_free_attempts=2)
    fail(throttle)
    fail(throttle)
    assert throttle.check(EMAIL, IP) == Verdict(False, REASON_PAIR_DELAYED, 1, "pair")
    assert throttle.check(EMAIL, "192.0.2.1").allowed


def test_pair_survives_an_unlock(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """The unlock link frees the account, not the address that caused the lock."""
    throttle = make()
    for _ in range(10):
        clock.advance(60)
        fail(throttle)
    throttle.unlock(EMAIL)
    assert throttle.check(EMAIL, IP).scope == "pair"
    assert throttle.check(EMAIL, "192.0.2.1").allowed


def test_success_resets_the_pair(make: Callable[..., LoginThrottle]) -> None:
    """A success from an address forgets that pair's failures."""
    throttle = make(pair_free_attempts=2)
    fail(throttle)
    fail(throttle, "bob@example.org")
    assert throttle.check(EMAIL, IP).allowed
    throttle.succeeded(EMAIL, IP)
    fail(throttle)
    assert throttle.check(EMAIL, IP).allowed


def test_address_limit(make: Callable[..., LoginThrottle], clock: Clock) -> None:
    """BASTION_LOCKOUT_IP_LIMIT failures in a window refuse the address until it ends."""
    throttle = make(ip_limit=3)
    for n in range(3):
        fail(throttle, f"user{n}@example.org")
    clock.advance(600)
    assert throttle.check("other@example.org", IP) == Verdict(False, REASON_IP_LIMIT, 3000, "ip")
    assert throttle.check("other@example.org", "192.0.2.1").allowed
    clock.advance(3000)
    assert throttle.check("other@example.org", IP).allowed


def test_ipv6_counts_per_64(make: Callable[..., LoginThrottle]) -> None:
    """Addresses of one IPv6 /64 share the address limit."""
    throttle = make(ip_limit=2)
    fail(throttle, "a@example.org", "2001:db8:1:2::1")
    fail(throttle, "b@example.org", "2001:db8:1:2:ffff::9")
    assert throttle.check("c@example.org", "2001:db8:1:2::77").reason == REASON_IP_LIMIT
    assert throttle.check("c@example.org", "2001:db8:1:3::1").allowed


@pytest.mark.parametrize(
    ("given", "counted"),
    [
        pytest.param("203.0.113.7", "203.0.113.7", id="ipv4"),
        pytest.param("::ffff:203.0.113.7", "203.0.113.7", id="ipv4-mapped"),
        pytest.param("2001:DB8::1", "2001:db8::/64", id="ipv6"),
        pytest.param("Unknown", "unknown", id="not-an-address"),
    ],
)
def test_address_normalisation(given: str, counted: str) -> None:
    """Addresses are counted in one canonical spelling."""
    assert normalise_ip(given) == counted


def test_stuffing_is_refused_and_signalled_once(
    make: Callable[..., LoginThrottle],
    clock: Clock,
    stuffing_signals: list[dict[str, t.Any]],
) -> None:
    """Failures on 3 distinct accounts refuse the address and signal it once per window."""
    throttle = make(stuffing_accounts=3)
    for n in range(3):
        clock.advance(10)
        fail(throttle, f"user{n}@example.org")
    throttle.failed("user9@example.org", IP)  # one already in flight
    assert stuffing_signals == [{"ip": IP, "accounts": 3, "window": 600}]
    assert throttle.check("user5@example.org", IP) == Verdict(False, REASON_STUFFING, 600, "ip")


def test_stuffing_signals_again_in_a_new_window(
    make: Callable[..., LoginThrottle],
    clock: Clock,
    stuffing_signals: list[dict[str, t.Any]],
) -> None:
    """Once its window has passed, stuffing from the same address is signalled again."""
    throttle = make(stuffing_accounts=3)
    for window in range(2):
        for n in range(3):
            fail(throttle, f"user{window}{n}@example.org")
        clock.advance(600)
    assert [s["accounts"] for s in stuffing_signals] == [3, 3]


def test_same_account_repeated_is_not_stuffing(
    make: Callable[..., LoginThrottle],
    clock: Clock,
    stuffing_signals: list[dict[str, t.Any]],
) -> None:
    """Distinct accounts are counted, not failures."""
    throttle = make(stuffing_accounts=3)
    for _ in range(8):
        clock.advance(60)
        fail(throttle)
    assert stuffing_signals == []


# -- race safety, failing closed, what is stored -----------------------------------------


def _in_threads(app: Flask, count: int, work: Callable[[], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                work()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_failures_are_all_counted(
    app: Flask, make: Callable[..., LoginThrottle]
) -> None:
    """20 failures at once on one account count 20, on the account and on the address."""
    throttle = make(free_attempts=30, threshold=30, pair_free_attempts=30, ip_limit=20)
    _in_threads(app, 20, lambda: fail(throttle))
    assert throttle.status(EMAIL).failures == 20
    assert throttle.check("bob@example.org", IP).reason == REASON_IP_LIMIT


def test_concurrent_attempts_never_pass_the_hard_limit(
    app: Flask, make: Callable[..., LoginThrottle]
) -> None:
    """20 attempts at once on an account with 3 left: exactly 3 are allowed."""
    throttle = make(max_failures=8, threshold=8, free_attempts=8)
    for n in range(5):
        fail(throttle, ip=f"10.0.0.{n}")
    allowed: list[bool] = []
    _in_threads(app, 20, lambda: allowed.append(throttle.check(EMAIL, "192.0.2.1").allowed))
    assert allowed.count(True) == 3


def test_store_holds_no_email_or_address(
    make: Callable[..., LoginThrottle], backend: CounterBackend, clock: Clock
) -> None:
    """Keys and members are keyed hashes: no email address or IP address in clear."""
    throttle = make(stuffing_accounts=2)
    lock(throttle, clock)
    fail(throttle, "bob@example.org")
    stored = _everything(backend)
    assert stored and not any(
        word in text for text in stored for word in ("alice", "bob", "example", "203.0", "198.51")
    )


def _everything(backend: CounterBackend) -> list[str]:
    """Every key, member and value the store holds."""
    if isinstance(backend, MemoryCounters):
        return [*map(str, backend._records.items()), *map(str, backend._sets.items())]
    if isinstance(backend, SQLCounters):
        tables = (backend.table, backend.seen_table)
        return [str(row) for table in tables for row in backend.database.run(sa.select(table))]
    assert isinstance(backend, RedisCounters)
    client = backend.client
    found = []
    for key in client.scan_iter(match=backend.prefix + "*"):
        found.append(key.decode())
        if client.type(key) == b"zset":
            found += [m.decode() for m in client.zrange(key, 0, -1)]
        else:
            found += [v.decode() for v in client.hgetall(key).values()]
    return found


def test_hard_lock_is_kept_by_the_store(
    make: Callable[..., LoginThrottle], backend: CounterBackend, clock: Clock
) -> None:
    """A hard-locked account's record never expires (no TTL in Redis)."""
    throttle = make(max_failures=2, threshold=2, free_attempts=2)
    fail(throttle)
    fail(throttle)
    clock.advance(10 * 365 * 86_400)
    backend.purge(clock.now)
    assert throttle.status(EMAIL).unlock_required
    if isinstance(backend, RedisCounters):
        keys = list(backend.client.scan_iter(match=backend.prefix + "a:*"))
        assert [backend.client.ttl(key) for key in keys] == [-1]


def test_purge_deletes_expired_records(
    make: Callable[..., LoginThrottle], backend: CounterBackend, clock: Clock
) -> None:
    """Expired counters are deleted from the store by the periodic purge."""
    throttle = make()
    fail(throttle)
    clock.advance(31 * 86_400)
    fail(throttle, "bob@example.org", "192.0.2.1")
    if not isinstance(backend, RedisCounters):  # Redis expires keys on its own clock
        assert not any(
            "a:" + throttle._digest(b"account", EMAIL) in s for s in _everything(backend)
        )


def test_swap_refuses_a_stale_record(backend: CounterBackend) -> None:
    """swap() writes only over the record it was given."""
    first = Counter(1, 1, START, START + 60)
    assert backend.swap("a:x", None, first, START)
    assert not backend.swap("a:x", None, first, START)
    assert not backend.swap("a:x", Counter(2, 2, START, START + 60), first, START)
    assert backend.swap("a:x", first, Counter(2, 2, START + 1, START + 60), START + 1)
    assert backend.swap("a:x", None, first, START + 60)  # expired: written over


def test_delete_of_nothing_is_harmless(backend: CounterBackend) -> None:
    """Deleting keys that do not exist changes nothing."""
    backend.delete(["a:missing"])
    assert backend.get(["a:missing"], START) == [None]


def test_busy_account_is_refused(app: Flask, clock: Clock) -> None:
    """When other requests win every race for an account, the attempt waits a second."""

    class Contended(MemoryCounters):
        def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
            return False

    throttle = LoginThrottle(Contended(), LockoutConfig(), clock=clock)
    assert throttle.check(EMAIL, IP) == Verdict(False, REASON_DELAYED, 1, "account")


def test_keys_without_a_secret_are_plain_hashes(app: Flask, clock: Clock) -> None:
    """Without SECRET_KEY the keys are SHA-256, still without the email in clear."""
    backend = MemoryCounters()
    fail(LoginThrottle(backend, LockoutConfig(), clock=clock))
    keyed = MemoryCounters()
    fail(LoginThrottle(keyed, LockoutConfig(), secret=b"k" * 32, clock=clock))
    assert set(backend._records).isdisjoint(keyed._records)
    assert not any("alice" in key for key in backend._records)


def test_disabled_throttle_allows_everything(app: Flask, clock: Clock) -> None:
    """BASTION_LOCKOUT_ENABLED=False: every attempt allowed, nothing stored."""
    backend = MemoryCounters()
    throttle = LoginThrottle(backend, LockoutConfig(enabled=False), clock=clock)
    for _ in range(200):
        assert throttle.check(EMAIL, IP).allowed and throttle.failed(EMAIL, IP).allowed
    throttle.succeeded(EMAIL, IP)
    throttle.unlock(EMAIL)
    assert throttle.status(EMAIL) == AccountStatus(False, None, 0, False)
    assert backend._records == {}


UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-directory/bastion/c.db",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/test",
    "redis": "redis://127.0.0.1:1/0",
}


@pytest.mark.parametrize("kind", list(UNREACHABLE))
@pytest.mark.parametrize("method", ["check", "failed", "succeeded", "unlock", "status"])
def test_unreachable_store_fails_closed(kind: str, method: str) -> None:
    """Every method answers a store that cannot be reached with a 503 and a signal."""
    store = "redis" if kind == "redis" else "sql"
    app = make_app(BASTION_LOCKOUT_STORE=store, BASTION_LOCKOUT_URL=UNREACHABLE[kind])
    throttle = get_state(app).component("lockout").throttle
    args = (EMAIL, IP) if method in ("check", "failed", "succeeded") else (EMAIL,)
    with (
        app.app_context(),
        captured_once(signals.store_unavailable) as sent,
        pytest.raises(LockoutStoreUnavailable) as info,
    ):
        getattr(throttle, method)(*args)
    assert (info.value.code, info.value.retry_after, len(sent)) == (503, 5, 1)


class captured_once:
    """Collect a signal's keywords while the block runs."""

    def __init__(self, signal: t.Any) -> None:
        self.signal = signal
        self.sent: list[dict[str, t.Any]] = []

    def _receive(self, sender: object, **kwargs: t.Any) -> None:
        self.sent.append(kwargs)

    def __enter__(self) -> list[dict[str, t.Any]]:
        self.signal.connect(self._receive)
        return self.sent

    def __exit__(self, *exc: object) -> None:
        self.signal.disconnect(self._receive)


def test_sign_in_view_answers_503_when_the_store_is_down() -> None:
    """A view calling check() with the store down answers a clean 503 with Retry-After."""
    app = make_app(BASTION_LOCKOUT_STORE="redis", BASTION_LOCKOUT_URL=UNREACHABLE["redis"])

    @app.post("/login")
    def login() -> str:
        get_state(app).component("lockout").throttle.check(EMAIL, IP)
        return "checked"

    response = app.test_client().post(
        "/login", base_url="https://localhost", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
    assert b"checked" not in response.data


# -- the component and the configuration -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        pytest.param({}, MemoryCounters, id="auto-memory-sessions"),
        pytest.param(
            {"DATABASE_URL": "sqlite://", "BASTION_SESSIONS_STORE": "sql"},
            SQLCounters,
            id="auto-sql",
        ),
        pytest.param(
            {"BASTION_LOCKOUT_STORE": "sql", "DATABASE_URL": "sqlite://"}, SQLCounters, id="sql"
        ),
        pytest.param({"BASTION_LOCKOUT_STORE": "memory"}, MemoryCounters, id="memory"),
        pytest.param(
            {"BASTION_LOCKOUT_STORE": "redis", "REDIS_URL": "redis://127.0.0.1:1/0"},
            RedisCounters,
            id="redis",
        ),
        pytest.param(
            {"BASTION_LOCKOUT_ENABLED": False, "BASTION_LOCKOUT_STORE": "redis"},
            MemoryCounters,
            id="disabled-needs-no-store",
        ),
    ],
)
def test_store_selection(config: dict[str, t.Any], kind: type[t.Any]) -> None:
    """BASTION_LOCKOUT_STORE picks the store; 'auto' follows the sessions."""
    app = make_app(**config)
    assert isinstance(get_state(app).component("lockout").throttle.backend, kind)


def test_auto_follows_the_redis_sessions(redis_prefix: tuple[str, str]) -> None:
    """With redis sessions, 'auto' counts in the same Redis, under its own prefix."""
    url, prefix = redis_prefix
    app = make_app(
        BASTION_SESSIONS_STORE="redis",
        BASTION_SESSIONS_URL=url,
        BASTION_LOCKOUT_KEY_PREFIX=prefix + "lockout:",
    )
    backend = get_state(app).component("lockout").throttle.backend
    assert isinstance(backend, RedisCounters) and backend.prefix == prefix + "lockout:"


def test_two_apps_have_their_own_throttles() -> None:
    """Each application gets its own throttle and counters."""
    first, second = make_app(), make_app()
    throttles = [get_state(a).component("lockout").throttle for a in (first, second)]
    assert throttles[0] is not throttles[1]
    assert throttles[0].backend is not throttles[1].backend


def test_redis_store_needs_a_url() -> None:
    """The redis store without any URL is a configuration error naming the key."""
    with pytest.raises(ConfigurationError, match="BASTION_LOCKOUT_URL"):
        make_app(BASTION_LOCKOUT_STORE="redis")


def test_sql_store_needs_sqlite_or_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another database is refused: its upsert differs."""
    database = SQLDatabase("sqlite://")
    monkeypatch.setattr(database.engine.dialect, "name", "mysql")
    with pytest.raises(ConfigurationError, match="SQLite or PostgreSQL"):
        SQLCounters(database)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        pytest.param({"free_attempts": 11}, "BASTION_LOCKOUT_FREE_ATTEMPTS", id="free-over-lock"),
        pytest.param({"max_failures": 9}, "BASTION_LOCKOUT_THRESHOLD", id="lock-over-hard"),
        pytest.param({"window": 899}, "BASTION_LOCKOUT_WINDOW", id="window-under-duration"),
        pytest.param({"max_failures": 101}, "BASTION_LOCKOUT_MAX_FAILURES", id="hard-over-100"),
    ],
)
def test_inconsistent_settings_are_refused(config: dict[str, t.Any], key: str) -> None:
    """Settings whose steps could not all be reached are a configuration error."""
    with pytest.raises(ConfigurationError, match=key):
        make_app(**{f"BASTION_LOCKOUT_{k.upper()}": v for k, v in config.items()})
