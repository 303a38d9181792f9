"""Security headers: defaults, one pass, view wins, per-view overrides, no-store."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.views import MethodView

from flask_bastion import ConfigurationError, no_store, security_headers
from flask_bastion.headers import format_permissions_policy

from .conftest import HTTPS, make_app

PP_KEY = "BASTION_HEADERS_PERMISSIONS_POLICY"
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
}


@pytest.mark.parametrize(
    "path", ["/", "/api/ping", "/missing", "/boom"], ids=["page", "json", "404", "500"]
)
def test_default_headers_on_every_response(path: str) -> None:
    """Pages, JSON, 404s and 500s all carry the full header set, once each."""
    response = make_app().test_client().get(path, base_url=HTTPS)
    for name, value in EXPECTED.items():
        assert response.headers.getlist(name) == [value], name
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_permissions_policy_denies_powerful_features_but_not_passkeys() -> None:
    """Camera, microphone and geolocation are denied; WebAuthn keeps its default."""
    policy = make_app().test_client().get("/", base_url=HTTPS).headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert "publickey-credentials" not in policy


def test_permissions_policy_serialisation() -> None:
    """Allowlists serialise as structured-field inner lists."""
    text = format_permissions_policy(
        {"camera": (), "geolocation": ("self", "https://maps.example")}
    )
    assert text == 'camera=(), geolocation=(self "https://maps.example")'


def test_header_set_by_view_wins() -> None:
    """A security header the view set itself is never overwritten or duplicated."""
    app = make_app()

    @app.get("/embed")
    def embed() -> tuple[str, dict[str, str]]:
        return "x", {"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer"}

    response = app.test_client().get("/embed", base_url=HTTPS)
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_header_set_by_after_request_hook_wins() -> None:
    """Headers added by the app's own after_request hooks are kept too."""
    app = make_app()

    @app.after_request
    def frame(response):  # type: ignore[no-untyped-def]
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    response = app.test_client().get("/", base_url=HTTPS)
    assert response.headers.getlist("Cross-Origin-Resource-Policy") == ["cross-origin"]


def test_security_headers_decorator_overrides_one_view() -> None:
    """@security_headers changes only the decorated view; None omits a header."""
    app = make_app()

    @app.get("/widget")
    @security_headers(frame_options="SAMEORIGIN", cross_origin_resource_policy=None)
    def widget() -> str:
        return "w"

    client = app.test_client()
    widget_headers = client.get("/widget", base_url=HTTPS).headers
    assert widget_headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Cross-Origin-Resource-Policy" not in widget_headers
    assert client.get("/", base_url=HTTPS).headers["X-Frame-Options"] == "DENY"


def test_security_headers_decorator_order_does_not_matter() -> None:
    """The decorator works above or below the route decorator."""
    app = make_app()

    @security_headers(referrer_policy="no-referrer")
    @app.get("/above")
    def above() -> str:
        return "a"

    assert (
        app.test_client().get("/above", base_url=HTTPS).headers["Referrer-Policy"] == "no-referrer"
    )


def test_security_headers_rejects_unknown_names() -> None:
    """A misspelt override name fails at import time, not silently."""
    with pytest.raises(TypeError, match="frame_option"):
        security_headers(frame_option="DENY")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"frame_options": "ALLOWALL"}, "BASTION_HEADERS_FRAME_OPTIONS"),
        ({"referrer_policy": "no-referrer\r\nSet-Cookie: a=b"}, "BASTION_HEADERS_REFERRER_POLICY"),
        ({"permissions_policy": {"camera": ['https://a.example" *']}}, PP_KEY),
        ({"permissions_policy": {"camera": ["self\r\nSet-Cookie: a=b"]}}, PP_KEY),
    ],
    ids=["xfo-allowall", "referrer-crlf", "pp-quote", "pp-crlf"],
)
def test_security_headers_invalid_value_fails_when_applied(
    overrides: dict[str, object], key: str
) -> None:
    """An invalid override raises ConfigurationError at import, not on the first request."""
    with pytest.raises(ConfigurationError) as info:
        security_headers(**overrides)
    assert info.value.key == key


def test_permissions_policy_feature_names_are_lower_case() -> None:
    """Feature names are sent in lower case: an upper-case key would void the whole header."""
    app = make_app(BASTION_HEADERS_PERMISSIONS_POLICY={"Camera": [], "Geolocation": ["self"]})
    policy = app.test_client().get("/", base_url=HTTPS).headers["Permissions-Policy"]
    assert policy == "camera=(), geolocation=(self)"


def test_no_store_decorator() -> None:
    """@no_store marks a view's responses as never cached."""
    app = make_app()

    @app.get("/account")
    @no_store
    def account() -> str:
        return "secret page"

    client = app.test_client()
    assert client.get("/account", base_url=HTTPS).headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/", base_url=HTTPS).headers


def test_class_based_view_decorators() -> None:
    """Overrides set on a MethodView class apply to its endpoint."""
    app = make_app()

    @no_store
    class Tokens(MethodView):
        def get(self) -> str:
            return "tokens"

    app.add_url_rule("/tokens", view_func=Tokens.as_view("tokens"))
    assert app.test_client().get("/tokens", base_url=HTTPS).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("config", "header", "expected"),
    [
        ({"BASTION_HEADERS_FRAME_OPTIONS": None}, "X-Frame-Options", None),
        ({"BASTION_HEADERS_REFERRER_POLICY": "no-referrer"}, "Referrer-Policy", "no-referrer"),
        ({"BASTION_HEADERS_CROSS_ORIGIN_OPENER_POLICY": None}, "Cross-Origin-Opener-Policy", None),
        ({"BASTION_HEADERS_ORIGIN_AGENT_CLUSTER": False}, "Origin-Agent-Cluster", None),
        ({"BASTION_HEADERS_PERMISSIONS_POLICY": {}}, "Permissions-Policy", None),
        (
            {"BASTION_HEADERS_PERMISSIONS_POLICY": {"camera": ["self"]}},
            "Permissions-Policy",
            "camera=(self)",
        ),
    ],
    ids=["no-xfo", "referrer", "no-coop", "no-oac", "no-pp", "pp-custom"],
)
def test_header_settings(config: dict[str, object], header: str, expected: str | None) -> None:
    """Each header follows its setting; None or empty omits it."""
    response = make_app(**config).test_client().get("/", base_url=HTTPS)
    assert response.headers.get(header) == expected


def test_headers_are_added_in_one_hook() -> None:
    """Bastion registers one before hook and one response layer, however many protections."""
    app = make_app()
    assert [f.__name__ for f in app.before_request_funcs[None]] == ["bastion_before_request"]
    assert app.after_request_funcs == {}
    assert type(app.wsgi_app).__name__ == "ResponseLayer"


def test_plain_flask_app_is_untouched() -> None:
    """Bastion changes nothing on an app it was not given (no global state)."""
    make_app()
    response = Flask("plain").test_client().get("/")
    assert "X-Frame-Options" not in response.headers
