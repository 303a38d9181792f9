"""Proxy trust: forwarded headers change nothing unless the peer is a trusted proxy."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask, request

from flask_bastion.config import load_config
from flask_bastion.proxy import (
    ENVIRON_KEY,
    ProxyTrust,
    host_is_loopback,
    in_networks,
    is_loopback,
)

from .conftest import make_app

FORGED = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
}


def _whoami_app(**config: t.Any) -> Flask:
    app = make_app(BASTION_HTTPS_REDIRECT=False, TRUSTED_HOSTS=None, **config)

    @app.get("/whoami")
    def whoami() -> dict[str, str | None]:
        return {"ip": request.remote_addr, "scheme": request.scheme, "host": request.host}

    return app


def _whoami(app: Flask, peer: str = "10.0.0.5", **headers: str) -> dict[str, str]:
    response = app.test_client().get(
        "/whoami",
        base_url="http://app.internal",
        headers=headers,
        environ_base={"REMOTE_ADDR": peer},
    )
    assert response.status_code == 200
    return t.cast(dict[str, str], response.get_json())


def _trust(**config: t.Any) -> ProxyTrust:
    return ProxyTrust(load_config({}, config).proxy)


def test_default_trusts_no_forwarded_header() -> None:
    """By default forged X-Forwarded-* headers change nothing."""
    seen = _whoami(
        _whoami_app(), peer="203.0.113.9", **{k.replace("-", "_"): v for k, v in FORGED.items()}
    )
    assert seen == {"ip": "203.0.113.9", "scheme": "http", "host": "app.internal"}


def test_default_forged_proto_still_redirects() -> None:
    """A client claiming X-Forwarded-Proto: https is still redirected to HTTPS."""
    response = make_app().test_client().get("/", base_url="http://localhost", headers=FORGED)
    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/"


def test_default_installs_no_middleware() -> None:
    """With no trust configured the WSGI app is not wrapped at all (no cost)."""
    app = make_app()
    assert type(app.wsgi_app).__name__ != "ProxyMiddleware"


def test_one_hop_uses_the_proxy_entry() -> None:
    """With one trusted hop the right-most entry of each header is the client's."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_HOPS=1)
    seen = _whoami(
        app,
        **{
            "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "vault.example.org",
        },
    )
    assert seen == {"ip": "198.51.100.7", "scheme": "https", "host": "vault.example.org"}


def test_hops_ignore_client_prepended_entries() -> None:
    """With two hops, entries the client prepended on the left are ignored."""
    trust = _trust(proxy_trusted_hops=2)
    environ = {
        "REMOTE_ADDR": "10.0.0.2",
        "HTTP_X_FORWARDED_FOR": "1.1.1.1, 6.6.6.6, 198.51.100.7, 10.0.0.1",
    }
    trust.resolve(environ)
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


def test_fewer_entries_than_hops_trusts_nothing() -> None:
    """When a proxy did not append an entry, the header is not believed."""
    trust = _trust(proxy_trusted_hops=2)
    environ = {
        "REMOTE_ADDR": "10.0.0.2",
        "HTTP_X_FORWARDED_FOR": "6.6.6.6",
        "wsgi.url_scheme": "http",
    }
    trust.resolve(environ)
    assert environ["REMOTE_ADDR"] == "10.0.0.2"


def test_cidr_mode_rejects_untrusted_peer() -> None:
    """With trusted CIDRs, a peer outside them cannot forge anything."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_CIDRS=["10.0.0.0/8"])
    seen = _whoami(app, peer="203.0.113.9", **FORGED)
    assert seen == {"ip": "203.0.113.9", "scheme": "http", "host": "app.internal"}


def test_cidr_mode_walks_past_trusted_proxies() -> None:
    """In CIDR mode the client is the right-most address that is not one of our proxies."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_CIDRS=["10.0.0.0/8"])
    seen = _whoami(
        app,
        peer="10.0.0.5",
        **{"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.1.2.3", "X-Forwarded-Proto": "https"},
    )
    assert seen["ip"] == "198.51.100.7"
    assert seen["scheme"] == "https"


def test_cidr_and_hops_together_need_both() -> None:
    """With hops and CIDRs, the peer must be trusted and the hop count applies."""
    trust = _trust(proxy_trusted_hops=1, proxy_trusted_cidrs=["10.0.0.0/8"])
    outsider = {"REMOTE_ADDR": "203.0.113.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6"}
    insider = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"}
    trust.resolve(outsider)
    trust.resolve(insider)
    assert outsider["REMOTE_ADDR"] == "203.0.113.1"
    assert insider["REMOTE_ADDR"] == "198.51.100.7"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_X_FORWARDED_FOR", "not-an-ip"),
        ("HTTP_X_FORWARDED_FOR", "1.2.3.4.5"),
        ("HTTP_X_FORWARDED_FOR", "<script>"),
        ("HTTP_X_FORWARDED_PROTO", "javascript"),
        ("HTTP_X_FORWARDED_PROTO", "ftp"),
        ("HTTP_X_FORWARDED_HOST", "evil.example/path"),
        ("HTTP_X_FORWARDED_HOST", "a b"),
        ("HTTP_X_FORWARDED_HOST", "host\r\nSet-Cookie: x=1"),
        ("HTTP_X_FORWARDED_HOST", "-leading-dash"),
    ],
    ids=[
        "ip-word",
        "ip-5-octets",
        "ip-markup",
        "proto-js",
        "proto-ftp",
        "host-path",
        "host-space",
        "host-crlf",
        "host-dash",
    ],
)
def test_malformed_forwarded_values_are_ignored(header: str, value: str) -> None:
    """A malformed value from a trusted proxy is dropped, never passed on."""
    trust = _trust(proxy_trusted_hops=1)
    environ = {
        "REMOTE_ADDR": "10.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "app",
        header: value,
    }
    trust.resolve(environ)
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"], environ["HTTP_HOST"]) == (
        "10.0.0.1",
        "http",
        "app",
    )


def test_ipv6_forwarded_address_is_normalised() -> None:
    """IPv6 client addresses are accepted and normalised."""
    trust = _trust(proxy_trusted_hops=1)
    environ = {"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "2001:DB8:0:0::1"}
    trust.resolve(environ)
    assert environ["REMOTE_ADDR"] == "2001:db8::1"


def test_original_values_are_kept() -> None:
    """The values the middleware replaced stay available for auditing."""
    trust = _trust(proxy_trusted_hops=1)
    environ = {
        "REMOTE_ADDR": "10.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_X_FORWARDED_FOR": "198.51.100.7",
    }
    trust.resolve(environ)
    assert environ[ENVIRON_KEY]["REMOTE_ADDR"] == "10.0.0.1"
    assert environ[ENVIRON_KEY]["trusted_peer"] is True


def test_trusted_proto_enables_hsts_and_skips_redirect() -> None:
    """Behind a trusted TLS-terminating proxy the request counts as HTTPS everywhere."""
    app = make_app(BASTION_PROXY_TRUSTED_HOPS=1)
    response = app.test_client().get(
        "/",
        base_url="http://localhost",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"},
    )
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response.headers
    assert "upgrade-insecure-requests" in response.headers["Content-Security-Policy"]


def test_external_urls_follow_the_trusted_host() -> None:
    """url_for(_external=True) uses the scheme and host the proxy vouched for."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_HOPS=1)

    @app.get("/link")
    def link() -> str:
        from flask import url_for

        return url_for("link", _external=True)

    response = app.test_client().get(
        "/link", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "vault.example.org"}
    )
    assert response.get_data(as_text=True) == "https://vault.example.org/link"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("x", False),
        (None, False),
    ],
    ids=["v4", "v4-range", "v6", "private", "garbage", "none"],
)
def test_is_loopback(address: str | None, expected: bool) -> None:
    """Loopback detection accepts 127.0.0.0/8 and ::1 only."""
    assert is_loopback(address) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST:5000", True),
        ("app.localhost", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("[::1]", True),
        ("::1", True),
        ("example.org", False),
        ("localhost.example.org", False),
        ("[2001:db8::1]:80", False),
        ("10.0.0.1", False),
    ],
)
def test_host_is_loopback(host: str, expected: bool) -> None:
    """Loopback host names and IP literals, with or without a port, are loopback."""
    assert host_is_loopback(host) is expected


def test_in_networks_rejects_garbage() -> None:
    """Addresses that do not parse are never inside a trusted network."""
    networks = load_config({}, {"proxy_trusted_cidrs": ["0.0.0.0/0"]}).proxy.trusted_cidrs
    assert in_networks("1.2.3.4", networks) is True
    assert in_networks("garbage", networks) is False
    assert in_networks(None, networks) is False


#: X-Forwarded-For values whose IPv6 zone ID is not an interface name.
HOSTILE_ZONES = [
    pytest.param("::1%' OR '1'='1", id="sql-quotes"),
    pytest.param("fe80::1%eth0 x", id="space"),
    pytest.param("fe80::1%" + "a" * 64, id="very-long"),
    pytest.param("fe80::1%eth0%x", id="percent-twice"),
    pytest.param("fe80::1%\u00e9th0", id="latin-1"),
    pytest.param("fe80::1%<script>", id="markup"),
    pytest.param("::1%", id="empty"),
    pytest.param("203.0.113.7%eth0", id="ipv4-with-zone"),
]


@pytest.mark.parametrize("forwarded", HOSTILE_ZONES)
def test_forwarded_zone_injection_is_ignored(forwarded: str) -> None:
    """A forwarded address with a hostile zone ID is malformed: remote_addr stays the proxy's."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_HOPS=1)
    assert _whoami(app, peer="10.0.0.5", **{"X-Forwarded-For": forwarded})["ip"] == "10.0.0.5"


@pytest.mark.parametrize("forwarded", HOSTILE_ZONES)
def test_cidr_walk_stops_at_zone_injection(forwarded: str) -> None:
    """In CIDR mode the walk stops at the hostile entry instead of naming it the client."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_CIDRS=["10.0.0.0/8"])
    seen = _whoami(app, peer="10.0.0.5", **{"X-Forwarded-For": f"203.0.113.7, {forwarded}"})
    assert seen["ip"] == "10.0.0.5"


def test_plain_zone_is_dropped() -> None:
    """A link-local address with an interface name as zone becomes the bare address."""
    app = _whoami_app(BASTION_PROXY_TRUSTED_HOPS=1)
    assert _whoami(app, **{"X-Forwarded-For": "FE80::1%eth0"})["ip"] == "fe80::1"


@pytest.mark.parametrize("address", ["::1%' OR '1'='1", "::1%lo x"], ids=["quotes", "space"])
def test_zone_injection_is_neither_loopback_nor_trusted(address: str) -> None:
    """is_loopback and in_networks refuse an address whose zone is not an interface name."""
    networks = load_config({}, {"proxy_trusted_cidrs": ["::1/128"]}).proxy.trusted_cidrs
    assert (is_loopback(address), in_networks(address, networks)) == (False, False)
    assert (is_loopback("::1%lo"), in_networks("::1%lo", networks)) == (True, True)
