"""CSRF: Fetch Metadata and Origin checks, the token fallback, exemptions and rejections."""

from __future__ import annotations

import base64
import logging
import typing as t
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from flask import Blueprint, Flask, render_template_string, request, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from flask.views import MethodView
from werkzeug.test import TestResponse

from flask_bastion import (
    ConfigurationError,
    CSRFError,
    csrf,
    csrf_exempt,
    csrf_token,
    rotate_csrf_secret,
    signals,
    validate_csrf,
)
from flask_bastion.csrf import (
    ANONYMOUS_COOKIE,
    REASON_CROSS_ORIGIN,
    REASON_NO_SECRET,
    REASON_NULL_ORIGIN,
    REASON_ORIGIN_MISMATCH,
    REASON_TOKEN_INVALID,
    REASON_TOKEN_MISSING,
    SESSION_KEY,
)
from flask_bastion.sessions import PRIVATE, rotate_session

from .conftest import HTTPS, SECRET, make_app

SAFE = ["GET", "HEAD", "OPTIONS"]
UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]
EVIL = "https://evil.example"
HOSTS = ["localhost", "www.example.org", "10.0.0.5"]


@dataclass
class Site:
    """An app with a state-changing view ``/act`` that counts its calls."""

    app: Flask
    calls: list[str] = field(default_factory=list)

    def client(self) -> FlaskClient:
        return self.app.test_client()


def build(**config: t.Any) -> Site:
    """``make_app`` plus ``/act`` (every method), ``/token``, ``/login`` and ``/rotate``."""
    app = make_app(**{"TRUSTED_HOSTS": HOSTS, **config})
    site = Site(app)

    @app.route("/act", methods=[*SAFE, *UNSAFE])
    def act() -> str:
        site.calls.append(request.method)
        return "done"

    @app.get("/token")
    def token() -> dict[str, str]:
        return {"token": csrf_token()}

    @app.get("/login")
    def login() -> str:
        session["user"] = "alice"
        return "ok"

    @app.get("/rotate")
    def rotate() -> str:
        rotate_csrf_secret()
        return "ok"

    @app.get("/rotate-session")
    def rotate_whole_session() -> str:
        rotate_session()
        return "ok"

    @app.get("/secret")
    def secret() -> dict[str, t.Any]:
        return {"secret": session.get(SESSION_KEY)}

    return site


@pytest.fixture
def site() -> Site:
    return build()


@pytest.fixture
def rejections(site: Site) -> Iterator[list[str]]:
    """Reasons sent on ``csrf_rejected`` by ``site.app``."""
    seen: list[str] = []

    def record(sender: Flask, reason: str, **extra: t.Any) -> None:
        seen.append(reason)

    with signals.csrf_rejected.connected_to(record, site.app):
        yield seen


def send(
    client: FlaskClient,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    data: dict[str, str] | None = None,
    base_url: str = HTTPS,
    path: str = "/act",
) -> TestResponse:
    return client.open(path, method=method, headers=headers, data=data, base_url=base_url)


def token_for(client: FlaskClient) -> str:
    """A token for the client: bound to its session if it has one, else to its anonymous
    cookie (set by this response when the client had none)."""
    return t.cast(str, client.get("/token", base_url=HTTPS).get_json()["token"])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def reason_of(response: TestResponse) -> str | None:
    """The problem document's detail of a 403, or ``None`` for any other status."""
    if response.status_code != 403:
        return None
    return t.cast(str, response.get_json(force=True)["detail"])


def json_send(
    client: FlaskClient, headers: dict[str, str] | None = None, **kw: t.Any
) -> TestResponse:
    return send(client, {"Accept": "application/json", **(headers or {})}, **kw)


# -- Fetch Metadata ---------------------------------------------------------------------------

SITES = [
    pytest.param("same-origin", True, id="same-origin"),
    pytest.param("none", True, id="none"),
    pytest.param("same-site", False, id="same-site"),
    pytest.param("cross-site", False, id="cross-site"),
    pytest.param("somewhere-new", False, id="unknown-value"),
]


@pytest.mark.parametrize("method", SAFE + UNSAFE, ids=str.lower)
@pytest.mark.parametrize(("fetch_site", "passes"), SITES)
def test_sec_fetch_site_by_method(site: Site, fetch_site: str, passes: bool, method: str) -> None:
    """Safe methods always pass; unsafe ones pass only same-origin or user-initiated."""
    response = send(site.client(), {"Sec-Fetch-Site": fetch_site}, method=method)
    allowed = passes or method in SAFE
    assert response.status_code == (200 if allowed else 403)
    assert site.calls == ([method] if allowed else [])


def test_every_unsafe_method_is_checked_whatever_the_view_saw_first(site: Site) -> None:
    """Invented and lower-case unsafe methods are checked like POST on a route that takes
    them, though the view's first requests were safe ones (which skip the check)."""
    app = site.app

    @app.route("/dav", methods=["GET", "PROPFIND", "PURGE"])
    def dav() -> str:
        site.calls.append(request.method)
        return "dav"

    client = site.client()
    cross = {"Sec-Fetch-Site": "cross-site"}
    for method in ("GET", "HEAD", "OPTIONS"):
        assert send(client, cross, method=method, path="/dav").status_code == 200
    site.calls.clear()
    for method in ("PROPFIND", "purge", "post"):
        path = "/act" if method == "post" else "/dav"
        override = {"REQUEST_METHOD": method}
        response = client.open(path, headers=cross, base_url=HTTPS, environ_overrides=override)
        assert response.status_code == 403, method
    assert site.calls == []
    assert (
        send(client, {"Sec-Fetch-Site": "same-origin"}, method="PURGE", path="/dav").status_code
        == 200
    )


@pytest.mark.parametrize("fetch_site", ["same-site", "cross-site"])
def test_cross_site_reason(site: Site, fetch_site: str) -> None:
    """A cross-origin Sec-Fetch-Site is rejected with REASON_CROSS_ORIGIN."""
    response = json_send(site.client(), {"Sec-Fetch-Site": fetch_site, "Origin": EVIL})
    assert reason_of(response) == REASON_CROSS_ORIGIN


def test_sec_fetch_site_wins_over_matching_origin(site: Site) -> None:
    """Sec-Fetch-Site: cross-site is rejected even when Origin names this site."""
    response = json_send(site.client(), {"Sec-Fetch-Site": "cross-site", "Origin": HTTPS})
    assert reason_of(response) == REASON_CROSS_ORIGIN
    assert site.calls == []


def test_same_origin_passes_with_any_origin_header(site: Site) -> None:
    """Sec-Fetch-Site: same-origin is decisive; the Origin header is not consulted."""
    response = send(site.client(), {"Sec-Fetch-Site": "same-origin", "Origin": "null"})
    assert response.status_code == 200


# -- Origin (browsers without Sec-Fetch-Site) --------------------------------------------------

ORIGINS = [
    pytest.param((), HTTPS, None, id="same-origin"),
    pytest.param((), "https://localhost:443", None, id="default-port-normalised"),
    pytest.param((), "HTTPS://LocalHost", None, id="case-insensitive"),
    pytest.param((), "http://localhost", REASON_ORIGIN_MISMATCH, id="other-scheme"),
    pytest.param((), "https://localhost:8443", REASON_ORIGIN_MISMATCH, id="other-port"),
    pytest.param((), EVIL, REASON_ORIGIN_MISMATCH, id="other-host"),
    pytest.param((), "https://localhost.evil.example", REASON_ORIGIN_MISMATCH, id="host-prefix"),
    pytest.param((), "https://localhost/path", REASON_ORIGIN_MISMATCH, id="with-path"),
    pytest.param((), "localhost", REASON_ORIGIN_MISMATCH, id="no-scheme"),
    pytest.param((), "null", REASON_NULL_ORIGIN, id="null"),
    pytest.param(("https://admin.example.org",), "https://admin.example.org", None, id="trusted"),
    pytest.param(
        ("https://admin.example.org:443",),
        "https://admin.example.org",
        None,
        id="trusted-with-default-port",
    ),
    pytest.param(
        ("https://admin.example.org",),
        "https://admin.example.org:8443",
        REASON_ORIGIN_MISMATCH,
        id="trusted-other-port",
    ),
    pytest.param(
        ("https://admin.example.org",),
        "http://admin.example.org",
        REASON_ORIGIN_MISMATCH,
        id="trusted-other-scheme",
    ),
    pytest.param(("https://*.example.org",), "https://a.example.org", None, id="wildcard-one"),
    pytest.param(
        ("https://*.example.org",), "https://A-1.Example.org", None, id="wildcard-case-and-dash"
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://a.b.example.org",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-two-labels",
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://example.org",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-apex",
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://.example.org",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-empty-label",
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://evil-example.org",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-suffix-without-dot",
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://a.example.org.evil.example",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-as-prefix",
    ),
    pytest.param(
        ("https://*.example.org",),
        "http://a.example.org",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-other-scheme",
    ),
    pytest.param(
        ("https://*.example.org",),
        "https://a.example.org:8443",
        REASON_ORIGIN_MISMATCH,
        id="wildcard-other-port",
    ),
    pytest.param(
        ("https://*.example.org:8443",),
        "https://a.example.org:8443",
        None,
        id="wildcard-with-port",
    ),
    pytest.param(
        ("https://a.*.example.org",),
        "https://a.b.example.org",
        REASON_ORIGIN_MISMATCH,
        id="inner-star-never-matches",
    ),
    pytest.param(("https://*.example.org",), "null", REASON_NULL_ORIGIN, id="null-with-wildcard"),
]


@pytest.mark.parametrize(("trusted", "origin", "reason"), ORIGINS)
def test_origin_without_sec_fetch_site(
    trusted: tuple[str, ...], origin: str, reason: str | None
) -> None:
    """Without Sec-Fetch-Site, Origin must be this site's origin or a trusted one."""
    target = build(BASTION_CSRF_TRUSTED_ORIGINS=list(trusted))
    response = json_send(target.client(), {"Origin": origin})
    assert reason_of(response) == reason
    assert target.calls == ([] if reason else ["POST"])


@pytest.mark.parametrize(
    ("fetch_site", "origin", "passes"),
    [
        pytest.param("cross-site", "https://admin.example.org", True, id="cross-site-trusted"),
        pytest.param("same-site", "https://a.example.org", True, id="same-site-wildcard"),
        pytest.param("cross-site", "https://a.b.example.org", False, id="cross-site-untrusted"),
        pytest.param("cross-site", "null", False, id="cross-site-null"),
    ],
)
def test_trusted_origin_with_sec_fetch_site(fetch_site: str, origin: str, passes: bool) -> None:
    """A cross-origin Sec-Fetch-Site passes only when its Origin is trusted."""
    target = build(
        BASTION_CSRF_TRUSTED_ORIGINS=["https://admin.example.org", "https://*.example.org"]
    )
    response = json_send(target.client(), {"Sec-Fetch-Site": fetch_site, "Origin": origin})
    assert reason_of(response) == (None if passes else REASON_CROSS_ORIGIN)


@pytest.mark.parametrize(
    "entry",
    ["https://*.co.uk", "https://*.com.au", "https://*.github.io", "https://*.CO.UK"],
    ids=["co-uk", "com-au", "github-io", "upper-case"],
)
def test_wildcard_over_a_public_suffix_is_refused(entry: str) -> None:
    """A trusted wildcard over a public suffix would let any site registered or
    published under it forge requests: the application does not start with it."""
    with pytest.raises(ConfigurationError) as info:
        build(BASTION_CSRF_TRUSTED_ORIGINS=[entry])
    assert info.value.key == "BASTION_CSRF_TRUSTED_ORIGINS"
    assert "would trust every site under the public suffix" in info.value.message


def test_wildcard_under_a_public_suffix_trusts_only_its_subdomains() -> None:
    """``https://*.example.co.uk`` trusts its subdomains, not a stranger's site under
    ``co.uk``."""
    target = build(BASTION_CSRF_TRUSTED_ORIGINS=["https://*.example.co.uk"])
    client = target.client()
    stranger = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.co.uk"}
    assert reason_of(json_send(client, stranger)) == REASON_CROSS_ORIGIN
    partner = {"Sec-Fetch-Site": "cross-site", "Origin": "https://admin.example.co.uk"}
    assert reason_of(json_send(client, partner)) is None
    assert target.calls == ["POST"]


def test_cross_site_without_origin_is_not_trusted() -> None:
    """Sec-Fetch-Site: cross-site without an Origin header cannot match a trusted origin."""
    target = build(BASTION_CSRF_TRUSTED_ORIGINS=["https://admin.example.org"])
    response = json_send(target.client(), {"Sec-Fetch-Site": "cross-site"})
    assert reason_of(response) == REASON_CROSS_ORIGIN


def test_empty_sec_fetch_site_falls_back_to_origin(site: Site) -> None:
    """An empty Sec-Fetch-Site counts as absent, so the Origin check decides."""
    response = json_send(site.client(), {"Sec-Fetch-Site": "", "Origin": EVIL})
    assert reason_of(response) == REASON_ORIGIN_MISMATCH


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        pytest.param("https://localhost:8443", "https://localhost:8443", id="https-port"),
        pytest.param("http://localhost:5000", "http://localhost:5000", id="http-port"),
        pytest.param("http://localhost", "http://localhost:80", id="http-default-port"),
    ],
)
def test_own_origin_with_port_passes(base_url: str, origin: str) -> None:
    """The request's own origin includes its port; default ports are normalised away."""
    target = build(BASTION_PROFILE="development")  # plain HTTP on loopback
    response = send(target.client(), {"Origin": origin}, base_url=base_url)
    assert response.status_code == 200


# -- proxy-settled origin ---------------------------------------------------------------------

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "www.example.org"}


def test_origin_matches_host_and_scheme_from_trusted_proxy() -> None:
    """Behind a trusted proxy, the origin is the forwarded scheme and host."""
    target = build(BASTION_PROXY_TRUSTED_HOPS=1)
    response = send(
        target.client(),
        {**FORWARDED, "Origin": "https://www.example.org"},
        base_url="http://10.0.0.5",
    )
    assert response.status_code == 200
    assert target.calls == ["POST"]


def test_internal_origin_rejected_behind_trusted_proxy() -> None:
    """Behind a trusted proxy, the proxy's own address is not the site's origin."""
    target = build(BASTION_PROXY_TRUSTED_HOPS=1)
    response = json_send(
        target.client(), {**FORWARDED, "Origin": "http://10.0.0.5"}, base_url="http://10.0.0.5"
    )
    assert reason_of(response) == REASON_ORIGIN_MISMATCH


def test_forwarded_host_from_untrusted_client_is_ignored(site: Site) -> None:
    """A client cannot make its Origin match by sending X-Forwarded-Host itself."""
    response = json_send(
        site.client(), {"X-Forwarded-Host": "evil.example", "Origin": EVIL}, base_url=HTTPS
    )
    assert reason_of(response) == REASON_ORIGIN_MISMATCH
    assert site.calls == []


def test_forwarded_host_from_untrusted_client_does_not_change_own_origin(site: Site) -> None:
    """Without proxy trust, the request's real host stays its origin."""
    response = json_send(
        site.client(),
        {"X-Forwarded-Host": "www.example.org", "Origin": "https://www.example.org"},
        base_url="https://10.0.0.5",
    )
    assert reason_of(response) == REASON_ORIGIN_MISMATCH


# -- neither header: ambient credentials decide -------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE, ids=str.lower)
def test_no_headers_no_cookie_passes(site: Site, method: str) -> None:
    """Without Sec-Fetch-Site, Origin and cookies there is no authority to abuse."""
    assert send(site.client(), method=method).status_code == 200
    assert site.calls == [method]


@pytest.mark.parametrize("method", UNSAFE, ids=str.lower)
def test_no_headers_with_session_cookie_needs_token(site: Site, method: str) -> None:
    """With the session cookie and neither header, a request without a token is rejected."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    assert reason_of(json_send(client, method=method)) == REASON_TOKEN_MISSING
    assert site.calls == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("remember_token", id="remember-me"),
        pytest.param("auth", id="app-own-login-cookie"),
        pytest.param("theme", id="unrelated"),
        pytest.param("__Host-session", id="bastion-session-name"),
    ],
)
def test_forged_post_with_any_cookie_needs_token(site: Site, name: str) -> None:
    """A forged post carrying neither header and only a non-session cookie is rejected.

    A remember-me cookie logs the user back in as well as the session cookie does."""
    client = site.client()
    client.set_cookie(name, "u1.signature", domain="localhost")
    assert reason_of(json_send(client)) == REASON_TOKEN_MISSING
    assert site.calls == []


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic dTpw", id="basic"),
        pytest.param("basic dTpw", id="basic-lower-case"),
        pytest.param("Digest username=u, response=x", id="digest"),
        pytest.param("Negotiate YII=", id="negotiate"),
        pytest.param("NTLM TlRM", id="ntlm"),
    ],
)
def test_forged_post_with_ambient_authorization_needs_token(site: Site, authorization: str) -> None:
    """Credentials the browser replays by itself (HTTP auth) call for the token too."""
    response = json_send(site.client(), {"Authorization": authorization})
    assert reason_of(response) == REASON_TOKEN_MISSING
    assert site.calls == []


def test_basic_auth_without_session_has_no_secret(site: Site) -> None:
    """A token sent with Basic auth but no session cannot verify: there is no secret."""
    response = json_send(
        site.client(), {"Authorization": "Basic dTpw"}, data={"csrf_token": "A" * 86}
    )
    assert reason_of(response) == REASON_NO_SECRET
    assert site.calls == []


def test_basic_auth_client_with_session_token_passes(site: Site) -> None:
    """A Basic-auth client that keeps its cookies and sends the token is served."""
    client = site.client()
    basic = {"Authorization": "Basic dTpw"}
    token = client.get("/token", headers=basic, base_url=HTTPS).get_json()["token"]
    assert send(client, {**basic, "X-CSRF-Token": token}).status_code == 200
    assert site.calls == ["POST"]


def test_basic_auth_client_declaring_same_origin_passes(site: Site) -> None:
    """A non-browser client may send Sec-Fetch-Site: same-origin, which no page can forge."""
    response = send(site.client(), {"Authorization": "Basic dTpw", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200


def test_cookie_with_valid_token_passes(site: Site) -> None:
    """Any cookie plus a valid token passes."""
    client = site.client()
    token = token_for(client)
    client.set_cookie("remember_token", "u1.signature", domain="localhost")
    assert send(client, data={"csrf_token": token}).status_code == 200


def test_custom_session_interface_cookie_needs_token() -> None:
    """A session interface with its own cookie name is covered without configuration."""

    class NamedInterface(SecureCookieSessionInterface):
        cookie_name = "sid"

        def get_cookie_name(self, app: Flask) -> str:
            return self.cookie_name

    target = build()
    target.app.session_interface = NamedInterface()
    client = target.client()
    client.set_cookie("sid", "anything", domain="localhost")
    assert reason_of(json_send(client)) == REASON_TOKEN_MISSING


# -- the token --------------------------------------------------------------------------------


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip(token: str) -> str:
    return token[:10] + ("A" if token[10] != "A" else "B") + token[11:]


def _last(token: str, bits: int) -> str:
    """``token`` with ``bits`` XORed into the 6-bit value of its last character. Of its
    six bits only the top two carry data (86 characters hold 64 bytes)."""
    return token[:-1] + ALPHABET[ALPHABET.index(token[-1]) ^ bits]


TOKENS: list[t.Any] = [
    pytest.param(lambda good: good, None, id="valid"),
    pytest.param(lambda good: "", REASON_TOKEN_MISSING, id="empty"),
    pytest.param(_flip, REASON_TOKEN_INVALID, id="tampered-mask"),
    pytest.param(lambda good: _last(good, 0b010000), REASON_TOKEN_INVALID, id="tampered-tail"),
    pytest.param(lambda good: _last(good, 0b000001), REASON_TOKEN_INVALID, id="non-canonical"),
    pytest.param(lambda good: good[:-1], REASON_TOKEN_INVALID, id="one-char-short"),
    pytest.param(lambda good: good + "A", REASON_TOKEN_INVALID, id="one-char-long"),
    pytest.param(lambda good: good + "==", REASON_TOKEN_INVALID, id="padded"),
    pytest.param(lambda good: good[:43], REASON_TOKEN_INVALID, id="secret-length"),
    pytest.param(lambda good: "é" * len(good), REASON_TOKEN_INVALID, id="non-ascii"),
    pytest.param(lambda good: "+" + good[1:], REASON_TOKEN_INVALID, id="standard-base64-char"),
    pytest.param(lambda good: "A" * len(good), REASON_TOKEN_INVALID, id="all-zero-mask"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "reason"), TOKENS)
def test_token_in_form_field(site: Site, make: Callable[[str], str], reason: str | None) -> None:
    """The form field token is checked: only the token as issued passes."""
    client = site.client()
    response = json_send(client, data={"csrf_token": make(token_for(client))})
    assert reason_of(response) == reason
    assert site.calls == ([] if reason else ["POST"])


@pytest.mark.parametrize(("make", "reason"), [p for p in TOKENS if "non-ascii" not in str(p.id)])
def test_token_in_header(site: Site, make: Callable[[str], str], reason: str | None) -> None:
    """The X-CSRF-Token header is checked like the form field."""
    client = site.client()
    response = json_send(client, {"X-CSRF-Token": make(token_for(client))})
    assert reason_of(response) == reason


def test_non_ascii_header_token_rejected(site: Site) -> None:
    """A header token with bytes outside ASCII is invalid, not a 500."""
    client = site.client()
    token_for(client)
    response = json_send(client, {"X-CSRF-Token": "\xe9" * 86})
    assert reason_of(response) == REASON_TOKEN_INVALID


def test_token_from_another_session_rejected(site: Site) -> None:
    """A token issued to another session does not verify."""
    victim, attacker = site.client(), site.client()
    token_for(victim)
    response = json_send(victim, data={"csrf_token": token_for(attacker)})
    assert reason_of(response) == REASON_TOKEN_INVALID


def test_header_is_read_before_form(site: Site) -> None:
    """When both are sent, the header token is the one checked."""
    client = site.client()
    good = token_for(client)
    response = json_send(client, {"X-CSRF-Token": _flip(good)}, data={"csrf_token": good})
    assert reason_of(response) == REASON_TOKEN_INVALID


def test_token_without_session_secret(site: Site) -> None:
    """A token sent with a session that never issued one is rejected with REASON_NO_SECRET."""
    issuer, client = site.client(), site.client()
    client.get("/login", base_url=HTTPS)
    response = json_send(client, data={"csrf_token": token_for(issuer)})
    assert reason_of(response) == REASON_NO_SECRET


def test_rotation_invalidates_old_tokens(site: Site) -> None:
    """After rotate_csrf_secret() a token issued before it no longer verifies."""
    client = site.client()
    old = token_for(client)
    client.get("/login", base_url=HTTPS)
    client.get("/rotate", base_url=HTTPS)
    assert reason_of(json_send(client, data={"csrf_token": old})) == REASON_NO_SECRET


def test_rotation_then_new_token_verifies(site: Site) -> None:
    """After rotation a freshly issued token verifies and the old one does not."""
    client = site.client()
    old = token_for(client)
    client.get("/login", base_url=HTTPS)
    client.get("/rotate", base_url=HTTPS)
    new = token_for(client)
    assert reason_of(json_send(client, data={"csrf_token": new})) is None
    assert reason_of(json_send(client, data={"csrf_token": old})) == REASON_TOKEN_INVALID


def test_session_rotation_at_login_rotates_the_csrf_secret(site: Site) -> None:
    """rotate_session(), which login calls, also replaces the CSRF secret: a token read
    from the session before login does not verify after it."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    old = token_for(client)
    secret_before = client.get("/secret", base_url=HTTPS).get_json()["secret"]
    assert secret_before is not None
    client.get("/rotate-session", base_url=HTTPS)
    assert client.get("/secret", base_url=HTTPS).get_json()["secret"] is None
    assert reason_of(json_send(client, data={"csrf_token": old})) == REASON_NO_SECRET
    new = token_for(client)
    assert client.get("/secret", base_url=HTTPS).get_json()["secret"] != secret_before
    assert reason_of(json_send(client, data={"csrf_token": new})) is None
    assert reason_of(json_send(client, data={"csrf_token": old})) == REASON_TOKEN_INVALID


def test_tokens_are_masked_differently(site: Site) -> None:
    """Each call returns a different token (BREACH: the secret never repeats on the wire)."""
    client = site.client()
    tokens = [token_for(client) for _ in range(8)]
    assert len(set(tokens)) == 8
    assert len({token[43:] for token in tokens}) == 8  # the masked halves differ too


def test_every_masked_token_verifies(site: Site) -> None:
    """Every token issued to a session verifies, whichever was issued last."""
    client = site.client()
    tokens = [token_for(client) for _ in range(5)]
    assert [send(client, data={"csrf_token": tok}).status_code for tok in tokens] == [200] * 5


def test_token_is_urlsafe_base64_of_64_bytes(site: Site) -> None:
    """The token is unpadded base64url of mask || masked secret (64 bytes)."""
    token = token_for(site.client())
    assert len(token) == 86
    assert len(base64.urlsafe_b64decode(token + "==")) == 64


def test_secret_stored_in_session_as_base64url(site: Site) -> None:
    """A session holds 32 random bytes, base64url, under _csrf_secret."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    token_for(client)
    stored = client.get("/secret", base_url=HTTPS).get_json()["secret"]
    assert len(base64.urlsafe_b64decode(stored + "=")) == 32


def test_token_does_not_contain_the_secret(site: Site) -> None:
    """Neither half of the token is the stored secret."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    token = base64.urlsafe_b64decode(token_for(client) + "==")
    stored = client.get("/secret", base_url=HTTPS).get_json()["secret"]
    secret = base64.urlsafe_b64decode(stored + "=")
    assert secret not in (token[:32], token[32:])


def test_anonymous_page_stores_no_secret(site: Site) -> None:
    """A page that renders no token creates no session (nothing stored for visitors)."""
    response = site.client().get("/", base_url=HTTPS)
    assert response.headers.getlist("Set-Cookie") == []


def test_rendering_a_token_for_a_session_stores_its_secret(site: Site) -> None:
    """For a visitor with a session, csrf_token() keeps the secret in the session."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    assert client.get("/secret", base_url=HTTPS).get_json()["secret"] is None
    response = client.get("/token", base_url=HTTPS)
    assert client.get("/secret", base_url=HTTPS).get_json()["secret"] is not None
    assert [c for c in response.headers.getlist("Set-Cookie") if ANONYMOUS_COOKIE in c] == []


# -- anonymous visitors: a token without a session --------------------------------------------


def store_size(app: Flask) -> int:
    """Sessions in the app's memory store."""
    return len(app.session_interface.store._records)  # type: ignore[attr-defined]


def anonymous_cookie(response: TestResponse) -> str:
    """The one Set-Cookie header of ``response``, which must be the anonymous cookie."""
    (header,) = response.headers.getlist("Set-Cookie")
    assert header.startswith(f"{ANONYMOUS_COOKIE}="), header
    return header


def test_anonymous_token_creates_no_session(site: Site) -> None:
    """Rendering tokens for visitors without a session stores nothing, however many."""
    for _ in range(5):
        response = site.client().get("/token", base_url=HTTPS)
        anonymous_cookie(response)
    assert store_size(site.app) == 0


def test_anonymous_cookie_is_hardened(site: Site) -> None:
    """The anonymous cookie is __Host-csrf: Secure, HttpOnly, SameSite=Lax, Path=/, no
    Domain and no expiry."""
    header = anonymous_cookie(site.client().get("/token", base_url=HTTPS))
    value, *attributes = header.split("; ")
    assert len(value.removeprefix(f"{ANONYMOUS_COOKIE}=")) == 43  # 256 bits, base64url
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} == set(attributes)


def test_anonymous_cookie_in_development_profile() -> None:
    """The development profile drops the prefix and Secure (plain HTTP on loopback)."""
    target = build(BASTION_PROFILE="development", TRUSTED_HOSTS=None)
    client = target.client()
    response = client.get("/token", base_url="http://localhost")
    (header,) = response.headers.getlist("Set-Cookie")
    assert header.startswith("csrf=")
    assert "Secure" not in header
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= set(header.split("; "))
    token = response.get_json()["token"]
    assert send(client, data={"csrf_token": token}, base_url="http://localhost").status_code == 200


def test_old_browser_with_only_the_anonymous_cookie_passes(site: Site) -> None:
    """A browser sending neither Sec-Fetch-Site nor Origin posts the form's token with
    only the anonymous cookie: it passes, and still no session exists."""
    client = site.client()
    token = token_for(client)
    assert [c.key for c in client._cookies.values()] == [ANONYMOUS_COOKIE]
    assert send(client, data={"csrf_token": token}).status_code == 200
    assert site.calls == ["POST"]
    assert store_size(site.app) == 0


def test_anonymous_cookie_is_kept_and_reused(site: Site) -> None:
    """A visitor who has the cookie gets no new one, and every token they got verifies."""
    client = site.client()
    first = token_for(client)
    response = client.get("/token", base_url=HTTPS)
    assert response.headers.getlist("Set-Cookie") == []
    second = response.get_json()["token"]
    assert [send(client, data={"csrf_token": tok}).status_code for tok in (first, second)] == [
        200,
        200,
    ]


def test_anonymous_token_without_its_cookie_has_no_secret(site: Site) -> None:
    """A token whose cookie the request does not carry cannot verify."""
    token = token_for(site.client())
    response = json_send(site.client(), {"Authorization": "Basic dTpw"}, data={"csrf_token": token})
    assert reason_of(response) == REASON_NO_SECRET


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("A" * 42, id="short"),
        pytest.param("A" * 44, id="long"),
        pytest.param("é" * 43, id="non-ascii"),
        pytest.param("B" * 43, id="non-canonical"),
    ],
)
def test_malformed_anonymous_cookie_is_replaced(site: Site, value: str) -> None:
    """A cookie value that is not 32 bytes of canonical base64url is never used: the
    visitor gets a fresh cookie, and tokens bound to it verify."""
    client = site.client()
    client.set_cookie(ANONYMOUS_COOKIE, value, domain="localhost")
    response = client.get("/token", base_url=HTTPS)
    assert anonymous_cookie(response).split(";")[0] != f"{ANONYMOUS_COOKIE}={value}"
    assert send(client, data={"csrf_token": response.get_json()["token"]}).status_code == 200


def test_planted_cookie_with_a_token_made_from_it_is_rejected(site: Site) -> None:
    """An attacker who can set the cookie cannot make a matching token from its value:
    the token is bound through an HMAC under a key only the server has."""
    chosen = bytes(range(32))
    victim = site.client()
    victim.set_cookie(ANONYMOUS_COOKIE, _b64(chosen), domain="localhost")
    mask = bytes(32)
    forged = _b64(mask + chosen)  # plain double-submit: the cookie value is the secret
    assert reason_of(json_send(victim, data={"csrf_token": forged})) == REASON_TOKEN_INVALID
    assert site.calls == []


def test_anonymous_token_is_bound_to_the_secret_key() -> None:
    """The same cookie and token do not verify on an app with another SECRET_KEY."""
    first, second = build(), build(SECRET_KEY="b" * 16 + SECRET[16:])
    client = first.client()
    token = token_for(client)
    cookie = client.get_cookie(ANONYMOUS_COOKIE)
    assert cookie is not None
    other = second.client()
    other.set_cookie(ANONYMOUS_COOKIE, cookie.value, domain="localhost")
    assert reason_of(json_send(other, data={"csrf_token": token})) == REASON_TOKEN_INVALID


def test_anonymous_token_survives_secret_key_rotation() -> None:
    """With the old key in SECRET_KEY_FALLBACKS, tokens issued under it still verify."""
    old_key = "c" * 16 + SECRET[16:]
    first, second = build(SECRET_KEY=old_key), build(SECRET_KEY_FALLBACKS=[old_key])
    client = first.client()
    token = token_for(client)
    cookie = client.get_cookie(ANONYMOUS_COOKIE)
    assert cookie is not None
    other = second.client()
    other.set_cookie(ANONYMOUS_COOKIE, cookie.value, domain="localhost")
    assert send(other, data={"csrf_token": token}).status_code == 200


def test_anonymous_token_needs_a_secret_key() -> None:
    """Without SECRET_KEY, a token for a visitor without a session is refused loudly."""
    app = Flask(__name__)
    with app.test_request_context(), pytest.raises(RuntimeError, match="SECRET_KEY"):
        csrf_token()


def test_anonymous_token_does_not_verify_once_the_visitor_has_a_session(site: Site) -> None:
    """Login CSRF: a token bound to the anonymous cookie (which an attacker may have
    planted with a token of their own) is worthless once the visitor has a session."""
    client = site.client()
    anonymous = token_for(client)
    client.get("/login", base_url=HTTPS)
    assert reason_of(json_send(client, data={"csrf_token": anonymous})) == REASON_NO_SECRET
    session_token = token_for(client)
    assert reason_of(json_send(client, data={"csrf_token": anonymous})) == REASON_TOKEN_INVALID
    assert send(client, data={"csrf_token": session_token}).status_code == 200


def test_login_rotation_clears_the_anonymous_cookie(site: Site) -> None:
    """rotate_session() at login clears the anonymous cookie on its response."""
    client = site.client()
    token_for(client)
    response = client.get("/rotate-session", base_url=HTTPS)
    cleared = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(ANONYMOUS_COOKIE)]
    assert len(cleared) == 1
    assert cleared[0].startswith(f"{ANONYMOUS_COOKIE}=;")
    assert "Expires=Thu, 01 Jan 1970" in cleared[0]
    assert client.get_cookie(ANONYMOUS_COOKIE) is None


def test_rotation_replaces_an_anonymous_cookie_issued_in_the_same_request(site: Site) -> None:
    """A token issued after rotate_csrf_secret() in one request is bound to a new cookie,
    and a token issued before it in that request no longer verifies."""

    @site.app.get("/token-rotate-token")
    def token_rotate_token() -> dict[str, str]:
        before = csrf_token()
        rotate_csrf_secret()
        return {"before": before, "after": csrf_token()}

    client = site.client()
    token_for(client)
    old = client.get_cookie(ANONYMOUS_COOKIE)
    tokens = client.get("/token-rotate-token", base_url=HTTPS).get_json()
    new = client.get_cookie(ANONYMOUS_COOKIE)
    assert old is not None and new is not None and new.value != old.value
    assert send(client, data={"csrf_token": tokens["after"]}).status_code == 200
    assert reason_of(json_send(client, data={"csrf_token": tokens["before"]})) == (
        REASON_TOKEN_INVALID
    )


def test_token_response_is_private(site: Site) -> None:
    """A response carrying a token is private, no-store and varies on Cookie."""
    response = site.client().get("/token", base_url=HTTPS)
    assert response.headers["Cache-Control"] == PRIVATE
    assert "Cookie" in response.vary


def test_token_response_is_private_with_flask_sessions() -> None:
    """So it is with Flask's own cookie session, where the token needs no session."""
    target = build(BASTION_SESSIONS_ENABLED=False)
    response = target.client().get("/token", base_url=HTTPS)
    assert response.headers["Cache-Control"] == PRIVATE
    assert "Cookie" in response.vary
    anonymous_cookie(response)


def test_view_cache_control_wins_over_token_privacy(site: Site) -> None:
    """A view that sets its own Cache-Control keeps it."""

    @site.app.get("/token-cached")
    def token_cached() -> tuple[str, dict[str, str]]:
        return csrf_token(), {"Cache-Control": "no-cache"}

    response = site.client().get("/token-cached", base_url=HTTPS)
    assert response.headers.getlist("Cache-Control") == ["no-cache"]
    assert "Cookie" in response.vary


def test_corrupt_stored_secret_is_replaced() -> None:
    """A stored secret that is not 32 base64url bytes is replaced, not trusted."""
    app = Flask(__name__)
    app.secret_key = SECRET
    with app.test_request_context():
        session[SESSION_KEY] = "not-a-secret"
        token = csrf_token()
        assert session[SESSION_KEY] != "not-a-secret"
        validate_csrf(token)
        assert len(base64.urlsafe_b64decode(session[SESSION_KEY] + "=")) == 32


@pytest.mark.parametrize(
    ("config", "headers", "data"),
    [
        pytest.param({"BASTION_CSRF_TOKEN_HEADER": "X-XSRF-Token"}, "X-XSRF-Token", None,
                     id="header"),
        pytest.param({"BASTION_CSRF_FIELD_NAME": "_csrf"}, None, "_csrf", id="field"),
    ],
)  # fmt: skip
def test_configured_names_are_read(
    config: dict[str, str], headers: str | None, data: str | None
) -> None:
    """BASTION_CSRF_TOKEN_HEADER and BASTION_CSRF_FIELD_NAME name where the token is read."""
    target = build(**config)
    client = target.client()
    token = token_for(client)
    response = send(
        client,
        {headers: token} if headers else None,
        data={data: token} if data else None,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("config", "headers", "data"),
    [
        pytest.param({"BASTION_CSRF_TOKEN_HEADER": "X-XSRF-Token"}, "X-CSRF-Token", None,
                     id="default-header"),
        pytest.param({"BASTION_CSRF_FIELD_NAME": "_csrf"}, None, "csrf_token",
                     id="default-field"),
    ],
)  # fmt: skip
def test_default_names_ignored_when_renamed(
    config: dict[str, str], headers: str | None, data: str | None
) -> None:
    """Once renamed, the default header or field is not read."""
    target = build(**config)
    client = target.client()
    token = token_for(client)
    response = json_send(
        client,
        {headers: token} if headers else None,
        data={data: token} if data else None,
    )
    assert reason_of(response) == REASON_TOKEN_MISSING


# -- template globals -------------------------------------------------------------------------


def _render(app: Flask, source: str, client: FlaskClient | None = None) -> str:
    @app.get("/render")
    def render() -> str:
        return render_template_string(source)

    return (client or app.test_client()).get("/render", base_url=HTTPS).get_data(as_text=True)


def test_csrf_field_renders_hidden_input(site: Site) -> None:
    """csrf_field() is a hidden input named csrf_token whose value verifies."""
    client = site.client()
    html = _render(site.app, "{{ csrf_field() }}", client)
    assert html.startswith('<input type="hidden" name="csrf_token" value="')
    token = html.split('value="')[1].split('"')[0]
    assert send(client, data={"csrf_token": token}).status_code == 200


def test_csrf_field_uses_configured_name() -> None:
    """csrf_field() uses BASTION_CSRF_FIELD_NAME."""
    html = _render(build(BASTION_CSRF_FIELD_NAME="_csrf").app, "{{ csrf_field() }}")
    assert 'name="_csrf"' in html


def test_csrf_field_escapes_value(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value is HTML-escaped, whatever the token contains."""
    monkeypatch.setattr(csrf.tokens, "csrf_token", lambda: '"><script>x</script>')
    html = _render(site.app, "{{ csrf_field() }}")
    assert "<script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html


def test_csrf_meta_renders_meta_tag(site: Site) -> None:
    """csrf_meta() is <meta name="csrf-token"> carrying a verifying token."""
    client = site.client()
    html = _render(site.app, "{{ csrf_meta() }}", client)
    assert html.startswith('<meta name="csrf-token" content="')
    token = html.split('content="')[1].split('"')[0]
    assert send(client, {"X-CSRF-Token": token}).status_code == 200


def test_csrf_token_template_global(site: Site) -> None:
    """csrf_token() is a template global returning a verifying token."""
    client = site.client()
    token = _render(site.app, "{{ csrf_token() }}", client)
    assert send(client, data={"csrf_token": token}).status_code == 200


# -- public functions without the extension ---------------------------------------------------


def test_functions_work_without_the_extension() -> None:
    """csrf_token() and validate_csrf() work on an app without Flask-Bastion."""
    app = Flask(__name__)
    app.secret_key = SECRET
    with app.test_request_context():
        validate_csrf(csrf_token())
        with pytest.raises(CSRFError) as caught:
            validate_csrf(_flip(csrf_token()))
    assert caught.value.reason == REASON_TOKEN_INVALID


def test_csrf_field_without_the_extension_uses_default_name() -> None:
    """csrf_field() falls back to the default field name without the extension."""
    app = Flask(__name__)
    app.secret_key = SECRET
    with app.test_request_context():
        assert 'name="csrf_token"' in csrf.csrf_field()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("", REASON_TOKEN_MISSING, id="missing"),
        pytest.param("A" * 86, REASON_NO_SECRET, id="no-secret"),
    ],
)
def test_validate_csrf_reasons(token: str, reason: str) -> None:
    """validate_csrf() raises CSRFError with the reason of the failure."""
    app = Flask(__name__)
    app.secret_key = SECRET
    with app.test_request_context(), pytest.raises(CSRFError) as caught:
        validate_csrf(token)
    assert caught.value.reason == reason


def test_validate_csrf_signals_its_rejection() -> None:
    """A failed validate_csrf() is announced on csrf_rejected like any rejection."""
    app = Flask(__name__)
    app.secret_key = SECRET
    seen: list[str] = []
    with (
        signals.csrf_rejected.connected_to(
            lambda sender, reason, **extra: seen.append(reason), app
        ),
        app.test_request_context(),
        pytest.raises(CSRFError),
    ):
        validate_csrf("")
    assert seen == [REASON_TOKEN_MISSING]


# -- Authorization-only clients ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": EVIL}, id="cross-site"),
        pytest.param({"Origin": EVIL}, id="origin-mismatch"),
        pytest.param({}, id="no-headers"),
    ],
)
def test_bearer_without_cookies_passes(site: Site, headers: dict[str, str]) -> None:
    """A request authenticated only by a bearer token is not subject to CSRF."""
    response = send(site.client(), {"Authorization": "Bearer abc.def", **headers})
    assert response.status_code == 200
    assert site.calls == ["POST"]


def test_bearer_with_session_cookie_is_checked(site: Site) -> None:
    """Authorization plus the session cookie does not skip the check."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    response = json_send(client, {"Authorization": "Bearer abc", "Sec-Fetch-Site": "cross-site"})
    assert reason_of(response) == REASON_CROSS_ORIGIN


def test_bearer_with_session_cookie_needs_token(site: Site) -> None:
    """Authorization plus the session cookie and no headers needs the token."""
    client = site.client()
    client.get("/login", base_url=HTTPS)
    assert reason_of(json_send(client, {"Authorization": "Bearer abc"})) == REASON_TOKEN_MISSING


def test_bearer_with_remember_cookie_needs_token(site: Site) -> None:
    """Bearer plus a remember-me cookie and neither header needs the token."""
    client = site.client()
    client.set_cookie("remember_token", "u1.signature", domain="localhost")
    assert reason_of(json_send(client, {"Authorization": "Bearer abc"})) == REASON_TOKEN_MISSING
    assert site.calls == []


def test_bearer_with_any_cookie_is_checked(site: Site) -> None:
    """Any cookie at all, not only the session's, keeps a bearer request under the check."""
    client = site.client()
    client.set_cookie("remember", "1", domain="localhost")
    response = json_send(client, {"Authorization": "Bearer abc", "Sec-Fetch-Site": "cross-site"})
    assert reason_of(response) == REASON_CROSS_ORIGIN


@pytest.mark.parametrize(
    "authorization", ["Basic dTpw", "basic dTpw", "Digest x=1", "Negotiate YII=", "NTLM TlRM", ""]
)
def test_ambient_authorization_is_checked(site: Site, authorization: str) -> None:
    """Schemes the browser attaches by itself (Basic, Digest, ...) are ambient like cookies."""
    response = json_send(
        site.client(), {"Authorization": authorization, "Sec-Fetch-Site": "cross-site"}
    )
    assert reason_of(response) == REASON_CROSS_ORIGIN
    assert site.calls == []


# -- exemptions -------------------------------------------------------------------------------

CROSS = {"Sec-Fetch-Site": "cross-site", "Origin": EVIL}


def test_exempt_below_route() -> None:
    """@csrf_exempt under @app.route exempts the view."""
    target = build()

    @target.app.post("/hook")
    @csrf_exempt
    def hook() -> str:
        return "hooked"

    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_exempt_above_route() -> None:
    """@csrf_exempt over @app.route exempts the view too."""
    target = build()

    @csrf_exempt
    @target.app.post("/hook")
    def hook() -> str:
        return "hooked"

    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_exempt_view_leaves_others_protected() -> None:
    """Exempting one view does not exempt the rest of the app."""
    target = build()

    @target.app.post("/hook")
    @csrf_exempt
    def hook() -> str:
        return "hooked"

    assert send(target.client(), CROSS).status_code == 403


class Hook(MethodView):
    def post(self) -> str:
        return "hooked"


@csrf_exempt
class ExemptHook(Hook):
    pass


def test_exempt_method_view_class() -> None:
    """@csrf_exempt on a MethodView class exempts the views made from it."""
    target = build()
    target.app.add_url_rule("/hook", view_func=ExemptHook.as_view("hook"))
    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_exempt_as_view_function() -> None:
    """csrf_exempt() on the function from as_view() exempts it."""
    target = build()
    target.app.add_url_rule("/hook", view_func=csrf_exempt(Hook.as_view("hook")))
    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_unexempt_method_view_is_protected() -> None:
    """A MethodView without @csrf_exempt is checked."""
    target = build()
    target.app.add_url_rule("/hook", view_func=Hook.as_view("hook"))
    assert send(target.client(), CROSS, path="/hook").status_code == 403


def _blueprints(exempt_parent: bool) -> Site:
    target = build()
    parent, child, sibling = (
        Blueprint("parent", __name__),
        Blueprint("child", __name__),
        Blueprint("sibling", __name__),
    )
    for bp in (parent, child, sibling):

        @bp.post("/hook", endpoint="hook")
        def hook() -> str:
            return "hooked"

    if exempt_parent:
        csrf_exempt(parent)
    else:
        csrf_exempt(child)
    parent.register_blueprint(child, url_prefix="/child")
    target.app.register_blueprint(parent, url_prefix="/parent")
    target.app.register_blueprint(sibling, url_prefix="/sibling")
    return target


@pytest.mark.parametrize(
    ("exempt_parent", "path", "status"),
    [
        pytest.param(True, "/parent/hook", 200, id="exempt-blueprint"),
        pytest.param(True, "/parent/child/hook", 200, id="nested-in-exempt"),
        pytest.param(True, "/sibling/hook", 403, id="other-blueprint"),
        pytest.param(True, "/act", 403, id="app-view"),
        pytest.param(False, "/parent/child/hook", 200, id="exempt-child"),
        pytest.param(False, "/parent/hook", 403, id="parent-of-exempt-child"),
    ],
)
def test_blueprint_exemption(exempt_parent: bool, path: str, status: int) -> None:
    """csrf_exempt(blueprint) covers its views and nested blueprints, nothing else."""
    target = _blueprints(exempt_parent)
    assert send(target.client(), CROSS, path=path).status_code == status


def _hook_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.post("/hook")
    def hook() -> str:
        return "hooked"

    return bp


def _account_delete() -> str:
    return "deleted"


def test_app_route_named_like_exempt_blueprint_is_protected() -> None:
    """An application route whose endpoint starts with an exempt blueprint's name is
    checked: only routes the blueprint registered are exempt."""
    target = build()
    target.app.register_blueprint(csrf_exempt(_hook_blueprint("hooks")), url_prefix="/hooks")
    target.app.add_url_rule(
        "/account/delete",
        endpoint="hooks.account_delete",
        view_func=_account_delete,
        methods=["POST"],
    )
    client = target.client()
    assert send(client, CROSS, path="/account/delete").status_code == 403
    assert send(client, CROSS, path="/hooks/hook").status_code == 200


def test_app_route_named_like_nested_exempt_blueprint_is_protected() -> None:
    """The same holds for endpoint names that mimic a blueprint nested in an exempt one."""
    target = build()
    parent = csrf_exempt(_hook_blueprint("parent"))
    parent.register_blueprint(_hook_blueprint("child"), url_prefix="/child")
    target.app.register_blueprint(parent, url_prefix="/parent")
    for endpoint in ("parent.child.account_delete", "parent.account_delete"):
        target.app.add_url_rule(
            f"/{endpoint}", endpoint=endpoint, view_func=_account_delete, methods=["POST"]
        )
    client = target.client()
    assert [
        send(client, CROSS, path=path).status_code
        for path in (
            "/parent.child.account_delete",
            "/parent.account_delete",
            "/parent/hook",
            "/parent/child/hook",
        )
    ] == [403, 403, 200, 200]


def test_blueprint_registered_twice_is_exempt_under_both_names() -> None:
    """A blueprint registered under two names is exempt under both, and only there."""
    target = build()
    hooks = csrf_exempt(_hook_blueprint("hooks"))
    hooks.register_blueprint(_hook_blueprint("child"), url_prefix="/child")
    target.app.register_blueprint(hooks, url_prefix="/a")
    target.app.register_blueprint(hooks, name="other", url_prefix="/b")
    target.app.add_url_rule(
        "/spoof", endpoint="other.account_delete", view_func=_account_delete, methods=["POST"]
    )
    client = target.client()
    paths = ("/a/hook", "/b/hook", "/a/child/hook", "/b/child/hook", "/spoof")
    assert [send(client, CROSS, path=p).status_code for p in paths] == [200, 200, 200, 200, 403]


def test_nested_blueprint_is_exempt_only_under_the_exempt_parent() -> None:
    """A blueprint nested in an exempt one and also registered on its own is exempt only
    where it was routed through the exempt parent."""
    target = build()
    child = _hook_blueprint("child")
    parent = csrf_exempt(_hook_blueprint("parent"))
    parent.register_blueprint(child, url_prefix="/child")
    target.app.register_blueprint(parent, url_prefix="/parent")
    target.app.register_blueprint(child, url_prefix="/solo")
    client = target.client()
    assert [
        send(client, CROSS, path=p).status_code for p in ("/parent/child/hook", "/solo/hook")
    ] == [200, 403]


def test_exempt_blueprint_routes_added_after_exemption() -> None:
    """Routes added to a blueprint after csrf_exempt() are exempt too."""
    target = build()
    bp = csrf_exempt(Blueprint("late", __name__))

    @bp.post("/hook")
    def hook() -> str:
        return "hooked"

    target.app.register_blueprint(bp)
    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_exempting_a_registered_blueprint_raises() -> None:
    """csrf_exempt() on a blueprint that is already registered fails loudly, as Flask's
    setup methods do, instead of silently exempting nothing."""
    target = build()
    bp = _hook_blueprint("hooks")
    target.app.register_blueprint(bp)
    with pytest.raises(AssertionError, match="already been registered"):
        csrf_exempt(bp)


def test_exempting_a_blueprint_twice_is_harmless() -> None:
    """A second csrf_exempt() on the same blueprint changes nothing."""
    target = build()
    bp = csrf_exempt(csrf_exempt(_hook_blueprint("hooks")))
    target.app.register_blueprint(bp)
    assert send(target.client(), CROSS, path="/hook").status_code == 200


def test_exemption_is_per_app() -> None:
    """An exempt blueprint name in one app does not exempt another app's blueprint."""
    exempt, other = Blueprint("api", __name__), Blueprint("api", __name__)
    for bp in (exempt, other):

        @bp.post("/hook")
        def hook() -> str:
            return "hooked"

    csrf_exempt(exempt)
    first, second = build(), build()
    first.app.register_blueprint(exempt)
    second.app.register_blueprint(other)
    assert [send(s.client(), CROSS, path="/hook").status_code for s in (first, second)] == [
        200,
        403,
    ]


# -- every rejection: signal, log line, reason, status, no view ------------------------------


def _cross_site(client: FlaskClient) -> TestResponse:
    return json_send(client, {"Sec-Fetch-Site": "cross-site", "Origin": EVIL})


def _mismatch(client: FlaskClient) -> TestResponse:
    return json_send(client, {"Origin": EVIL})


def _null(client: FlaskClient) -> TestResponse:
    return json_send(client, {"Origin": "null"})


def _missing(client: FlaskClient) -> TestResponse:
    client.get("/login", base_url=HTTPS)
    return json_send(client)


def _invalid(client: FlaskClient) -> TestResponse:
    return json_send(client, data={"csrf_token": _flip(token_for(client))})


def _no_secret(client: FlaskClient) -> TestResponse:
    client.get("/login", base_url=HTTPS)
    return json_send(client, data={"csrf_token": "A" * 86})


REJECTIONS = [
    pytest.param(_cross_site, REASON_CROSS_ORIGIN, id="cross-origin"),
    pytest.param(_mismatch, REASON_ORIGIN_MISMATCH, id="origin-mismatch"),
    pytest.param(_null, REASON_NULL_ORIGIN, id="null-origin"),
    pytest.param(_missing, REASON_TOKEN_MISSING, id="token-missing"),
    pytest.param(_invalid, REASON_TOKEN_INVALID, id="token-invalid"),
    pytest.param(_no_secret, REASON_NO_SECRET, id="no-secret"),
]
Sender = Callable[[FlaskClient], TestResponse]


@pytest.mark.parametrize(("sender", "reason"), REJECTIONS)
def test_rejection_is_problem_json_403(site: Site, sender: Sender, reason: str) -> None:
    """A JSON client gets a 403 problem document naming the reason."""
    response = sender(site.client())
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json(force=True)["detail"] == reason


@pytest.mark.parametrize(("sender", "reason"), REJECTIONS)
def test_rejection_does_not_run_the_view(site: Site, sender: Sender, reason: str) -> None:
    """The view never runs for a rejected request."""
    sender(site.client())
    assert site.calls == []


@pytest.mark.parametrize(("sender", "reason"), REJECTIONS)
def test_rejection_signal(site: Site, rejections: list[str], sender: Sender, reason: str) -> None:
    """Each rejection sends csrf_rejected once, from the app, with its reason."""
    sender(site.client())
    assert rejections == [reason]


@pytest.mark.parametrize(("sender", "reason"), REJECTIONS)
def test_rejection_log_record(
    site: Site, caplog: pytest.LogCaptureFixture, sender: Sender, reason: str
) -> None:
    """Each rejection is one warning on flask_bastion.security with event and reason."""
    with caplog.at_level(logging.WARNING, logger="flask_bastion.security"):
        sender(site.client())
    records = [r for r in caplog.records if getattr(r, "event", None) == "csrf.rejected"]
    assert [(r.name, r.levelno, getattr(r, "reason", None)) for r in records] == [
        ("flask_bastion.security", logging.WARNING, reason)
    ]


@pytest.mark.parametrize(("sender", "reason"), REJECTIONS)
def test_rejection_is_csrf_error(site: Site, sender: Sender, reason: str) -> None:
    """The application can handle rejections with @app.errorhandler(CSRFError)."""
    seen: list[str] = []

    @site.app.errorhandler(CSRFError)
    def handle(error: CSRFError) -> tuple[str, int]:
        seen.append(error.reason)
        return "custom", 403

    assert sender(site.client()).get_data(as_text=True) == "custom"
    assert seen == [reason]


def test_html_client_gets_403_page(site: Site) -> None:
    """A browser gets the safe HTML error page with the reason."""
    response = send(site.client(), {"Sec-Fetch-Site": "cross-site", "Accept": "text/html"})
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert REASON_CROSS_ORIGIN.replace("'", "&#39;") in response.get_data(as_text=True)


def test_passing_request_sends_no_signal(site: Site, rejections: list[str]) -> None:
    """Requests that pass are not announced."""
    send(site.client(), {"Sec-Fetch-Site": "same-origin"})
    assert rejections == []


# -- configuration and apps -------------------------------------------------------------------


def test_disabled_lets_cross_site_through() -> None:
    """BASTION_CSRF_ENABLED=False turns the check off."""
    target = build(BASTION_CSRF_ENABLED=False)
    assert send(target.client(), CROSS).status_code == 200
    assert target.calls == ["POST"]


def test_disabled_still_renders_tokens() -> None:
    """With the check off, templates calling csrf_field() still render."""
    html = _render(build(BASTION_CSRF_ENABLED=False).app, "{{ csrf_field() }}")
    assert html.startswith("<input")


def test_two_apps_have_their_own_trusted_origins() -> None:
    """Trusted origins belong to the app that configured them."""
    trusting = build(BASTION_CSRF_TRUSTED_ORIGINS=["https://admin.example.org"])
    strict = build()
    headers = {"Sec-Fetch-Site": "cross-site", "Origin": "https://admin.example.org"}
    assert [send(s.client(), headers).status_code for s in (trusting, strict)] == [200, 403]


def test_keyword_overrides_trusted_origins() -> None:
    """Bastion(app, csrf_trusted_origins=...) wins over app.config."""
    target = build(
        BASTION_CSRF_TRUSTED_ORIGINS=["https://admin.example.org"],
        bastion={"csrf_trusted_origins": ["https://other.example.org"]},
    )
    headers = {"Sec-Fetch-Site": "cross-site", "Origin": "https://admin.example.org"}
    assert send(target.client(), headers).status_code == 403


def test_rejected_before_the_app_before_request_hooks() -> None:
    """The check runs in Bastion's hook, before the application's own before_request."""
    target = build()
    hooks: list[str] = []

    @target.app.before_request
    def app_hook() -> None:
        hooks.append("app")

    send(target.client(), CROSS)
    assert hooks == []


@pytest.mark.parametrize("origin", ["https://Admin.Example.org", "https://admin.example.org:443"])
def test_is_trusted_normalises(origin: str) -> None:
    """is_trusted() compares normalised origins."""
    target = build(BASTION_CSRF_TRUSTED_ORIGINS=["https://admin.example.org"])
    component = target.app.extensions["bastion"].component("csrf")
    assert component.is_trusted(origin)
