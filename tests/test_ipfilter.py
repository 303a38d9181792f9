"""IP allow and deny lists: the application's, a blueprint's and a view's, IPv4 and
IPv6, IPv4-mapped addresses, strict parsing at start-up, and the client address taken
only from the proxy-trust model (a spoofed X-Forwarded-For changes nothing)."""

from __future__ import annotations

import ipaddress
import logging
import typing as t

import pytest
from flask import Blueprint, Flask

from flask_bastion import Bastion, signals
from flask_bastion.exceptions import AddressRefused, ConfigurationError
from flask_bastion.ipfilter import (
    REASON_DENIED,
    NetworkIndex,
    client_address,
    ip_allow,
    ip_deny,
    restrict_blueprint,
)
from flask_bastion.ipfilter.networks import index_of

from .conftest import HTTPS, SECRET, make_app


def get(app: Flask, ip: str | None, path: str = "/", **headers: str) -> t.Any:
    """GET ``path`` from the client address ``ip`` (the WSGI peer)."""
    environ = {"REMOTE_ADDR": ip} if ip is not None else {"REMOTE_ADDR": ""}
    return app.test_client().get(f"{HTTPS}{path}", environ_base=environ, headers=headers)


def refusals(app: Flask) -> list[dict[str, t.Any]]:
    seen: list[dict[str, t.Any]] = []
    signals.ip_refused.connect(lambda sender, **extra: seen.append(extra), app, weak=False)
    return seen


@pytest.mark.parametrize(
    ("ip", "status"),
    [
        pytest.param("10.1.2.3", 403, id="ipv4-in-denied-network"),
        pytest.param("::ffff:10.1.2.3", 403, id="ipv4-mapped-in-denied-network"),
        pytest.param("2001:db8::7", 403, id="ipv6-in-denied-network"),
        pytest.param("2001:db8:0:0:0:0:0:7", 403, id="ipv6-long-form"),
        pytest.param("11.1.2.3", 200, id="ipv4-outside"),
        pytest.param("2001:db9::7", 200, id="ipv6-outside"),
        pytest.param(None, 200, id="no-ip-address"),
    ],
)
def test_deny_list(ip: str | None, status: int) -> None:
    """Addresses in BASTION_IPFILTER_DENY get 403, whichever way they are written."""
    app = make_app(BASTION_IPFILTER_DENY=["10.0.0.0/8", "2001:db8::/32"])
    assert get(app, ip).status_code == status


@pytest.mark.parametrize(
    ("ip", "status"),
    [
        pytest.param("192.168.4.4", 200, id="ipv4-inside"),
        pytest.param("::ffff:192.168.4.4", 200, id="ipv4-mapped-inside"),
        pytest.param("fd00::1", 200, id="ipv6-inside"),
        pytest.param("192.169.0.1", 403, id="ipv4-outside"),
        pytest.param("::ffff:192.169.0.1", 403, id="ipv4-mapped-outside"),
        pytest.param("fe80::1", 403, id="ipv6-outside"),
        pytest.param("fd00::1%eth0", 200, id="ipv6-with-zone-inside"),
        pytest.param(None, 403, id="no-ip-address-fails-an-allow-list"),
    ],
)
def test_allow_list(ip: str | None, status: int) -> None:
    """With BASTION_IPFILTER_ALLOW set, only its networks get through."""
    app = make_app(BASTION_IPFILTER_ALLOW="192.168.0.0/16, fd00::/8")
    assert get(app, ip).status_code == status


def test_deny_wins_over_allow() -> None:
    """An address in both lists is refused."""
    app = make_app(BASTION_IPFILTER_ALLOW=["10.0.0.0/8"], BASTION_IPFILTER_DENY=["10.9.0.0/16"])
    assert get(app, "10.1.0.1").status_code == 200
    assert get(app, "10.9.0.1").status_code == 403


def test_refusal_is_a_bare_403_with_signal_and_log(caplog: pytest.LogCaptureFixture) -> None:
    """The page says nothing of the lists; the signal and the log line name the reason."""
    app = make_app(BASTION_IPFILTER_DENY=["203.0.113.0/24"])
    seen = refusals(app)
    with caplog.at_level(logging.INFO, logger="flask_bastion.security"):
        response = get(app, "203.0.113.9", "/api/ping", Accept="application/json")
    assert response.status_code == 403
    assert response.json["detail"] == AddressRefused.PAGE_TEXT
    assert "deny" not in response.get_data(as_text=True)
    assert seen == [
        {"reason": REASON_DENIED, "status": 403, "ip": "203.0.113.9", "endpoint": "ping"}
    ]
    record = next(r for r in caplog.records if getattr(r, "event", "") == "ipfilter.refused")
    assert record.ip == "203.0.113.9"  # type: ignore[attr-defined]


def test_refused_before_the_view_and_before_sessions() -> None:
    """A refused request never reaches the view and gets no session cookie."""
    app = make_app(BASTION_IPFILTER_DENY=["203.0.113.0/24"])
    ran: list[str] = []

    @app.get("/count")
    def count() -> str:
        ran.append("view")
        return "ok"

    response = get(app, "203.0.113.9", "/count")
    assert response.status_code == 403
    assert ran == []
    assert "Set-Cookie" not in response.headers


# The client address comes from the proxy-trust model only


@pytest.mark.parametrize(
    ("proxy", "peer", "forwarded", "status"),
    [
        pytest.param({}, "203.0.113.9", "10.0.0.1", 403, id="no-trust-spoofed-header-ignored"),
        pytest.param({}, "10.0.0.1", "203.0.113.9", 200, id="no-trust-header-cannot-frame"),
        pytest.param(
            {"BASTION_PROXY_TRUSTED_CIDRS": ["127.0.0.1/32"]},
            "127.0.0.1",
            "203.0.113.9",
            403,
            id="trusted-proxy-forwards-the-client",
        ),
        pytest.param(
            {"BASTION_PROXY_TRUSTED_CIDRS": ["127.0.0.1/32"]},
            "127.0.0.1",
            "10.0.0.1, 203.0.113.9",
            403,
            id="trusted-proxy-client-prepended-a-fake",
        ),
        pytest.param(
            {"BASTION_PROXY_TRUSTED_CIDRS": ["127.0.0.1/32"]},
            "198.51.100.1",
            "10.0.0.1",
            200,
            id="untrusted-peer-header-ignored",
        ),
        pytest.param(
            {"BASTION_PROXY_TRUSTED_HOPS": 1},
            "127.0.0.1",
            "10.0.0.1, 203.0.113.9",
            403,
            id="one-hop-takes-the-rightmost",
        ),
    ],
)
def test_spoofed_forwarded_for_cannot_evade_or_frame(
    proxy: dict[str, t.Any], peer: str, forwarded: str, status: int
) -> None:
    """Only a trusted proxy's X-Forwarded-For entry counts: a client cannot hide behind
    another address, nor get someone else refused."""
    app = make_app(BASTION_IPFILTER_DENY=["203.0.113.0/24"], **proxy)
    assert get(app, peer, **{"X-Forwarded-For": forwarded}).status_code == status


# Per view and per blueprint


def _app_with_views() -> Flask:
    app = make_app()
    area = ip_allow("10.0.0.0/8")(Blueprint("area", __name__, url_prefix="/area"))

    @area.get("/")
    def home() -> str:
        return "area"

    @area.get("/narrow")
    @ip_allow("10.1.0.0/16")
    def narrow() -> str:
        return "narrow"

    @area.get("/wide")
    @ip_allow("0.0.0.0/0")
    def wide() -> str:
        return "wide"

    @app.get("/no-lab")
    @ip_deny("192.0.2.0/24", "2001:db8::/32")
    def no_lab() -> str:
        return "open"

    # The registration comes after the decorators, as for any marker.
    app.register_blueprint(area)
    return app


@pytest.mark.parametrize(
    ("path", "ip", "status"),
    [
        pytest.param("/area/", "10.2.0.1", 200, id="blueprint-allows"),
        pytest.param("/area/", "11.0.0.1", 403, id="blueprint-refuses"),
        pytest.param("/area/narrow", "10.1.0.1", 200, id="view-narrows-allowed"),
        pytest.param("/area/narrow", "10.2.0.1", 403, id="view-narrows-refused"),
        pytest.param("/area/wide", "11.0.0.1", 403, id="view-cannot-widen-its-blueprint"),
        pytest.param("/no-lab", "192.0.2.1", 403, id="view-deny-ipv4"),
        pytest.param("/no-lab", "2001:db8::1", 403, id="view-deny-ipv6"),
        pytest.param("/no-lab", "198.51.100.1", 200, id="view-deny-others-pass"),
        pytest.param("/", "11.0.0.1", 200, id="other-views-unaffected"),
    ],
)
def test_view_and_blueprint_lists(path: str, ip: str, status: int) -> None:
    """@ip_allow and @ip_deny on a view and a blueprint; a view narrows its blueprint."""
    assert get(_app_with_views(), ip, path).status_code == status


def test_restrict_blueprint_applies_to_one_app_only() -> None:
    """restrict_blueprint() limits a blueprint in one application, not in another made
    from the same blueprint object."""
    area = Blueprint("area", __name__)

    @area.get("/area")
    def home() -> str:
        return "area"

    first, second = make_app(), make_app()
    for app in (first, second):
        app.register_blueprint(area)
    restrict_blueprint(first, "area", allow=["10.0.0.0/8"], key="AREA_ALLOW")
    assert get(first, "11.0.0.1", "/area").status_code == 403
    assert get(first, "10.0.0.1", "/area").status_code == 200
    assert get(second, "11.0.0.1", "/area").status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("10.0.0.1/8", id="host-bits-set"),
        pytest.param("10.0.0.0/33", id="prefix-too-long"),
        pytest.param("10.0.0.300", id="octet-out-of-range"),
        pytest.param("example.com", id="a-name"),
        pytest.param("", id="empty"),
        pytest.param("fe80::1%eth0 x", id="zone-with-space"),
    ],
)
def test_malformed_networks_fail_at_start_up(bad: str) -> None:
    """A malformed entry is a ConfigurationError naming the key, in the config, a
    decorator and restrict_blueprint alike."""
    with pytest.raises(ConfigurationError) as config_error:
        make_app(BASTION_IPFILTER_ALLOW=[bad] if bad else [1])
    assert config_error.value.key == "BASTION_IPFILTER_ALLOW"
    with pytest.raises(ConfigurationError) as decorator_error:
        ip_deny(bad)
    assert decorator_error.value.key == "ip_deny"
    with pytest.raises(ConfigurationError) as restrict_error:
        restrict_blueprint(make_app(), "x", allow=[bad], key="AREA_ALLOW")
    assert restrict_error.value.key == "AREA_ALLOW"


def test_host_bits_error_suggests_the_network() -> None:
    """The message names the network the operator probably meant."""
    with pytest.raises(ConfigurationError, match=r"did you mean 10\.0\.0\.0/8"):
        make_app(BASTION_IPFILTER_DENY="10.0.0.1/8")


def test_mapped_entries_are_read_as_ipv4() -> None:
    """An IPv4-mapped IPv6 entry denies the IPv4 clients it means."""
    app = make_app(BASTION_IPFILTER_DENY=["::ffff:198.51.100.0/120"])
    assert get(app, "198.51.100.20").status_code == 403
    assert get(app, "198.51.101.20").status_code == 200


def test_decorator_needs_a_network() -> None:
    """@ip_allow() with nothing would refuse everyone: an error instead."""
    with pytest.raises(ConfigurationError, match="at least one"):
        ip_allow()


def test_two_apps_in_one_process_keep_their_own_lists() -> None:
    """Each application's lists are its own."""
    strict = make_app(BASTION_IPFILTER_DENY=["198.51.100.0/24"])
    lenient = make_app()
    assert get(strict, "198.51.100.1").status_code == 403
    assert get(lenient, "198.51.100.1").status_code == 200


def test_app_without_other_settings() -> None:
    """Bastion(app, ipfilter_deny=...) as a keyword works like the config key."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    app.config["BASTION_SESSIONS_STORE"] = "memory"
    app.get("/")(lambda: "ok")
    Bastion(app, ipfilter_deny=["198.51.100.0/24"])
    assert get(app, "198.51.100.1").status_code == 403


# The index


def test_index_finds_the_longest_prefix_among_many() -> None:
    """A list of 100,000 addresses and a few networks: each lookup finds the right one."""
    networks = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32" for i in range(100_000)]
    index = index_of(ipaddress.ip_network(n) for n in [*networks, "11.0.0.0/8"])
    assert len(index) == 100_001
    assert str(index.find(client_address("10.1.134.159"))) == "10.1.134.159/32"  # type: ignore[arg-type]
    assert str(index.find(client_address("11.2.3.4"))) == "11.0.0.0/8"  # type: ignore[arg-type]
    assert index.find(client_address("12.0.0.1")) is None  # type: ignore[arg-type]
    assert not NetworkIndex()


@pytest.mark.parametrize(
    "url", ["nosuchdb://user:hunter2@host/db", "postgresql+nodriver://user:hunter2@host/db"]
)
def test_unknown_ban_store_url_fails_at_start_up_without_its_password(url: str) -> None:
    """A URL nothing can open is a ConfigurationError naming the key, not the password."""
    with pytest.raises(ConfigurationError) as error:
        make_app(BASTION_IPFILTER_BANS_URL=url)
    assert error.value.key == "BASTION_IPFILTER_BANS_URL"
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("url", ["", "localhost:6379", 42])
def test_malformed_ban_store_url_is_refused(url: t.Any) -> None:
    """A value without a scheme is refused by the configuration."""
    with pytest.raises(ConfigurationError, match="BASTION_IPFILTER_BANS_URL"):
        make_app(BASTION_IPFILTER_BANS_URL=url)


def test_index_updates_in_place() -> None:
    """put() and remove() keep the longest prefix first and the count right."""
    index: NetworkIndex[str] = NetworkIndex()
    index.put(ipaddress.ip_network("10.0.0.0/8"), "wide")
    index.put(ipaddress.ip_network("10.1.2.3/32"), "host")
    index.put(ipaddress.ip_network("2001:db8::/64"), "v6")
    index.put(ipaddress.ip_network("10.1.2.3/32"), "host again")
    assert len(index) == 3
    assert index.find(ipaddress.ip_address("10.1.2.3")) == "host again"
    assert index.find(ipaddress.ip_address("10.9.9.9")) == "wide"
    assert index.find(ipaddress.ip_address("2001:db8::5")) == "v6"
    index.remove(ipaddress.ip_network("10.1.2.3/32"))
    index.remove(ipaddress.ip_network("192.0.2.0/24"))  # not listed: nothing happens
    assert index.find(ipaddress.ip_address("10.1.2.3")) == "wide"
    assert len(index) == 2
    assert sorted(index.values()) == ["v6", "wide"]
