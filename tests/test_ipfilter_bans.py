"""Temporary bans: the one API, expiry on an injected clock, the memory, SQL and Redis
stores, and the bans each control makes by itself (credential stuffing, repeated CSRF
failures, 404 scanning bursts)."""

from __future__ import annotations

import ipaddress
import typing as t

import pytest
from flask import Flask

from flask_bastion import signals
from flask_bastion.ipfilter import (
    REASON_BANNED,
    REASON_CSRF,
    REASON_NOT_FOUND,
    REASON_STUFFING,
    Ban,
    ban,
    bans,
    ipfilter_of,
    unban,
)
from flask_bastion.ipfilter.stores import MAX_REASON

from .accounts_helpers import make_site
from .conftest import HTTPS, make_app
from .test_accounts_lockout import from_address

NOW = 1_900_000_000.0


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def clocked(app: Flask) -> Clock:
    """Put ``app``'s bans on a hand-moved clock."""
    clock = Clock()
    ipfilter_of(app).bans.clock = clock
    return clock


def get(app: Flask, ip: str, path: str = "/") -> int:
    response = app.test_client().get(f"{HTTPS}{path}", environ_base={"REMOTE_ADDR": ip})
    return response.status_code


def recorded(app: Flask, signal: t.Any) -> list[dict[str, t.Any]]:
    seen: list[dict[str, t.Any]] = []
    signal.connect(lambda sender, **extra: seen.append(extra), app, weak=False)
    return seen


def test_ban_applies_at_the_next_request_and_ends_on_time() -> None:
    """A ban refuses its address at once and lifts itself when its time is up."""
    app = make_app()
    clock = clocked(app)
    refused = recorded(app, signals.ip_refused)
    with app.app_context():
        made = ban("198.51.100.7", 600, "scraping")
    assert made.until == NOW + 600
    assert get(app, "198.51.100.7") == 403
    assert get(app, "198.51.100.8") == 200
    assert refused[0]["reason"] == REASON_BANNED
    clock.now += 599
    assert get(app, "198.51.100.7") == 403
    clock.now += 1
    assert get(app, "198.51.100.7") == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST", "PURGE"])
@pytest.mark.parametrize("path", ["/", "/form", "/missing"], ids=["get-only", "form", "unrouted"])
def test_ban_refuses_every_method_routed_or_not(method: str, path: str) -> None:
    """A banned address is refused whatever the method (safe, unsafe, invented, or not
    taken by the route) and whether or not the path is routed."""
    app = make_app()
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 600, "scraping")
    client = app.test_client()
    banned = client.open(
        path, method=method, base_url=HTTPS, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert banned.status_code == 403
    other = client.open(
        path, method=method, base_url=HTTPS, environ_base={"REMOTE_ADDR": "198.51.100.8"}
    )
    assert other.status_code != 403


def test_unban_lifts_at_once_and_lists_are_live_only() -> None:
    """unban() lifts a ban; bans() lists only live ones, soonest to end first."""
    app = make_app()
    clock = clocked(app)
    banned = recorded(app, signals.ip_banned)
    lifted = recorded(app, signals.ip_unbanned)
    with app.app_context():
        ban("198.51.100.7", 600, "one")
        ban("2001:db8:1::/48", 60, "two", by="admin:1")
        ban("203.0.113.1", 10, "three")
        clock.now += 10
        assert [(str(b.network), b.by) for b in bans()] == [
            ("2001:db8:1::/48", "admin:1"),
            ("198.51.100.7/32", "api"),
        ]
        assert unban("198.51.100.7") is True
        assert unban("198.51.100.7") is False
    assert get(app, "198.51.100.7") == 200
    assert get(app, "2001:db8:1:ffff::1") == 403
    assert [b["network"] for b in banned] == [
        "198.51.100.7/32",
        "2001:db8:1::/48",
        "203.0.113.1/32",
    ]
    assert lifted == [{"network": "198.51.100.7/32", "by": "api"}]


def test_ended_long_prefix_never_hides_a_live_shorter_one() -> None:
    """When a /32 ban ends inside a banned /24, the /24 still holds."""
    app = make_app()
    clock = clocked(app)
    with app.app_context():
        ban("198.51.100.7", 10, "short")
        ban("198.51.100.0/24", 1000, "long")
    assert get(app, "198.51.100.7") == 403
    clock.now += 20
    assert get(app, "198.51.100.7") == 403
    assert get(app, "198.51.100.99") == 403


def test_ipv4_mapped_client_is_banned_as_ipv4() -> None:
    """A ban of an IPv4 address holds when the server reports it IPv4-mapped."""
    app = make_app()
    with app.app_context():
        ban("198.51.100.7", 600, "x")
    assert get(app, "::ffff:198.51.100.7") == 403


@pytest.mark.parametrize(
    ("target", "duration", "message"),
    [
        pytest.param("198.51.100.7/8", 60, "host bits", id="host-bits"),
        pytest.param("not-an-address", 60, "not an IP network", id="garbage"),
        pytest.param("0.0.0.0/0", 60, "every address", id="all-ipv4"),
        pytest.param("::/0", 60, "every address", id="all-ipv6"),
        pytest.param("198.51.100.7", 0, "duration", id="zero-duration"),
        pytest.param("198.51.100.7", 10**9, "duration", id="over-a-year"),
        pytest.param("198.51.100.7", 1.5, "whole number", id="fractional"),
    ],
)
def test_ban_refuses_bad_input(target: str, duration: t.Any, message: str) -> None:
    """A malformed network or duration is a ValueError; nothing is stored."""
    app = make_app()
    with app.app_context():
        with pytest.raises(ValueError, match=message):
            ban(target, duration, "x")
        assert bans() == []


def test_reason_is_one_short_printable_line() -> None:
    """Control characters become spaces and the reason is cut to its maximum length."""
    app = make_app()
    with app.app_context():
        made = ban("198.51.100.7", 60, "line\r\nbreak\x1b[31m" + "x" * 500)
    assert made.reason.startswith("line  break [31m")
    assert len(made.reason) == MAX_REASON


# Bans made by the other controls


def post_without_token(app: Flask, ip: str, **headers: str) -> int:
    """A form POST as a tool sends it: a cookie, but no Fetch Metadata, no Origin, no
    token."""
    client = app.test_client()
    client.set_cookie("s", "1", domain="localhost")
    response = client.post(f"{HTTPS}/form", environ_base={"REMOTE_ADDR": ip}, headers=headers)
    return response.status_code


def test_repeated_csrf_failures_ban_the_address() -> None:
    """The third CSRF token failure within the window bans the address."""
    app = make_app(BASTION_IPFILTER_CSRF_FAILURES=3, BASTION_IPFILTER_CSRF_BAN=900)
    clocked(app)
    banned = recorded(app, signals.ip_banned)
    assert [post_without_token(app, "198.51.100.7") for _ in range(3)] == [403] * 3
    assert banned == [
        {"network": "198.51.100.7/32", "until": NOW + 900, "reason": REASON_CSRF, "by": "csrf"}
    ]
    assert get(app, "198.51.100.7") == 403
    assert get(app, "198.51.100.8") == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-metadata-cross-site"),
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Referer": "https://evil.example/page"}, id="foreign-referer"),
    ],
)
def test_forgeries_from_another_site_never_ban_the_victim(headers: dict[str, str]) -> None:
    """Another site's page making its visitors' browsers post forged forms gets them
    refused by CSRF, but never banned: the visitor is the victim, not the attacker."""
    app = make_app(BASTION_IPFILTER_CSRF_FAILURES=3)
    assert [post_without_token(app, "198.51.100.7", **headers) for _ in range(10)] == [403] * 10
    assert get(app, "198.51.100.7") == 200


def test_csrf_failures_in_separate_windows_do_not_add_up() -> None:
    """Failures spread over several windows never reach the threshold."""
    app = make_app(BASTION_IPFILTER_CSRF_FAILURES=3, BASTION_IPFILTER_CSRF_WINDOW=60)
    clock = clocked(app)
    for _ in range(4):
        assert post_without_token(app, "198.51.100.7") == 403
        clock.now += 40
    assert get(app, "198.51.100.7") == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}, id="img"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="sibling-subdomain"),
        pytest.param({"Referer": "https://evil.example/"}, id="old-browser-foreign-referer"),
    ],
)
def test_404s_made_by_another_sites_page_never_ban(headers: dict[str, str]) -> None:
    """<img src="https://our.site/nope-N"> on another site makes its visitors request
    missing paths here: they are answered 404 and never banned."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=3)
    client = app.test_client()
    env = {"REMOTE_ADDR": "198.51.100.7"}
    statuses = [
        client.get(f"{HTTPS}/nope-{n}", environ_base=env, headers=headers).status_code
        for n in range(10)
    ]
    assert statuses == [404] * 10
    assert get(app, "198.51.100.7") == 200


def test_a_burst_of_404s_bans_the_address_and_ipv6_by_its_64() -> None:
    """Scanning for paths: the fifth 404 within the window from one /64 bans it."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=5)
    clocked(app)
    banned = recorded(app, signals.ip_banned)
    # A scanner rotating through its /64 counts as one.
    scanners = [f"2001:db8:5:6:aaaa::{n}" for n in range(1, 6)]
    paths = ["/wp-admin", "/.env", "/.git/config", "/phpmyadmin", "/admin.php"]
    assert [get(app, ip, path) for ip, path in zip(scanners, paths, strict=True)] == [404] * 5
    assert [(b["network"], b["reason"]) for b in banned] == [
        ("2001:db8:5:6::/64", REASON_NOT_FOUND)
    ]
    assert get(app, "2001:db8:5:6:bbbb::2") == 403
    assert get(app, "2001:db8:5:7::1") == 200


def test_routed_pages_do_not_count_as_scanning() -> None:
    """Only unrouted paths count towards a 404 burst."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=2)
    assert [get(app, "198.51.100.7", "/") for _ in range(5)] == [200] * 5


def test_a_trusted_proxy_is_never_banned_automatically() -> None:
    """When every request seems to come from the proxy, it is not banned: that would
    refuse everyone."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=2, BASTION_PROXY_TRUSTED_CIDRS=["10.0.0.0/8"])
    assert [get(app, "10.0.0.2", "/nope") for _ in range(3)] == [404] * 3
    assert get(app, "10.0.0.2") == 200


def test_credential_stuffing_bans_the_address(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """The credential_stuffing signal of the sign-in throttle bans the address."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_IPFILTER_STUFFING_BAN=1800,
    )
    ipfilter_of(site.app).bans.clock = lambda: site.clock.now  # the throttle's clock too
    banned = recorded(site.app, signals.ip_banned)
    client = from_address(site, "198.51.100.7")
    for n in range(10):
        assert site.login(client, f"leaked{n}@example.com", "wrong password!").status_code == 401
    assert banned == [
        {
            "network": "198.51.100.7/32",
            "until": NOW + 1800,
            "reason": REASON_STUFFING,
            "by": "stuffing",
        }
    ]
    assert site.login(client, "anyone@example.com").status_code == 403
    assert site.login(from_address(site, "198.51.100.8"), "x@example.com").status_code == 401
    site.clock.now += 1800
    assert site.login(client, "anyone@example.com").status_code == 401
    site.mails()


def test_auto_bans_can_be_turned_off() -> None:
    """With the thresholds at 0 nothing is banned."""
    app = make_app(BASTION_IPFILTER_NOTFOUND_BURST=0, BASTION_IPFILTER_CSRF_FAILURES=0)
    assert [get(app, "198.51.100.7", "/nope") for _ in range(200)] == [404] * 200
    with app.app_context():
        assert bans() == []


# The SQL store: shared, read again every refresh interval


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: t.Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bans.db"
    return t.cast(str, request.getfixturevalue("pg_url"))


def test_sql_store_is_shared_within_the_refresh_interval(sql_url: str) -> None:
    """A ban made through one app reaches another app on the same table once its copy
    is older than BASTION_IPFILTER_REFRESH; unban likewise."""
    config = {"BASTION_IPFILTER_BANS_URL": sql_url, "BASTION_IPFILTER_REFRESH": 5}
    first, second = make_app(**config), make_app(**config)
    clock = clocked(first)
    ipfilter_of(second).bans.clock = clock
    assert get(second, "198.51.100.7") == 200  # second's copy: read now, empty
    with first.app_context():
        ban("198.51.100.7", 600, "shared")
    assert get(first, "198.51.100.7") == 403  # at once in the process that banned
    loads = ipfilter_of(second).bans.loads
    assert get(second, "198.51.100.7") == 200  # within the interval: no read
    assert ipfilter_of(second).bans.loads == loads
    clock.now += 5
    assert get(second, "198.51.100.7") == 403
    with second.app_context():
        assert [str(b.network) for b in bans()] == ["198.51.100.7/32"]
        assert unban("198.51.100.7/32")
    clock.now += 5
    assert get(first, "198.51.100.7") == 200


def test_ban_round_trips_through_json() -> None:
    """What the Redis store writes it reads back; garbage is skipped."""
    made = Ban(ipaddress.ip_network("2001:db8::/64"), 5.0, "r", 1.0, "cli")
    assert Ban.from_json("2001:db8::/64", made.to_json()) == made
    assert Ban.from_json("2001:db8::/64", "{not json") is None
    assert Ban.from_json("nonsense", made.to_json()) is None


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_sql_store_down_follows_the_failure_mode(tmp_path: t.Any, mode: str) -> None:
    """A database that cannot be opened: served (open) or a clean 503 (closed), never a
    500; ban() raises StoreError, which the CLI and the admin page report."""
    from flask_bastion.exceptions import StoreError

    url = f"sqlite:///{tmp_path}/missing/dir/bans.db"
    app = make_app(BASTION_IPFILTER_BANS_URL=url, BASTION_IPFILTER_ON_STORE_FAILURE=mode)
    failures = recorded(app, signals.ban_store_failed)
    assert get(app, "198.51.100.7") == (200 if mode == "open" else 503)
    assert failures[0]["fail"] == mode
    with app.app_context(), pytest.raises(StoreError):
        ban("198.51.100.7", 60, "x")


def test_automatic_bans_stop_at_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    """With BASTION_IPFILTER_MAX_BANS live bans, a scanner is no longer banned (logged);
    an operator's ban still is."""
    app = make_app(BASTION_IPFILTER_MAX_BANS=2, BASTION_IPFILTER_NOTFOUND_BURST=1)
    clocked(app)
    assert [get(app, ip, "/nope") for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3")] == [404] * 3
    assert get(app, "192.0.2.2") == 403
    assert get(app, "192.0.2.3") == 200
    assert any(getattr(r, "event", "") == "ipfilter.ban_list_full" for r in caplog.records)
    with app.app_context():
        ban("192.0.2.3", 60, "by hand")
    assert get(app, "192.0.2.3") == 403


@pytest.mark.parametrize(
    "text", ["10.0.0.5", "10.0.0.5/33", "10.0.0.5/x", "10.0.0.256/32", "10.0.0.5/24", "::g/64"]
)
def test_stored_networks_are_parsed_strictly(text: str) -> None:
    """A stored ban whose network is not in the stores' own form is skipped."""
    from flask_bastion.ipfilter.networks import stored_network

    with pytest.raises((ValueError, OSError)):
        stored_network(text)


def test_sql_store_replaces_a_ban_of_the_same_network(sql_url: str) -> None:
    """Banning a network again replaces its ban (an upsert: no conflict between two
    processes banning it at once)."""
    app = make_app(BASTION_IPFILTER_BANS_URL=sql_url)
    clocked(app)
    with app.app_context():
        ban("198.51.100.7", 60, "first")
        ban("198.51.100.7", 600, "second")
        assert [(str(b.network), b.until, b.reason) for b in bans()] == [
            ("198.51.100.7/32", NOW + 600, "second")
        ]
