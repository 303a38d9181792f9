"""Bans in Redis: shared between processes, pushed to each process's copy by Redis
(pub/sub), no Redis command at all for a request when nothing changed, and the two
failure modes with a private redis-server stopped mid-test; plus the CLI."""

from __future__ import annotations

import logging
import subprocess
import typing as t

import pytest
import redis
from flask import Flask

from flask_bastion import signals
from flask_bastion.ipfilter import RedisBanStore, ban, bans, ipfilter_of, unban
from flask_bastion.ipfilter.cli import parse_duration

from .conftest import HTTPS, make_app
from .test_ipfilter_bans import Clock, clocked, get, recorded
from .test_sessions_faults import _stop, private_redis  # noqa: F401  (a fixture)


def redis_app(url: str, prefix: str = "bastion:ipfilter:", **config: t.Any) -> Flask:
    return make_app(BASTION_IPFILTER_BANS_URL=url, BASTION_IPFILTER_KEY_PREFIX=prefix, **config)


def store_of(app: Flask) -> RedisBanStore:
    return t.cast(RedisBanStore, ipfilter_of(app).bans.store)


def wait_for_notice(app: Flask) -> None:
    """Block (bounded) until Redis's change notice has reached ``app``'s listening
    connection: Redis writes it in the same event-loop turn as the reply to the writer,
    but the kernel may hand the writer its reply first."""
    listener = store_of(app).tracker._listener
    assert listener is not None
    assert listener.can_read(timeout=10)


def commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command on the server so far, without INFO itself."""
    stats = t.cast("dict[str, dict[str, int]]", client.info("commandstats"))
    return {name: s["calls"] for name, s in stats.items() if name != "cmdstat_info"}


@pytest.fixture
def shared(redis_prefix: tuple[str, str]) -> tuple[str, str]:
    return redis_prefix


def test_ban_by_one_process_reaches_another_at_once(shared: tuple[str, str]) -> None:
    """Two apps on one Redis: a ban or unban through one is seen by the other at its next
    request, through Redis's notice, not by waiting for the refresh interval."""
    first, second = redis_app(*shared), redis_app(*shared)
    clock = clocked(first)
    ipfilter_of(second).bans.clock = clock
    assert get(second, "198.51.100.7") == 200  # second's copy is loaded, and listening
    with first.app_context():
        ban("198.51.100.7", 600, "shared")
    wait_for_notice(second)
    assert get(second, "198.51.100.7") == 403
    assert get(first, "198.51.100.7") == 403  # first's copy, listening too
    with second.app_context():
        assert [str(b.network) for b in bans()] == ["198.51.100.7/32"]
        assert unban("198.51.100.7")
    wait_for_notice(first)
    assert get(first, "198.51.100.7") == 200


def test_expiry_uses_the_injected_clock_with_redis(shared: tuple[str, str]) -> None:
    """A Redis ban ends when the app's clock passes it, with no Redis TTL involved."""
    app = redis_app(*shared)
    clock = clocked(app)
    with app.app_context():
        ban("2001:db8::/64", 60, "x")
    assert get(app, "2001:db8::99") == 403
    clock.now += 60
    assert get(app, "2001:db8::99") == 200


def test_ended_bans_are_dropped_from_redis_by_the_next_ban(shared: tuple[str, str]) -> None:
    """Ended bans leave the hash and the end-time set when a later ban is stored."""
    app = redis_app(*shared)
    clock = clocked(app)
    with app.app_context():
        ban("198.51.100.7", 10, "short")
        ban("198.51.100.8", 600, "long")
        clock.now += 10
        ban("198.51.100.9", 600, "later")
    store = store_of(app)
    assert sorted(store.client.hkeys(store.key)) == [b"198.51.100.8/32", b"198.51.100.9/32"]
    assert sorted(store.client.zrange(store.ends, 0, -1)) == [
        b"198.51.100.8/32",
        b"198.51.100.9/32",
    ]


def test_emptied_redis_is_read_whole_again(shared: tuple[str, str]) -> None:
    """When Redis loses the bans (emptied, restarted without persistence), the change
    counter goes backwards and each process reads everything again: no ghost bans."""
    url, prefix = shared
    app = redis_app(url, prefix)
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    assert get(app, "198.51.100.7") == 403
    store = store_of(app)
    store.client.delete(store.key, store.ends, store.changes_key, store.seq_key)
    wait_for_notice(app)
    assert get(app, "198.51.100.7") == 200


def test_requests_send_no_redis_command_without_a_change(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """On a Redis server of the test's own, counted by INFO commandstats: once the copy
    is loaded, 50 requests (banned and not) send no command; a change made elsewhere
    costs each process one script call that reads only that change, at its next
    request."""
    url, _process = private_redis
    app = redis_app(url)
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    assert get(app, "198.51.100.8") == 200  # loads the copy
    observer = redis.Redis.from_url(url)
    before = commands(observer)
    statuses = [get(app, "198.51.100.7" if n % 2 else "198.51.100.8") for n in range(50)]
    assert statuses == [200, 403] * 25
    assert commands(observer) == before
    other = redis_app(url)
    clocked(other)
    with other.app_context():
        ban("203.0.113.0/24", 600, "y")
    wait_for_notice(app)
    before = commands(observer)
    assert [get(app, "203.0.113.5") for _ in range(10)] == [403] * 10
    after = commands(observer)
    # One round trip, EVALSHA, whose script read the change counter and its epoch (and
    # the server's run ID), the one changed network and its ban (Redis counts the
    # commands a script runs, too): no HGETALL.
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k)} == {
        "cmdstat_evalsha": 1,
        "cmdstat_get": 2,
        "cmdstat_zrangebyscore": 1,
        "cmdstat_hget": 1,
    }
    observer.close()


def test_redis_down_fails_open_by_default(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With Redis stopped, requests are served with the last ban list read (the ban
    holds), the failure is signalled and logged once per retry interval, never a 500."""
    url, process = private_redis
    app = redis_app(url)
    clock = clocked(app)
    failures = recorded(app, signals.ban_store_failed)
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    assert get(app, "198.51.100.8") == 200
    _stop(process)
    clock.now += 10  # past the refresh interval: the copy must be read again
    with caplog.at_level(logging.ERROR, logger="flask_bastion.security"):
        statuses = [get(app, ip) for ip in ("198.51.100.8", "198.51.100.7") * 3]
    assert statuses == [200, 403] * 3
    assert len(failures) == 1 and failures[0]["fail"] == "open"
    assert [r.event for r in caplog.records].count("ipfilter.store_failed") == 1  # type: ignore[attr-defined]


def test_redis_down_fails_closed_with_503_when_chosen(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """BASTION_IPFILTER_ON_STORE_FAILURE='closed': a clean 503 with Retry-After."""
    url, process = private_redis
    app = redis_app(url, BASTION_IPFILTER_ON_STORE_FAILURE="closed")
    _stop(process)
    response = app.test_client().get(f"{HTTPS}/", environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "redis" not in response.get_data(as_text=True).lower()


def test_auto_ban_and_cli_with_redis_down_never_500(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """404 counting while Redis is down answers 404s; the CLI says the store is down."""
    url, process = private_redis
    app = redis_app(url, BASTION_IPFILTER_NOTFOUND_BURST=2)
    _stop(process)
    assert [get(app, "198.51.100.7", "/nope") for _ in range(3)] == [404] * 3
    result = app.test_cli_runner().invoke(args=["bastion", "ban", "198.51.100.7", "1h"])
    assert result.exit_code == 1
    assert "ban store is unavailable" in result.output
    assert "Traceback" not in result.output


# The command line


def test_cli_ban_bans_and_unban(shared: tuple[str, str]) -> None:
    """flask bastion ban / bans / unban, on a shared store: no memory note."""
    app = redis_app(*shared)
    ipfilter_of(app).bans.clock = Clock()
    runner = app.test_cli_runner()
    made = runner.invoke(args=["bastion", "ban", "2001:db8::/64", "2d", "--reason", "scan"])
    assert made.exit_code == 0, made.output
    assert made.output == "Banned 2001:db8::/64 until 2030-03-19 17:46:40Z.\n"
    listed = runner.invoke(args=["bastion", "bans"])
    assert listed.output.splitlines() == [
        "2001:db8::/64\tuntil 2030-03-19 17:46:40Z\tby cli\tscan",
        "1 ban(s).",
    ]
    assert get(app, "2001:db8::1") == 403
    lifted = runner.invoke(args=["bastion", "unban", "2001:db8::/64"])
    assert lifted.exit_code == 0 and lifted.output == "Lifted the ban of 2001:db8::/64.\n"
    again = runner.invoke(args=["bastion", "unban", "2001:db8::/64"])
    assert again.exit_code == 1 and "is not banned" in again.output
    assert get(app, "2001:db8::1") == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["ban", "10.0.0.1/8", "1h"], "host bits", id="host-bits"),
        pytest.param(["ban", "10.0.0.1", "1w"], "like 30m", id="unknown-unit"),
        pytest.param(["ban", "10.0.0.1", "0"], "duration", id="zero"),
        pytest.param(["unban", "nonsense"], "not an IP network", id="unban-garbage"),
    ],
)
def test_cli_refuses_bad_input(args: list[str], message: str) -> None:
    """Bad input is a usage error (exit 2) with the reason, not a traceback."""
    result = make_app().test_cli_runner().invoke(args=["bastion", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_warns_that_memory_bans_reach_no_server() -> None:
    """With memory://, the command says its ban stays in its own process."""
    result = make_app().test_cli_runner().invoke(args=["bastion", "ban", "10.0.0.1", "90s"])
    assert result.exit_code == 0
    assert "reaches no running server" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("12h", 43200), ("7D", 604800)],
)
def test_durations(text: str, seconds: int) -> None:
    """Durations in seconds, minutes, hours or days."""
    assert parse_duration(text) == seconds
