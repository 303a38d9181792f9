"""Attacks on the IP filter and the bans: ban propagation when Redis loses or rolls
back its data, malformed ban input, and ban expiry edges on an injected clock."""

from __future__ import annotations

import subprocess
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Blueprint

from flask_bastion.exceptions import ConfigurationError
from flask_bastion.ipfilter import ban, bans, restrict_blueprint

from .conftest import HTTPS, make_app
from .test_ipfilter_bans import clocked, get
from .test_ipfilter_redis import redis_app, store_of, wait_for_notice
from .test_sessions_faults import REDIS_SERVER, _free_port, _wait_until_ready


def test_emptied_redis_refilled_before_a_process_looks_is_read_whole(
    redis_prefix: tuple[str, str],
) -> None:
    """Redis loses the bans (emptied, or restarted without persistence) and another
    process bans as many addresses before this one reads again: the change counter is
    back where this process left it, so a delta read finds nothing to do. This process
    must still drop the lost ban and see the new one."""
    url, prefix = redis_prefix
    first, second = redis_app(url, prefix), redis_app(url, prefix)
    clocked(first)
    clocked(second)
    with first.app_context():
        ban("198.51.100.7", 600, "before")
    assert get(first, "198.51.100.7") == 403  # first's copy is at counter 1
    store = store_of(first)
    store.client.delete(*store.client.keys(prefix + "*"))
    with second.app_context():
        ban("203.0.113.9", 600, "after")  # counter 1 again
    wait_for_notice(first)
    assert get(first, "203.0.113.9") == 403
    assert get(first, "198.51.100.7") == 200


@pytest.fixture
def saving_redis(tmp_path: Path) -> Iterator[t.Callable[[], str]]:
    """Start (and restart) a private redis-server that keeps its snapshot in
    ``tmp_path``: calling the fixture kills the running server and starts another on the
    same port, which loads the last ``SAVE``."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed", pytrace=False)
    port = _free_port()
    running: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        for process in running:
            process.kill()
            process.wait(timeout=10)
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        running.append(process)
        if not _wait_until_ready(process):
            pytest.fail("private redis-server did not start", pytrace=False)
        return f"redis://127.0.0.1:{port}/0"

    yield start
    for process in running:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_redis_restarted_from_an_older_snapshot_is_read_whole(
    saving_redis: t.Callable[[], str],
) -> None:
    """Redis restarts from a snapshot older than the last change (the counter goes back
    to 1), then another process bans an address (counter 2, where this process left
    it): this process must not keep the ban the snapshot lost, nor miss the new one."""
    url = saving_redis()
    first = redis_app(url)
    clock = clocked(first)
    with first.app_context():
        ban("198.51.100.1", 600, "saved")
        redis.Redis.from_url(url).save()
        ban("198.51.100.2", 600, "lost in the restart")
    assert get(first, "198.51.100.2") == 403  # first's copy is at counter 2
    saving_redis()
    second = redis_app(url)
    clocked(second)
    with second.app_context():
        ban("203.0.113.9", 600, "after the restart")  # counter 2 again
    clock.now += 6  # past the 5 s refresh: the notice connection died with the server
    statuses = [get(first, ip) for ip in ("198.51.100.1", "198.51.100.2", "203.0.113.9")]
    assert statuses == [403, 200, 403]


SPOOFS = [
    {"X-Forwarded-For": "203.0.113.50"},
    {"X-Forwarded-For": "203.0.113.50, 203.0.113.51"},
    {"Forwarded": "for=203.0.113.50"},
    {"X-Real-IP": "203.0.113.50"},
    {"X-Client-IP": "203.0.113.50", "True-Client-IP": "203.0.113.50"},
]


@pytest.mark.parametrize("proxy", [{}, {"BASTION_PROXY_TRUSTED_HOPS": 1}])
@pytest.mark.parametrize("headers", SPOOFS)
def test_banned_client_cannot_claim_another_address(
    proxy: dict[str, t.Any], headers: dict[str, str]
) -> None:
    """A banned client that writes a forwarded header of its own stays banned: without
    a trusted proxy no header is read; with one, the proxy's own entry (appended
    last) is the client."""
    app = make_app(**proxy)
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    sent = dict(headers)
    if proxy and "X-Forwarded-For" in sent:  # the proxy appends the real peer
        sent["X-Forwarded-For"] += ", 198.51.100.7"
    elif proxy:
        sent["X-Forwarded-For"] = "198.51.100.7"
    environ = {"REMOTE_ADDR": "10.0.0.1" if proxy else "198.51.100.7"}
    response = app.test_client().get(f"{HTTPS}/", headers=sent, environ_base=environ)
    assert response.status_code == 403


@pytest.mark.parametrize("headers", SPOOFS)
def test_scanner_cannot_get_a_victim_banned_by_naming_it(headers: dict[str, str]) -> None:
    """A 404 burst with a forged forwarded header naming a victim bans the scanner's
    own address, never the victim's."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=5, BASTION_RATELIMIT_DEFAULT=None)
    clocked(app)
    client = app.test_client()
    for n in range(5):
        client.get(f"{HTTPS}/nope-{n}", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.66"})
    with app.app_context():
        assert [str(b.network) for b in bans()] == ["192.0.2.66/32"]
    assert get(app, "203.0.113.50") == 200


@pytest.mark.parametrize(
    "variant",
    ["2001:DB8:0:0::1", "2001:0db8:0000:0000:ffff::0001", "2001:db8::1%eth0", "2001:db8::ab:cd"],
)
def test_ipv6_spellings_and_neighbours_meet_the_ban(variant: str) -> None:
    """A /64 ban holds for every spelling of an address in it and every neighbour."""
    app = make_app()
    clocked(app)
    with app.app_context():
        ban("2001:db8::/64", 600, "x")
    assert get(app, variant) == 403
    assert get(app, "2001:db8:0:1::1") == 200  # the next /64


@pytest.mark.parametrize("remote", ["::ffff:198.51.100.7", "::ffff:c633:6407"])
def test_ipv4_mapped_peer_meets_an_ipv4_ban(remote: str) -> None:
    app = make_app()
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    assert get(app, remote) == 403


def test_ended_inner_ban_never_hides_a_live_outer_one() -> None:
    """A /32 ban ending inside a live /24 ban: the /24 still holds at and after the
    /32's end, to the second, and ends exactly on time."""
    app = make_app()
    clock = clocked(app)
    with app.app_context():
        ban("198.51.100.0/24", 100, "outer")
        ban("198.51.100.7", 10, "inner")
    assert get(app, "198.51.100.7") == 403
    clock.now += 10
    assert get(app, "198.51.100.7") == 403
    clock.now += 89
    assert get(app, "198.51.100.7") == 403
    clock.now += 1
    assert get(app, "198.51.100.7") == 200


@pytest.mark.parametrize(
    ("target", "duration"),
    [
        ("localhost", 60),
        ("198.51.100.7\x00", 60),
        ("198.51.100.7/33", 60),
        ("0.0.0.0/0", 60),
        ("::/0", 60),
        ("::ffff:0.0.0.0/96", 60),
        ("198.51.100.7", 0),
        ("198.51.100.7", -1),
        ("198.51.100.7", 10**12),
        ("198.51.100.7", True),
    ],
)
def test_malformed_ban_is_a_value_error(target: str, duration: int) -> None:
    app = make_app()
    with app.app_context(), pytest.raises(ValueError, match=r"."):
        ban(target, duration, "x")
    with app.app_context():
        assert bans() == []


def test_huge_reason_is_cut_to_one_line() -> None:
    app = make_app()
    with app.app_context():
        made = ban("198.51.100.7", 60, "a\x00b\nc" + "x" * 100_000)
    assert len(made.reason) == 200 and made.reason.isprintable()


def test_blueprint_allow_list_of_only_our_proxies_is_refused_at_start() -> None:
    """VAULT_ADMIN_ALLOW (or any restrict_blueprint list) naming only the trusted
    proxies refuses every client, whose address is the one the proxies forward:
    refused when the application starts, as bastion.E142 does for the global list."""
    app = make_app(BASTION_PROXY_TRUSTED_CIDRS=["10.0.0.0/24"])
    app.register_blueprint(Blueprint("admin", __name__))
    with pytest.raises(ConfigurationError) as info:
        restrict_blueprint(app, "admin", allow="10.0.0.5, 10.0.0.0/25", key="VAULT_ADMIN_ALLOW")
    assert info.value.key == "VAULT_ADMIN_ALLOW"
    restrict_blueprint(app, "admin", allow="10.0.0.5, 192.0.2.0/24", key="VAULT_ADMIN_ALLOW")
