"""HTTPS: 308 redirects, HSTS only over HTTPS, development profile. (The session cookie's
flags belong to the sessions component: tests/test_sessions.py.)"""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

from flask_bastion import signals
from flask_bastion.https import REASON_INVALID_HOST

from .conftest import HTTPS, make_app


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD"], ids=str.lower)
def test_plain_http_is_redirected_with_308(method: str) -> None:
    """Every method is redirected with 308, which keeps the method and body."""
    response = (
        make_app().test_client().open("/form?q=1", method=method, base_url="http://localhost")
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/form?q=1"


def test_redirect_keeps_percent_encoded_path_and_query() -> None:
    """The redirect target is the same URL, encodings intact."""
    response = (
        make_app().test_client().get("/a%20b/%C3%A9?x=%2F&y=caf%C3%A9", base_url="http://localhost")
    )
    assert response.headers["Location"] == "https://localhost/a%20b/%C3%A9?x=%2F&y=caf%C3%A9"


def test_redirect_signal_fires() -> None:
    """Each redirect is announced on the https_redirected signal."""
    app = make_app()
    seen: list[str] = []
    with signals.https_redirected.connected_to(lambda sender, location: seen.append(location), app):
        app.test_client().get("/", base_url="http://localhost")
    assert seen == ["https://localhost/"]


def test_redirected_response_carries_security_headers() -> None:
    """Even the redirect has nosniff and a request ID, but no HSTS (it is plain HTTP)."""
    response = make_app().test_client().get("/", base_url="http://localhost")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Request-ID" in response.headers
    assert "Strict-Transport-Security" not in response.headers


def test_https_request_is_served() -> None:
    """An HTTPS request reaches the view."""
    assert make_app().test_client().get("/", base_url=HTTPS).status_code == 200


def test_hsts_default_value_on_https() -> None:
    """HSTS is one year with includeSubDomains, no preload, on HTTPS responses."""
    response = make_app().test_client().get("/", base_url=HTTPS)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_never_sent_over_http() -> None:
    """HSTS is not sent over plain HTTP, even when the redirect is off."""
    response = (
        make_app(BASTION_HTTPS_REDIRECT=False).test_client().get("/", base_url="http://localhost")
    )
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"BASTION_HTTPS_HSTS_PRELOAD": True}, "max-age=31536000; includeSubDomains; preload"),
        ({"BASTION_HTTPS_HSTS_INCLUDE_SUBDOMAINS": False}, "max-age=31536000"),
        ({"BASTION_HTTPS_HSTS_MAX_AGE": 600}, "max-age=600; includeSubDomains"),
        ({"BASTION_HTTPS_HSTS_MAX_AGE": 0}, None),
    ],
    ids=["preload", "no-subdomains", "short", "off"],
)
def test_hsts_settings(config: dict[str, object], expected: str | None) -> None:
    """HSTS follows its settings; max-age 0 turns it off."""
    response = make_app(**config).test_client().get("/", base_url=HTTPS)
    assert response.headers.get("Strict-Transport-Security") == expected


def test_view_set_hsts_wins() -> None:
    """A Strict-Transport-Security header set by the view is kept."""
    app = make_app()

    @app.get("/own")
    def own() -> tuple[str, dict[str, str]]:
        return "x", {"Strict-Transport-Security": "max-age=5"}

    assert app.test_client().get("/own", base_url=HTTPS).headers.getlist(
        "Strict-Transport-Security"
    ) == ["max-age=5"]


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1:8000", "[::1]:5000", "app.localhost", "127.1.2.3"],
    ids=["localhost", "v4-port", "v6-port", "sub-localhost", "v4-range"],
)
def test_development_profile_serves_loopback_over_http(host: str) -> None:
    """The development profile serves loopback hosts over plain HTTP."""
    app = make_app(BASTION_PROFILE="development", TRUSTED_HOSTS=None)
    response = app.test_client().get("/", base_url=f"http://{host}")
    assert response.status_code == 200


def test_development_profile_still_redirects_other_hosts() -> None:
    """The development profile relaxes loopback only."""
    app = make_app(BASTION_PROFILE="development", TRUSTED_HOSTS=None)
    assert app.test_client().get("/", base_url="http://vault.example.org").status_code == 308


def test_production_profile_redirects_loopback() -> None:
    """The production profile gives loopback no exemption."""
    response = make_app(TRUSTED_HOSTS=None).test_client().get("/", base_url="http://127.0.0.1:8000")
    assert response.status_code == 308
    assert response.headers["Location"] == "https://127.0.0.1:8000/"


def test_https_exempt_view_is_served_over_http() -> None:
    """@https_exempt serves a probe endpoint over plain HTTP, without HSTS."""
    from flask_bastion import https_exempt

    app = make_app()

    @app.get("/healthz")
    @https_exempt
    def healthz() -> str:
        return "ok"

    client = app.test_client()
    response = client.get("/healthz", base_url="http://localhost")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert client.get("/", base_url="http://localhost").status_code == 308


def test_redirect_reencodes_raw_utf8_path() -> None:
    """A raw UTF-8 path (latin-1 decoded per PEP 3333) is percent-encoded in Location."""
    client = make_app().test_client()
    response = client.get(
        "/", base_url="http://localhost", environ_overrides={"PATH_INFO": "/caf\xc3\xa9"}
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/caf%C3%A9"


def test_development_exemption_needs_a_loopback_peer() -> None:
    """A remote client sending Host: localhost is still redirected in development."""
    app = make_app(BASTION_PROFILE="development", TRUSTED_HOSTS=None)
    response = app.test_client().get(
        "/", base_url="http://localhost", environ_base={"REMOTE_ADDR": "203.0.113.7"}
    )
    assert response.status_code == 308


# -- the redirect's host ----------------------------------------------------------------------


def _redirect(host: str, **config: object) -> TestResponse:
    return make_app(**config).test_client().get("/form?q=1", base_url=f"http://{host}")


def test_server_name_only_never_redirects_to_a_forged_host() -> None:
    """With SERVER_NAME and no TRUSTED_HOSTS, a forged Host cannot choose the target:
    Flask 3.1 serves any host, so the redirect goes to SERVER_NAME."""
    response = _redirect("evil.example", TRUSTED_HOSTS=None, SERVER_NAME="www.example.org")
    assert response.status_code == 308
    assert response.headers["Location"] == "https://www.example.org/form?q=1"


def test_empty_trusted_hosts_does_not_vouch_for_the_host() -> None:
    """TRUSTED_HOSTS = [] trusts every host in werkzeug, so it vouches for none here."""
    response = _redirect("evil.example", TRUSTED_HOSTS=[], SERVER_NAME="www.example.org")
    assert response.headers["Location"] == "https://www.example.org/form?q=1"


@pytest.mark.parametrize(
    ("host", "server_name"),
    [
        pytest.param("shop.example.org", None, id="subdomain"),
        pytest.param("shop.example.org", "www.example.org", id="wins-over-server-name"),
        pytest.param("www.example.org:8443", None, id="with-port"),
    ],
)
def test_trusted_host_is_kept(host: str, server_name: str | None) -> None:
    """A host that TRUSTED_HOSTS vouched for is the redirect's host."""
    response = _redirect(host, TRUSTED_HOSTS=[".example.org"], SERVER_NAME=server_name)
    assert response.status_code == 308
    assert response.headers["Location"] == f"https://{host}/form?q=1"


@pytest.mark.parametrize("server_name", [None, "localhost"], ids=["alone", "with-server-name"])
def test_untrusted_host_gets_400_not_a_redirect(server_name: str | None) -> None:
    """A Host outside TRUSTED_HOSTS is refused with 400 before any redirect is built."""
    app = make_app(TRUSTED_HOSTS=["localhost"], SERVER_NAME=server_name)
    seen: list[str] = []
    with signals.https_redirected.connected_to(lambda sender, location: seen.append(location), app):
        response = app.test_client().get("/", base_url="http://evil.example")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert seen == []


def test_no_host_setting_redirects_to_the_request_host() -> None:
    """With neither TRUSTED_HOSTS nor SERVER_NAME the client's own host is kept
    (bastion.W008 reports the configuration)."""
    response = _redirect("evil.example", TRUSTED_HOSTS=None)
    assert response.headers["Location"] == "https://evil.example/form?q=1"


@pytest.mark.parametrize("host", ["evil.example/x", "a b", "evil.example:99999"])
def test_invalid_host_gets_400_not_a_broken_redirect(host: str) -> None:
    """A Host werkzeug cannot use is refused with 400, not redirected to 'https:///'."""
    app = make_app(TRUSTED_HOSTS=None)
    seen: list[str] = []
    with signals.request_rejected.connected_to(
        lambda sender, reason, status: seen.append(reason), app
    ):
        response = app.test_client().get("/", base_url="http://localhost", headers={"Host": host})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert seen == [REASON_INVALID_HOST]
