"""Content-Security-Policy: strict default, per-response nonce, overrides, reporting."""

from __future__ import annotations

import base64
import re
import typing as t

import pytest
from flask import render_template_string

from flask_bastion import ConfigurationError, csp
from flask_bastion.config import DEFAULT_CSP

from .conftest import HTTPS, make_app

NONCE_RE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def _policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def test_default_policy_is_strict() -> None:
    """The default policy denies by default and allows each needed directive explicitly."""
    response = make_app().test_client().get("/", base_url=HTTPS)
    policy = _policy(response)
    nonce = NONCE_RE.search(response.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    assert policy == {
        "default-src": ["'none'"],
        "script-src": [f"'nonce-{nonce}'", "'strict-dynamic'"],
        "style-src": ["'self'", f"'nonce-{nonce}'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "media-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "upgrade-insecure-requests": [],
    }


def test_default_policy_starts_from_none() -> None:
    """The header starts with default-src 'none', as header scanners grade it."""
    response = make_app().test_client().get("/", base_url=HTTPS)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'; ")


def test_nonce_in_page_matches_header() -> None:
    """csp_nonce() in a template renders the nonce the header allows."""
    response = make_app().test_client().get("/", base_url=HTTPS)
    header_nonces = set(NONCE_RE.findall(response.headers["Content-Security-Policy"]))
    page_nonce = re.search(r'nonce="([^"]+)"', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert header_nonces == {page_nonce}


def test_nonce_is_fresh_and_128_bit() -> None:
    """Every response gets a new nonce of at least 128 bits."""
    client = make_app().test_client()
    nonces = {
        NONCE_RE.search(client.get("/", base_url=HTTPS).headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
        for _ in range(50)
    }
    assert len(nonces) == 50
    assert all(len(n) == 24 for n in nonces)  # 16 bytes in padded base64


def test_nonce_is_stable_within_one_response() -> None:
    """Several csp_nonce() calls in one render return the same value."""
    app = make_app()

    @app.get("/two")
    def two() -> str:
        return render_template_string("{{ csp_nonce() }} {{ csp_nonce() }}")

    first, second = app.test_client().get("/two", base_url=HTTPS).get_data(as_text=True).split()
    assert first == second


def test_upgrade_insecure_requests_only_over_https() -> None:
    """upgrade-insecure-requests is sent over HTTPS only."""
    app = make_app(BASTION_HTTPS_REDIRECT=False)
    assert "upgrade-insecure-requests" not in _policy(
        app.test_client().get("/", base_url="http://localhost")
    )


def test_report_only_mode() -> None:
    """Report-only sends the policy under the Report-Only header name instead."""
    response = make_app(BASTION_CSP_REPORT_ONLY=True).test_client().get("/", base_url=HTTPS)
    assert "Content-Security-Policy" not in response.headers
    assert "'strict-dynamic'" in response.headers["Content-Security-Policy-Report-Only"]


def test_reporting_settings() -> None:
    """report-uri, report-to and Reporting-Endpoints follow the settings."""
    app = make_app(
        BASTION_CSP_REPORT_URI="/csp-report", BASTION_CSP_REPORT_TO="https://localhost/reports"
    )
    response = app.test_client().get("/", base_url=HTTPS)
    policy = _policy(response)
    assert policy["report-uri"] == ["/csp-report"]
    assert policy["report-to"] == ["csp-endpoint"]
    assert response.headers["Reporting-Endpoints"] == 'csp-endpoint="https://localhost/reports"'


def test_disabled_sends_no_policy_but_nonce_helper_works() -> None:
    """With CSP off no header is sent and templates calling csp_nonce() still render."""
    response = make_app(BASTION_CSP_ENABLED=False).test_client().get("/", base_url=HTTPS)
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers


def test_custom_policy_setting() -> None:
    """BASTION_CSP_POLICY replaces the policy; 'nonce' still becomes the nonce."""
    app = make_app(BASTION_CSP_POLICY={"default-src": ["'none'"], "script-src": "'nonce' 'self'"})
    policy = _policy(app.test_client().get("/", base_url=HTTPS))
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"][0].startswith("'nonce-")
    assert policy["script-src"][1] == "'self'"


def test_view_override_replaces_one_directive() -> None:
    """@csp(img_src=...) changes that directive for one view only."""
    app = make_app()

    @app.get("/map")
    @csp(img_src=["'self'", "https://tiles.example.org"], object_src=None)
    def map_view() -> str:
        return "map"

    client = app.test_client()
    policy = _policy(client.get("/map", base_url=HTTPS))
    assert policy["img-src"] == ["'self'", "https://tiles.example.org"]
    assert "object-src" not in policy
    assert policy["script-src"][1] == "'strict-dynamic'"
    assert _policy(client.get("/", base_url=HTTPS))["img-src"] == ["'self'", "data:"]


def test_view_override_replaces_whole_policy() -> None:
    """@csp({...}) replaces the whole policy for one view."""
    app = make_app()

    @app.get("/legacy")
    @csp({"default-src": ["'self'"]})
    def legacy() -> str:
        return "legacy"

    policy = _policy(app.test_client().get("/legacy", base_url=HTTPS))
    assert policy == {"default-src": ["'self'"], "upgrade-insecure-requests": []}


def test_view_set_policy_wins() -> None:
    """A Content-Security-Policy header the view set itself is kept."""
    app = make_app()

    @app.get("/own")
    def own() -> tuple[str, dict[str, str]]:
        return "own", {"Content-Security-Policy": "default-src 'none'"}

    response = app.test_client().get("/own", base_url=HTTPS)
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]


@pytest.mark.parametrize("path", ["/missing", "/boom"], ids=["404", "500"])
def test_error_pages_carry_policy_and_nonce(path: str) -> None:
    """Error pages are covered by the policy and their inline style uses the nonce."""
    response = make_app().test_client().get(path, base_url=HTTPS, headers={"Accept": "text/html"})
    nonce = NONCE_RE.search(response.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    assert f'<style nonce="{nonce}">' in response.get_data(as_text=True)


def test_semicolon_in_a_source_cannot_add_a_directive() -> None:
    """A ';' inside a source is refused at init_app instead of starting a new directive."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_CSP_POLICY={**DEFAULT_CSP, "img-src": ["'self'; script-src *"]})
    assert info.value.key == "BASTION_CSP_POLICY"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"img_src": ["'self'; script-src *"]}),
        ((), {"img_src": ["'self'\r\nSet-Cookie: session=attacker"]}),
        ((), {"script_src": "self"}),
        ((), {"script_src": ["'nonce-fixed'"]}),
        (({"default-src": ["'self'\n"]},), {}),
        (({"default-src; script-src": ["*"]},), {}),
    ],
    ids=["semicolon", "crlf", "unquoted-keyword", "fixed-nonce", "policy-lf", "policy-name"],
)
def test_csp_decorator_validates_when_applied(
    args: tuple[dict[str, list[str]], ...], kwargs: dict[str, t.Any]
) -> None:
    """@csp(...) with a bad directive or source raises at import, not on a request."""
    with pytest.raises(ConfigurationError) as info:
        csp(*args, **kwargs)
    assert info.value.key == "BASTION_CSP_POLICY"
    assert "@csp" in info.value.message


def test_line_breaks_in_a_policy_string_only_separate_sources() -> None:
    """A multi-line policy string is split into sources; no line break reaches the header."""
    app = make_app(BASTION_CSP_POLICY={**DEFAULT_CSP, "img-src": "'self'\r\n  https://a.example"})
    response = app.test_client().get("/", base_url=HTTPS)
    header = response.headers["Content-Security-Policy"]
    assert "\r" not in header and "\n" not in header
    assert _policy(response)["img-src"] == ["'self'", "https://a.example"]


def test_policy_accepts_the_csp_grammar() -> None:
    """Keywords (in any case), hashes, schemes, hosts, ports, paths and other tokens pass."""
    sha = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    app = make_app(
        BASTION_CSP_POLICY={
            "default-src": "'SELF'",
            "script-src": f"'nonce' 'strict-dynamic' {sha} https: 'unsafe-inline'",
            "img-src": "'self' data: *.example.org https://tiles.example.org:8443/v1/ *",
            "sandbox": "allow-scripts allow-forms",
            "trusted-types": "default 'allow-duplicates'",
        },
        BASTION_CSP_REPORT_URI="https://r.example.org/csp?site=a&v=1",
    )
    policy = _policy(app.test_client().get("/", base_url=HTTPS))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][1:] == ["'strict-dynamic'", sha, "https:", "'unsafe-inline'"]
    assert policy["img-src"][3] == "https://tiles.example.org:8443/v1/"
    assert policy["sandbox"] == ["allow-scripts", "allow-forms"]
    assert policy["report-uri"] == ["https://r.example.org/csp?site=a&v=1"]


def test_valid_view_override_is_applied_from_the_validated_value() -> None:
    """@csp keeps the validated, normalised sources for the view's responses."""
    app = make_app()

    @app.get("/frame")
    @csp(frame_ancestors="'SELF' https://portal.example.org")
    def frame() -> str:
        return "f"

    policy = _policy(app.test_client().get("/frame", base_url=HTTPS))
    assert policy["frame-ancestors"] == ["'self'", "https://portal.example.org"]


@pytest.mark.parametrize("proxy_id", [None, "edge-0123456789"], ids=["own-id", "proxy-id"])
def test_nonce_and_request_id_are_separate_secrets(proxy_id: str | None) -> None:
    """The request ID, which every response shows, shares no bytes with the nonce of
    the same response; a request ID from a trusted proxy leaves the nonce fresh."""
    app = make_app(BASTION_PROXY_TRUSTED_HOPS=1)
    client = app.test_client()
    headers = {"X-Request-ID": proxy_id} if proxy_id else {}
    nonces = set()
    for _ in range(20):
        response = client.get("/", base_url=HTTPS, headers=headers)
        nonce = NONCE_RE.search(response.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
        raw = base64.b64decode(nonce, validate=True)
        request_id = response.headers["X-Request-ID"]
        assert len(raw) == 16
        if proxy_id is None:
            assert len(request_id) == 24
            assert bytes.fromhex(request_id)[:4] not in raw
            assert raw.hex() not in request_id and request_id not in raw.hex()
        else:
            assert request_id == proxy_id
        nonces.add(nonce)
    assert len(nonces) == 20
