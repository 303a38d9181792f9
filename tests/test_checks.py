"""Deploy checks: every check fires on its unsafe configuration and stays silent otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing as t
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.middleware.shared_data import SharedDataMiddleware

from flask_bastion import (
    Bastion,
    checks,
    codescan,
    csrf_exempt,
    hotlink_protected,
    https_exempt,
    security_headers,
    signed_url_required,
)
from flask_bastion import csp as view_csp
from flask_bastion.accounts import Accounts
from flask_bastion.checks import (
    CheckMessage,
    core,
    csp,
    csrf,
    errors,
    headers,
    https,
    lockout,
    mail,
    passwords,
    proxy,
    run_checks,
    sessions,
)
from flask_bastion.checks import accounts as accounts_checks
from flask_bastion.checks import code as code_checks
from flask_bastion.checks import content as content_checks
from flask_bastion.checks import crypto as crypto_checks
from flask_bastion.checks import ipfilter as ipfilter_checks
from flask_bastion.checks import ratelimit as ratelimit_checks
from flask_bastion.checks import uploads as upload_checks
from flask_bastion.checks.workers import worker_processes
from flask_bastion.codescan import templates as codescan_templates
from flask_bastion.config import settings
from flask_bastion.crypto import column_rotations, register_rotation
from flask_bastion.uploads import accepts_uploads

from .conftest import SECRET, make_app
from .test_crypto_columns import Base as DocsBase
from .test_crypto_columns import Doc

#: The key printed in Flask's quickstart ("How to generate good secret keys").
FLASK_DOCS_KEY = b'_5#y2L"F4Q8z\n\xec]/'
#: A CSP that keeps the default's frame-ancestors but changes script-src.
STRICT_FRAMING = {"default-src": ["'self'"], "frame-ancestors": ["'none'"]}
#: STRICT_FRAMING with the default's script-src.
STRICT_SCRIPTS = {**STRICT_FRAMING, "script-src": ["'nonce'", "'strict-dynamic'"]}
#: A key for BASTION_CRYPTO_KEYS (base64url of 32 bytes).
CRYPTO_KEY = "q2f1R5n0mK8vYc3xWb7aZt4uLp6sDe9hJg2iNo5rTkE"
#: The From address of the mail settings.
SENDER = "no-reply@example.org"
#: The strict CSP with fallbacks for browsers without 'strict-dynamic' or nonces.
STRICT_WITH_FALLBACKS = "'nonce' 'strict-dynamic' https: http: 'unsafe-inline'"
HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
ID_PATTERN = re.compile(r"^bastion\.([DIWEC])\d{3}$")
LETTER_LEVELS = {
    "D": checks.DEBUG,
    "I": checks.INFO,
    "W": checks.WARNING,
    "E": checks.ERROR,
    "C": checks.CRITICAL,
}
#: Each check module and the block of ten its IDs are numbered in.
MODULE_BLOCKS = [
    pytest.param(core, "00", id="core"),
    pytest.param(https, "01", id="https"),
    pytest.param(csrf, "02", id="csrf"),
    pytest.param(sessions, "03", id="sessions"),
    pytest.param(headers, "04", id="headers"),
    pytest.param(csp, "05", id="csp"),
    pytest.param(proxy, "06", id="proxy"),
    pytest.param(errors, "07", id="errors"),
    pytest.param(mail, "08", id="mail"),
    pytest.param(passwords, "10", id="passwords"),
    pytest.param(lockout, "09", id="lockout"),
    pytest.param(accounts_checks, "11", id="accounts"),
    pytest.param(crypto_checks, "12", id="crypto"),
    pytest.param(ratelimit_checks, "13", id="ratelimit"),
    pytest.param(code_checks, "17", id="code"),
    pytest.param(content_checks, "15", id="content"),
    pytest.param(ipfilter_checks, "14", id="ipfilter"),
    pytest.param(upload_checks, "16", id="uploads"),
]
#: Checks that concern no configuration key, and why.
NO_SETTING = {
    "bastion.W006": "autoescaping is chosen in code (select_jinja_autoescape, jinja_options)",
    "bastion.W170": "a template of the application's own",
    "bastion.W171": "a line of the application's own code",
    "bastion.W172": "a line of the application's own code",
    "bastion.W173": "a line of the application's own code",
    "bastion.W174": "the size of the application's own code",
}
#: Settings with a danger note that no check reports, and why. Empty: every one is checked,
#: as docs/checks.md promises; an entry here needs that page changed too.
UNCHECKED_DANGER: dict[str, str] = {}


def _plain_flask_sessions(app: Flask) -> None:
    """The application replaced Bastion's session interface with Flask's own, which reads
    the cookie flags from the configuration on every response."""
    from flask.sessions import SecureCookieSessionInterface

    app.session_interface = SecureCookieSessionInterface()


def _debugger_script(app: Flask) -> None:
    app.import_name = "tests.debug_script"


_INJECTION_CODE = Path(__file__).parent / "injection_code"


def _code(module: str) -> Callable[[Flask], None]:
    """A patch making ``tests/injection_code/<module>.py`` the application's code."""

    def patch(app: Flask) -> None:
        app.import_name = f"tests.injection_code.{module}"

    return patch


def _templates(folder: str) -> Callable[[Flask], None]:
    """A patch making ``tests/injection_code/<folder>`` the application's templates."""

    def patch(app: Flask) -> None:
        app.root_path = str(_INJECTION_CODE)
        app.template_folder = folder

    return patch


@pytest.fixture(autouse=True)
def _scan_limits_restored() -> t.Iterator[None]:
    """Put back the code checks' file limits a patch (:func:`_template_limit`) lowered."""
    saved = codescan.MAX_FILES, codescan_templates.MAX_TEMPLATES
    yield
    codescan.MAX_FILES, codescan_templates.MAX_TEMPLATES = saved


def _template_limit(limit: int) -> Callable[[Flask], None]:
    """A patch: the clean templates are the application's, and at most ``limit`` are read."""

    def patch(app: Flask) -> None:
        _templates("clean_templates")(app)
        codescan_templates.MAX_TEMPLATES = limit

    return patch


def _view(app: Flask, *decorators: Callable[[t.Any], t.Any], name: str = "weak") -> None:
    """Add a POST view ``name`` under the given decorators."""

    def view() -> str:
        return name

    for decorate in reversed(decorators):
        view = decorate(view)
    app.add_url_rule(f"/{name}", name, view, methods=["POST"])


def _https_exempt_view(app: Flask) -> None:
    _view(app, https_exempt)


def _csrf_exempt_view(app: Flask) -> None:
    _view(app, csrf_exempt)


def _framed_view(app: Flask) -> None:
    _view(app, security_headers(frame_options="SAMEORIGIN"))


def _no_coop_view(app: Flask) -> None:
    _view(app, security_headers(cross_origin_opener_policy=None))


def _camera_view(app: Flask) -> None:
    _view(app, security_headers(permissions_policy={"camera": ["self"]}))


def _stricter_headers_view(app: Flask) -> None:
    _view(app, security_headers(referrer_policy="no-referrer", frame_options="DENY"))


def _wider_csp_view(app: Flask) -> None:
    _view(app, view_csp(img_src=["'self'", "https://tiles.example.org"]))


def _csp_directive_dropped_view(app: Flask) -> None:
    _view(app, view_csp(frame_ancestors=None))


def _stricter_csp_view(app: Flask) -> None:
    _view(app, view_csp(img_src=["'none'"], form_action=["'none'"]))


def _autoescape_off(app: Flask) -> None:
    app.jinja_env.autoescape = False


def _proxy_fix_outside(app: Flask) -> None:
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]


def _proxy_fix_under_bastion(app: Flask) -> None:
    bastion_middleware = t.cast(t.Any, app.wsgi_app)
    bastion_middleware.wsgi_app = ProxyFix(bastion_middleware.wsgi_app)


#: Setup keeping Flask's own cookie session (server-side sessions off).
FLASK_SESSION: dict[str, t.Any] = {"bastion": {"sessions_enabled": False}}


def _lax_none_interface(app: Flask) -> None:
    """Replace the session interface with one that sends SameSite=None."""

    class Interface(SecureCookieSessionInterface):
        def get_cookie_secure(self, app: Flask) -> bool:
            return True

        def get_cookie_samesite(self, app: Flask) -> str:
            return "None"

    app.session_interface = Interface()


def _other_middleware(app: Flask) -> None:
    app.wsgi_app = SharedDataMiddleware(app.wsgi_app, {})  # type: ignore[method-assign]


OLD_KEY = "b2f1R5n0mK8vYc3xWb7aZt4uLp6sDe9hJg2iNo5rTkE"
GONE_KEY = "c2f1R5n0mK8vYc3xWb7aZt4uLp6sDe9hJg2iNo5rTkE"


def _encrypted_docs(*sealed_under: str) -> Callable[[Flask], None]:
    """Register the encrypted columns of a model for rotation, on an in-memory database
    holding one row sealed under each key of ``sealed_under``."""

    def patch(app: Flask) -> None:
        engine = sa.create_engine("sqlite://", poolclass=StaticPool)
        DocsBase.metadata.create_all(engine)
        for key in sealed_under:
            with make_app(BASTION_CRYPTO_KEYS=[key]).app_context(), Session(engine) as db:
                db.add(Doc(body="x"))
                db.commit()
        session = Session(engine)
        for name, rotation in column_rotations([sa.inspect(Doc)], lambda: session).items():
            register_rotation(app, name, rotation)

    return patch


def build(
    *,
    bastion: dict[str, t.Any] | None = None,
    after: dict[str, t.Any] | None = None,
    patch: Callable[[Flask], None] | None = None,
    **config: t.Any,
) -> Flask:
    """``make_app`` on the default session store, plus ``after`` applied to app.config once
    Bastion has set its values, plus an arbitrary ``patch`` (middleware, Jinja environment)."""
    app = make_app(bastion=bastion, default_store=True, **config)
    app.config.update(after or {})
    if patch is not None:
        patch(app)
    return app


def ids(app: Flask, *, deploy: bool = True) -> set[str]:
    return {m.id for m in run_checks(app, deploy=deploy)}


# (ID, setup for build(), every other ID the same setup triggers)
FIRES = [
    pytest.param("bastion.E001", {"SECRET_KEY": None}, (), id="E001-secret-key-none"),
    pytest.param("bastion.E001", {"SECRET_KEY": ""}, (), id="E001-secret-key-empty"),
    pytest.param("bastion.E001", {"SECRET_KEY": b""}, (), id="E001-secret-key-empty-bytes"),
    pytest.param("bastion.W002", {"SECRET_KEY": SECRET[:31]}, (), id="W002-31-chars"),
    pytest.param("bastion.W002", {"SECRET_KEY": b"\x01\x02" * 8}, (), id="W002-16-bytes"),
    pytest.param("bastion.W003", {"SECRET_KEY": "ab12" * 10}, (), id="W003-4-distinct"),
    pytest.param("bastion.W003", {"SECRET_KEY": "x" * 64}, (), id="W003-one-character"),
    pytest.param("bastion.W004", {"SECRET_KEY": FLASK_DOCS_KEY}, (), id="W004-flask-docs-bytes"),
    pytest.param(
        "bastion.W004",
        {"SECRET_KEY": FLASK_DOCS_KEY.decode("latin-1")},
        (),
        id="W004-flask-docs-as-str",
    ),
    pytest.param("bastion.W004", {"SECRET_KEY": "changeme"}, (), id="W004-changeme"),
    pytest.param("bastion.W004", {"SECRET_KEY": "Change-Me!"}, (), id="W004-changeme-spelt"),
    pytest.param("bastion.W004", {"SECRET_KEY": b"dev"}, (), id="W004-dev-bytes"),
    pytest.param("bastion.W004", {"SECRET_KEY": "super-secret-key"}, (), id="W004-super-secret"),
    pytest.param(
        "bastion.W004",
        {"SECRET_KEY": "please-changeme-" + SECRET},
        (),
        id="W004-long-key-with-placeholder",
    ),
    pytest.param(
        "bastion.W005",
        {"DEBUG": True, "bastion": {"profile": "development"}},
        ("bastion.W007", "bastion.W014"),
        id="W005-debug-in-development",
    ),
    pytest.param("bastion.W006", {"patch": _autoescape_off}, (), id="W006-autoescape-off"),
    pytest.param("bastion.W009", {"patch": _debugger_script}, (), id="W009-run-debug-in-main"),
    pytest.param("bastion.W170", {"patch": _templates("templates")}, (), id="W170-safe-filter"),
    pytest.param(
        "bastion.W170", {"patch": _code("template_constant")}, (), id="W170-safe-in-template-string"
    ),
    pytest.param("bastion.W171", {"patch": _code("markup")}, (), id="W171-markup-f-string"),
    pytest.param(
        "bastion.W172", {"patch": _code("template_string")}, (), id="W172-template-from-form"
    ),
    pytest.param("bastion.W173", {"patch": _code("sql")}, (), id="W173-sql-f-string"),
    pytest.param("bastion.W174", {"patch": _template_limit(0)}, (), id="W174-templates-unread"),
    pytest.param("bastion.W017", {"patch": _https_exempt_view}, (), id="W017-https-exempt-view"),
    pytest.param("bastion.W024", {"patch": _csrf_exempt_view}, (), id="W024-csrf-exempt-view"),
    pytest.param("bastion.W043", {"patch": _framed_view}, (), id="W043-framing-allowed"),
    pytest.param("bastion.W043", {"patch": _no_coop_view}, (), id="W043-coop-omitted"),
    pytest.param("bastion.W043", {"patch": _camera_view}, (), id="W043-camera-allowed"),
    pytest.param("bastion.W057", {"patch": _wider_csp_view}, (), id="W057-extra-img-source"),
    pytest.param(
        "bastion.W057", {"patch": _csp_directive_dropped_view}, (), id="W057-directive-dropped"
    ),
    pytest.param(
        "bastion.W007",
        {"bastion": {"profile": "development"}},
        ("bastion.W014",),
        id="W007-development-profile",
    ),
    pytest.param(
        "bastion.W007",
        {"BASTION_PROFILE": "development"},
        ("bastion.W014",),
        id="W007-development-profile-from-app-config",
    ),
    pytest.param("bastion.W008", {"TRUSTED_HOSTS": None}, (), id="W008-no-trusted-hosts"),
    pytest.param("bastion.W008", {"TRUSTED_HOSTS": []}, (), id="W008-empty-trusted-hosts"),
    pytest.param(
        "bastion.W008",
        {"TRUSTED_HOSTS": None, "SERVER_NAME": "example.org"},
        (),
        id="W008-server-name-only",
    ),
    pytest.param("bastion.W011", {"bastion": {"https_redirect": False}}, (), id="W011-no-redirect"),
    pytest.param("bastion.W012", {"bastion": {"https_hsts_max_age": 0}}, (), id="W012-hsts-off"),
    pytest.param("bastion.W013", {"bastion": {"https_hsts_max_age": 60}}, (), id="W013-minute"),
    pytest.param(
        "bastion.W013",
        {"BASTION_HTTPS_HSTS_MAX_AGE": https.MIN_HSTS_SECONDS - 1},
        (),
        id="W013-one-second-short",
    ),
    # Flask's own cookie session reads app.config at each response: changed after
    # init_app, the cookie it sends changes too.
    pytest.param(
        "bastion.W014",
        {
            **FLASK_SESSION,
            "after": {"SESSION_COOKIE_SECURE": False},
            "patch": _plain_flask_sessions,
        },
        ("bastion.W035",),
        id="W014-not-secure",
    ),
    pytest.param(
        "bastion.W015",
        {
            **FLASK_SESSION,
            "after": {"SESSION_COOKIE_HTTPONLY": False},
            "patch": _plain_flask_sessions,
        },
        ("bastion.W035",),
        id="W015-not-httponly",
    ),
    pytest.param(
        "bastion.W016",
        {
            **FLASK_SESSION,
            "after": {"SESSION_COOKIE_SAMESITE": "None"},
            "patch": _plain_flask_sessions,
        },
        ("bastion.W035",),
        id="W016-samesite-none",
    ),
    pytest.param(
        "bastion.W016",
        {
            **FLASK_SESSION,
            "after": {"SESSION_COOKIE_SAMESITE": None},
            "patch": _plain_flask_sessions,
        },
        ("bastion.W035",),
        id="W016-samesite-unset",
    ),
    pytest.param(
        "bastion.W016", {"patch": _lax_none_interface}, (), id="W016-interface-sends-none"
    ),
    pytest.param("bastion.W021", {"bastion": {"csrf_enabled": False}}, (), id="W021-csrf-off"),
    pytest.param(
        "bastion.W021",
        {"BASTION_CSRF_ENABLED": "false"},
        (),
        id="W021-csrf-off-from-app-config",
    ),
    pytest.param(
        "bastion.W022",
        {"bastion": {"csrf_trusted_origins": ["https://*.example.org"]}},
        (),
        id="W022-subdomain-wildcard",
    ),
    pytest.param(
        "bastion.W022",
        {"BASTION_CSRF_TRUSTED_ORIGINS": "https://admin.example.org, https://*.example.net"},
        (),
        id="W022-wildcard-among-exact",
    ),
    pytest.param(
        "bastion.W023",
        {"bastion": {"csrf_trusted_origins": ["http://admin.example.org"]}},
        (),
        id="W023-plain-http",
    ),
    pytest.param(
        "bastion.W023",
        {"bastion": {"csrf_trusted_origins": ["http://*.example.org"]}},
        ("bastion.W022",),
        id="W023-plain-http-wildcard",
    ),
    pytest.param("bastion.W031", {"BASTION_SESSIONS_STORE": "memory"}, (), id="W031-memory"),
    pytest.param("bastion.W032", {"bastion": {"sessions_idle_timeout": 0}}, (), id="W032-idle-off"),
    pytest.param(
        "bastion.W032",
        {"BASTION_SESSIONS_IDLE_TIMEOUT": 30 * 86_400 + 1},
        (),
        id="W032-idle-over-30-days",
    ),
    pytest.param(
        "bastion.W033",
        {"bastion": {"sessions_absolute_timeout": 0}},
        (),
        id="W033-absolute-off",
    ),
    pytest.param(
        "bastion.W033",
        {"bastion": {"sessions_absolute_timeout": 31 * 86_400}},
        (),
        id="W033-absolute-31-days",
    ),
    pytest.param(
        "bastion.W034",
        {"bastion": {"sessions_cookie_name": "session"}},
        (),
        id="W034-plain-cookie-name",
    ),
    pytest.param(
        "bastion.W034",
        {"bastion": {"sessions_cookie_name": "__Secure-session"}},
        (),
        id="W034-secure-prefix-is-not-host",
    ),
    pytest.param("bastion.W035", {"bastion": {"sessions_enabled": False}}, (), id="W035-off"),
    pytest.param("bastion.W091", {"BASTION_LOCKOUT_ENABLED": False}, (), id="W091-off"),
    pytest.param("bastion.W092", {"BASTION_LOCKOUT_STORE": "memory"}, (), id="W092-memory"),
    pytest.param(
        "bastion.W041",
        {"bastion": {"headers_frame_options": None, "csp_policy": {"default-src": ["'self'"]}}},
        (),
        id="W041-no-xfo-no-frame-ancestors",
    ),
    pytest.param(
        "bastion.W041",
        {"bastion": {"headers_frame_options": None, "csp_report_only": True}},
        ("bastion.W052",),
        id="W041-no-xfo-csp-report-only",
    ),
    pytest.param(
        "bastion.W041",
        {"bastion": {"headers_frame_options": None, "csp_enabled": False}},
        ("bastion.W051",),
        id="W041-no-xfo-csp-off",
    ),
    pytest.param(
        "bastion.W042",
        {"bastion": {"headers_referrer_policy": "unsafe-url"}},
        (),
        id="W042-unsafe-url",
    ),
    pytest.param(
        "bastion.W042",
        {"bastion": {"headers_referrer_policy": "no-referrer-when-downgrade"}},
        (),
        id="W042-no-referrer-when-downgrade",
    ),
    pytest.param("bastion.W051", {"bastion": {"csp_enabled": False}}, (), id="W051-csp-off"),
    pytest.param("bastion.W052", {"bastion": {"csp_report_only": True}}, (), id="W052-report-only"),
    pytest.param(
        "bastion.W053",
        {
            "bastion": {
                "csp_policy": {**STRICT_FRAMING, "script-src": ["'self'", "'unsafe-inline'"]}
            }
        },
        (),
        id="W053-script-src",
    ),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "default-src": ["'unsafe-inline'"]}}},
        (),
        id="W053-default-src-fallback",
    ),
    pytest.param(
        "bastion.W054",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": ["'self'", "'unsafe-eval'"]}}},
        (),
        id="W054-script-src",
    ),
    pytest.param(
        "bastion.W054",
        {
            "bastion": {
                "csp_policy": {**STRICT_FRAMING, "script-src": "'unsafe-inline' 'unsafe-eval'"}
            }
        },
        ("bastion.W053",),
        id="W054-with-W053",
    ),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src-elem": "'unsafe-inline'"}}},
        (),
        id="W053-script-src-elem",
    ),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_SCRIPTS, "script-src-attr": "'unsafe-inline'"}}},
        (),
        id="W053-script-src-attr-under-strict-script-src",
    ),
    pytest.param(
        "bastion.W053",
        {
            "bastion": {
                "csp_policy": {**STRICT_FRAMING, "script-src": "'strict-dynamic' 'unsafe-inline'"}
            }
        },
        (),
        id="W053-strict-dynamic-without-nonce",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "* data:"}}},
        (),
        id="W055-wildcard-and-data",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "'self' HTTPS:"}}},
        (),
        id="W055-https-scheme",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {"default-src": "http:", "frame-ancestors": "'none'"}}},
        (),
        id="W055-default-src-fallback",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_SCRIPTS, "script-src-elem": "https://*"}}},
        (),
        id="W055-any-host-in-script-src-elem",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "'nonce' https:"}}},
        (),
        id="W055-nonce-without-strict-dynamic",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "'strict-dynamic' *"}}},
        (),
        id="W055-strict-dynamic-without-nonce",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "'self' https://*.co.uk"}}},
        (),
        id="W055-wildcard-over-icann-suffix",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": "'self' *.GitHub.io/js/"}}},
        (),
        id="W055-wildcard-over-private-suffix",
    ),
    pytest.param(
        "bastion.W056",
        {"bastion": {"csp_policy": {"img-src": "'self'", "frame-ancestors": "'none'"}}},
        (),
        id="W056-no-script-src-no-default-src",
    ),
    pytest.param(
        "bastion.W056",
        {"bastion": {"csp_policy": {"script-src-elem": "'nonce'", "frame-ancestors": "'none'"}}},
        (),
        id="W056-script-src-elem-only",
    ),
    pytest.param(
        "bastion.W061",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/0"]}},
        (),
        id="W061-every-ipv4",
    ),
    pytest.param(
        "bastion.W061",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]}},
        (),
        id="W061-every-ipv4-in-two-halves",
    ),
    pytest.param(
        "bastion.W061",
        {"BASTION_PROXY_TRUSTED_CIDRS": "10.0.0.0/8, ::/1, 8000::/2, c000::/2"},
        (),
        id="W061-every-ipv6-in-three-parts",
    ),
    pytest.param(
        "bastion.W061",
        {"bastion": {"proxy_trusted_cidrs": ["::ffff:0:0/97", "::ffff:128.0.0.0/97"]}},
        (),
        id="W061-every-ipv4-mapped-address",
    ),
    pytest.param(
        "bastion.W061",
        {"BASTION_PROXY_TRUSTED_CIDRS": "10.0.0.0/8, ::/0"},
        (),
        id="W061-every-ipv6-in-list",
    ),
    pytest.param("bastion.W062", {"patch": _proxy_fix_outside}, (), id="W062-proxyfix-outside"),
    pytest.param(
        "bastion.W062",
        {"bastion": {"proxy_trusted_cidrs": ["10.0.0.0/8"]}, "patch": _proxy_fix_under_bastion},
        (),
        id="W062-proxyfix-under-bastion-middleware",
    ),
    pytest.param("bastion.I063", {"bastion": {"proxy_trusted_hops": 1}}, (), id="I063-hops-only"),
    pytest.param(
        "bastion.W064",
        {"bastion": {"proxy_trusted_cidrs": ["10.0.0.0/7"]}},
        (),
        id="W064-ipv4-wider-than-slash-8",
    ),
    pytest.param(
        "bastion.W064",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"]}},
        (),
        id="W064-three-quarters-of-ipv4",
    ),
    pytest.param(
        "bastion.W064",
        {"bastion": {"proxy_trusted_cidrs": ["2000::/3"]}},
        (),
        id="W064-ipv6-global-unicast",
    ),
    pytest.param(
        "bastion.W064",
        {"bastion": {"proxy_trusted_cidrs": ["::ffff:0:0/100"]}},
        (),
        id="W064-ipv4-mapped-slash-4",
    ),
    pytest.param("bastion.W071", {"bastion": {"errors_enabled": False}}, (), id="W071-errors-off"),
    pytest.param(
        "bastion.W072", {"after": {"MAX_CONTENT_LENGTH": None}}, (), id="W072-unbounded-body"
    ),
    pytest.param("bastion.W081", {"BASTION_MAIL_URL": "console"}, (), id="W081-console-named"),
    pytest.param(
        "bastion.W081", {"BASTION_MAIL_SENDER": SENDER}, (), id="W081-mail-configured-no-url"
    ),
    pytest.param(
        "bastion.W082",
        {"BASTION_MAIL_URL": "smtp://mail.example.org", "BASTION_MAIL_SENDER": SENDER},
        (),
        id="W082-plain-smtp-to-remote-host",
    ),
    pytest.param(
        "bastion.W082",
        {"BASTION_MAIL_URL": "smtp://u:p@10.0.0.5:25?starttls=0", "BASTION_MAIL_SENDER": SENDER},
        (),
        id="W082-starttls-off-with-credentials",
    ),
    pytest.param(
        "bastion.W081",
        {"bastion": {"components": [Accounts()]}},
        ("bastion.W121",),
        id="W081-accounts-console",
    ),
    pytest.param(
        "bastion.W111",
        {
            "bastion": {"components": [Accounts()], "accounts_require_verified_email": False},
            "BASTION_MAIL_URL": "smtps://mail.example.org",
            "BASTION_MAIL_SENDER": SENDER,
        },
        ("bastion.W121",),
        id="W111-unverified-sign-in",
    ),
    pytest.param(
        "bastion.W112",
        {
            "bastion": {"components": [Accounts()], "accounts_mfa_required_roles": []},
            "BASTION_MAIL_URL": "smtps://mail.example.org",
            "BASTION_MAIL_SENDER": SENDER,
        },
        ("bastion.W121",),
        id="W112-no-role-needs-mfa",
    ),
    pytest.param(
        "bastion.W113",
        {
            "bastion": {"components": [Accounts()], "accounts_webauthn_rp_id": "example.net"},
            "SERVER_NAME": "www.example.org",
            "BASTION_MAIL_URL": "smtps://mail.example.org",
            "BASTION_MAIL_SENDER": SENDER,
        },
        ("bastion.W121",),
        id="W113-rp-id-of-another-site",
    ),
    pytest.param(
        "bastion.W113",
        {
            "bastion": {"components": [Accounts()], "accounts_webauthn_rp_id": "ample.org"},
            "SERVER_NAME": "www.example.org",
            "BASTION_MAIL_URL": "smtps://mail.example.org",
            "BASTION_MAIL_SENDER": SENDER,
        },
        ("bastion.W121",),
        id="W113-suffix-without-a-dot",
    ),
    pytest.param(
        "bastion.W121",
        {
            "bastion": {"components": [Accounts()]},
            "BASTION_MAIL_URL": "smtps://mail.example.org",
            "BASTION_MAIL_SENDER": SENDER,
        },
        (),
        id="W121-accounts-key-from-secret-key",
    ),
    pytest.param(
        "bastion.E122", {"patch": _encrypted_docs()}, (), id="E122-columns-under-derived-key"
    ),
    pytest.param(
        "bastion.W123",
        {"BASTION_CRYPTO_KEYS": [CRYPTO_KEY, OLD_KEY], "patch": _encrypted_docs(OLD_KEY)},
        (),
        id="W123-values-under-older-key",
    ),
    pytest.param(
        "bastion.E124",
        {"BASTION_CRYPTO_KEYS": [CRYPTO_KEY], "patch": _encrypted_docs(CRYPTO_KEY, GONE_KEY)},
        (),
        id="E124-values-under-removed-key",
    ),
    pytest.param("bastion.W101", {"bastion": {"passwords_min_length": 14}}, (), id="W101-fourteen"),
    pytest.param(
        "bastion.W101", {"BASTION_PASSWORDS_MIN_LENGTH": "8"}, (), id="W101-eight-from-app-config"
    ),
    pytest.param("bastion.E102", {"bastion": {"passwords_min_length": 7}}, (), id="E102-seven"),
    pytest.param("bastion.E102", {"bastion": {"passwords_min_length": 1}}, (), id="E102-one"),
    pytest.param(
        "bastion.W103",
        {"bastion": {"passwords_min_length_second_factor": 7}},
        (),
        id="W103-seven-with-second-factor",
    ),
    pytest.param(
        "bastion.W104", {"bastion": {"passwords_blocklist": False}}, (), id="W104-blocklist-off"
    ),
]

# Near misses: a setup next to each unsafe one that must not produce the ID.
SILENT = [
    pytest.param(
        "bastion.W111", {"bastion": {"components": [Accounts()]}}, id="W111-verification-on"
    ),
    pytest.param(
        "bastion.W111",
        {"bastion": {"accounts_require_verified_email": False}},
        id="W111-no-accounts",
    ),
    pytest.param(
        "bastion.W112", {"bastion": {"components": [Accounts()]}}, id="W112-admins-need-mfa"
    ),
    pytest.param(
        "bastion.W112",
        {"bastion": {"accounts_mfa_required_roles": []}},
        id="W112-no-accounts",
    ),
    pytest.param(
        "bastion.W113",
        {
            "bastion": {"components": [Accounts()], "accounts_webauthn_rp_id": "example.org"},
            "SERVER_NAME": "www.example.org:8443",
        },
        id="W113-registrable-suffix",
    ),
    pytest.param(
        "bastion.W113",
        {
            "bastion": {"components": [Accounts()], "accounts_webauthn_rp_id": "Example.org"},
            "SERVER_NAME": "example.org",
        },
        id="W113-same-host",
    ),
    pytest.param(
        "bastion.W113",
        {"bastion": {"components": [Accounts()], "accounts_webauthn_rp_id": "example.net"}},
        id="W113-no-server-name",
    ),
    pytest.param(
        "bastion.W121",
        {"bastion": {"components": [Accounts()], "crypto_keys": [CRYPTO_KEY]}},
        id="W121-own-key",
    ),
    pytest.param("bastion.W121", {}, id="W121-no-accounts"),
    pytest.param(
        "bastion.E122",
        {"BASTION_CRYPTO_KEYS": [CRYPTO_KEY], "patch": _encrypted_docs()},
        id="E122-own-key",
    ),
    pytest.param(
        "bastion.E122",
        {"bastion": {"profile": "development"}, "patch": _encrypted_docs()},
        id="E122-development",
    ),
    pytest.param(
        "bastion.W123",
        {"BASTION_CRYPTO_KEYS": [CRYPTO_KEY, OLD_KEY], "patch": _encrypted_docs(CRYPTO_KEY)},
        id="W123-older-key-listed-but-unused",
    ),
    pytest.param(
        "bastion.E124",
        {"BASTION_CRYPTO_KEYS": [CRYPTO_KEY, OLD_KEY], "patch": _encrypted_docs(OLD_KEY)},
        id="E124-old-key-still-listed",
    ),
    pytest.param("bastion.E001", {"SECRET_KEY": SECRET}, id="E001-hex-key"),
    pytest.param("bastion.W002", {"SECRET_KEY": SECRET[:32]}, id="W002-exactly-32-chars"),
    pytest.param("bastion.W002", {"SECRET_KEY": bytes.fromhex(SECRET)}, id="W002-32-random-bytes"),
    pytest.param("bastion.W003", {"SECRET_KEY": SECRET}, id="W003-generated-key"),
    pytest.param("bastion.W004", {"SECRET_KEY": SECRET}, id="W004-generated-key"),
    pytest.param("bastion.W005", {"bastion": {"profile": "development"}}, id="W005-no-debug"),
    pytest.param("bastion.W006", {}, id="W006-autoescape-default"),
    pytest.param("bastion.W009", {}, id="W009-no-debugger-in-code"),
    pytest.param("bastion.W170", {"patch": _templates("clean_templates")}, id="W170-sanitized"),
    pytest.param("bastion.W171", {"patch": _code("clean")}, id="W171-escaped-markup"),
    pytest.param("bastion.W172", {"patch": _code("clean")}, id="W172-constant-templates"),
    pytest.param("bastion.W173", {"patch": _code("clean")}, id="W173-bound-parameters"),
    pytest.param("bastion.W174", {"patch": _template_limit(1)}, id="W174-all-templates-read"),
    pytest.param(
        "bastion.W017",
        {"patch": _https_exempt_view, "bastion": {"https_redirect": False}},
        id="W017-redirect-off-reported-by-W011",
    ),
    pytest.param("bastion.W017", {"patch": _csrf_exempt_view}, id="W017-other-marker"),
    pytest.param(
        "bastion.W024",
        {"patch": _csrf_exempt_view, "bastion": {"csrf_enabled": False}},
        id="W024-csrf-off-reported-by-W021",
    ),
    pytest.param("bastion.W024", {"patch": _https_exempt_view}, id="W024-other-marker"),
    pytest.param("bastion.W043", {"patch": _stricter_headers_view}, id="W043-stricter-headers"),
    pytest.param("bastion.W057", {"patch": _stricter_csp_view}, id="W057-stricter-csp"),
    pytest.param("bastion.W007", {"bastion": {"profile": "production"}}, id="W007-production"),
    pytest.param("bastion.W008", {"TRUSTED_HOSTS": ["www.example.org"]}, id="W008-trusted-hosts"),
    pytest.param(
        "bastion.W008",
        {"TRUSTED_HOSTS": [".example.org"], "SERVER_NAME": "www.example.org"},
        id="W008-trusted-hosts-and-server-name",
    ),
    pytest.param("bastion.W011", {"bastion": {"https_redirect": True}}, id="W011-redirect-on"),
    pytest.param(
        "bastion.W012", {"bastion": {"https_hsts_max_age": 60}}, id="W012-short-hsts-is-not-off"
    ),
    pytest.param(
        "bastion.W013",
        {"bastion": {"https_hsts_max_age": https.MIN_HSTS_SECONDS}},
        id="W013-exactly-one-year",
    ),
    pytest.param(
        "bastion.W013", {"bastion": {"https_hsts_max_age": 0}}, id="W013-off-is-W012-only"
    ),
    pytest.param("bastion.W014", {"SESSION_COOKIE_SECURE": False}, id="W014-bastion-sets-secure"),
    # Server-side sessions send the cookie settled at init_app: a later change to
    # app.config changes nothing that is sent, so nothing is reported.
    pytest.param(
        "bastion.W014", {"after": {"SESSION_COOKIE_SECURE": False}}, id="W014-interface-owns-it"
    ),
    pytest.param(
        "bastion.W014",
        {**FLASK_SESSION, "SESSION_COOKIE_SECURE": False},
        id="W014-bastion-sets-flask-secure",
    ),
    pytest.param(
        "bastion.W015", {"after": {"SESSION_COOKIE_HTTPONLY": False}}, id="W015-interface-owns-it"
    ),
    pytest.param("bastion.W016", {"SESSION_COOKIE_SAMESITE": "Strict"}, id="W016-strict"),
    pytest.param(
        "bastion.W016", {"after": {"SESSION_COOKIE_SAMESITE": "None"}}, id="W016-interface-owns-it"
    ),
    pytest.param("bastion.W016", {**FLASK_SESSION}, id="W016-bastion-sets-flask-lax"),
    pytest.param("bastion.W021", {"bastion": {"csrf_enabled": True}}, id="W021-csrf-on"),
    pytest.param(
        "bastion.W022",
        {"bastion": {"csrf_trusted_origins": ["https://admin.example.org"]}},
        id="W022-exact-origin",
    ),
    pytest.param("bastion.W022", {}, id="W022-no-trusted-origins"),
    pytest.param(
        "bastion.W023",
        {"bastion": {"csrf_trusted_origins": ["https://admin.example.org:8443"]}},
        id="W023-https-origin",
    ),
    pytest.param("bastion.W031", {"BASTION_SESSIONS_STORE": "sql"}, id="W031-sql"),
    pytest.param(
        "bastion.W031",
        {"BASTION_SESSIONS_STORE": "memory", "bastion": {"sessions_enabled": False}},
        id="W031-memory-unused-when-sessions-off",
    ),
    pytest.param(
        "bastion.W032",
        {"bastion": {"sessions_idle_timeout": 30 * 86_400}},
        id="W032-exactly-30-days",
    ),
    pytest.param(
        "bastion.W032",
        {"bastion": {"sessions_idle_timeout": 0, "sessions_enabled": False}},
        id="W032-sessions-off",
    ),
    pytest.param(
        "bastion.W033",
        {"bastion": {"sessions_absolute_timeout": 30 * 86_400}},
        id="W033-exactly-30-days",
    ),
    pytest.param("bastion.W034", {}, id="W034-host-prefix"),
    pytest.param(
        "bastion.W034",
        {"bastion": {"sessions_cookie_name": "session", "profile": "development"}},
        id="W034-plain-name-in-development",
    ),
    pytest.param("bastion.W035", {"bastion": {"sessions_enabled": True}}, id="W035-on"),
    pytest.param("bastion.W091", {"BASTION_LOCKOUT_ENABLED": True}, id="W091-on"),
    pytest.param("bastion.W092", {"BASTION_LOCKOUT_STORE": "auto"}, id="W092-auto"),
    pytest.param(
        "bastion.W092",
        {"BASTION_LOCKOUT_STORE": "memory", "BASTION_LOCKOUT_ENABLED": False},
        id="W092-memory-unused-when-off",
    ),
    pytest.param(
        "bastion.W041",
        {"bastion": {"headers_frame_options": None}},
        id="W041-csp-frame-ancestors-suffices",
    ),
    pytest.param(
        "bastion.W041",
        {"bastion": {"headers_frame_options": "SAMEORIGIN", "csp_enabled": False}},
        id="W041-xfo-suffices",
    ),
    pytest.param(
        "bastion.W042", {"bastion": {"headers_referrer_policy": "no-referrer"}}, id="W042-none-sent"
    ),
    pytest.param(
        "bastion.W042",
        {"bastion": {"headers_referrer_policy": None}},
        id="W042-header-omitted-browser-default",
    ),
    pytest.param("bastion.W051", {"bastion": {"csp_report_only": True}}, id="W051-report-only-on"),
    pytest.param("bastion.W052", {"bastion": {"csp_enabled": False}}, id="W052-off-is-W051-only"),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "style-src": ["'unsafe-inline'"]}}},
        id="W053-unsafe-inline-in-style-src",
    ),
    pytest.param(
        "bastion.W053",
        {
            "bastion": {
                "csp_policy": {
                    "default-src": ["'unsafe-inline'"],
                    "script-src": ["'self'"],
                    "frame-ancestors": ["'none'"],
                }
            }
        },
        id="W053-script-src-overrides-default-src",
    ),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": STRICT_WITH_FALLBACKS}}},
        id="W053-unsafe-inline-as-fallback-next-to-nonce",
    ),
    pytest.param(
        "bastion.W053",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": f"{HASH} 'unsafe-inline'"}}},
        id="W053-unsafe-inline-as-fallback-next-to-hash",
    ),
    pytest.param(
        "bastion.W053",
        {
            "bastion": {
                "csp_policy": {
                    **STRICT_SCRIPTS,
                    "script-src": "'unsafe-inline'",
                    "script-src-elem": "'nonce'",
                    "script-src-attr": "'none'",
                }
            }
        },
        id="W053-unsafe-inline-in-script-src-overridden-by-elem-and-attr",
    ),
    pytest.param("bastion.W054", {}, id="W054-default-policy"),
    pytest.param(
        "bastion.W054",
        {"bastion": {"csp_policy": {**STRICT_SCRIPTS, "script-src-elem": "'unsafe-eval'"}}},
        id="W054-eval-is-governed-by-script-src-only",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": STRICT_WITH_FALLBACKS}}},
        id="W055-strict-dynamic-and-nonce-with-fallbacks",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_FRAMING, "script-src": f"{HASH} 'strict-dynamic' *"}}},
        id="W055-strict-dynamic-and-hash-with-wildcard",
    ),
    pytest.param(
        "bastion.W055",
        {
            "bastion": {
                "csp_policy": {
                    **STRICT_FRAMING,
                    "script-src": "'self' https://cdn.example.org *.example.org example.org:*",
                }
            }
        },
        id="W055-exact-hosts-and-subdomain-wildcard",
    ),
    pytest.param(
        "bastion.W055",
        {
            "bastion": {
                "csp_policy": {
                    **STRICT_FRAMING,
                    "script-src": "'self' https://*.example.co.uk *.yours.github.io:443",
                }
            }
        },
        id="W055-wildcard-under-a-public-suffix",
    ),
    pytest.param(
        "bastion.W055",
        {"bastion": {"csp_policy": {**STRICT_SCRIPTS, "img-src": "* data: https:"}}},
        id="W055-any-host-for-images-only",
    ),
    pytest.param(
        "bastion.W056",
        {"bastion": {"csp_policy": {"default-src": "'self'", "frame-ancestors": "'none'"}}},
        id="W056-default-src-only",
    ),
    pytest.param(
        "bastion.W056",
        {"bastion": {"csp_policy": {"script-src": "'nonce'", "frame-ancestors": "'none'"}}},
        id="W056-script-src-only",
    ),
    pytest.param(
        "bastion.W061", {"bastion": {"proxy_trusted_cidrs": ["10.0.0.0/8"]}}, id="W061-private"
    ),
    pytest.param("bastion.W062", {"patch": _other_middleware}, id="W062-other-middleware"),
    pytest.param(
        "bastion.W062",
        {"bastion": {"proxy_trusted_hops": 1, "proxy_trusted_cidrs": ["10.0.0.0/8"]}},
        id="W062-bastion-middleware",
    ),
    pytest.param(
        "bastion.I063",
        {"bastion": {"proxy_trusted_hops": 1, "proxy_trusted_cidrs": ["10.0.0.0/8"]}},
        id="I063-hops-with-cidrs",
    ),
    pytest.param("bastion.I063", {}, id="I063-no-proxy"),
    pytest.param(
        "bastion.W061",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"]}},
        id="W061-parts-with-a-gap",
    ),
    pytest.param(
        "bastion.W061",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/1", "8000::/1"]}},
        id="W061-halves-of-different-families",
    ),
    pytest.param(
        "bastion.W064",
        {
            "bastion": {
                "proxy_trusted_cidrs": [
                    "10.0.0.0/8",
                    "100.64.0.0/10",
                    "2001:db8::/32",
                    "fc00::/7",
                    "::ffff:10.0.0.0/104",
                ]
            }
        },
        id="W064-operator-and-local-networks",
    ),
    pytest.param(
        "bastion.W064",
        {"bastion": {"proxy_trusted_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]}},
        id="W064-every-address-is-W061-only",
    ),
    pytest.param("bastion.W071", {"bastion": {"errors_enabled": True}}, id="W071-errors-on"),
    pytest.param("bastion.W072", {"MAX_CONTENT_LENGTH": 1024}, id="W072-app-limit"),
    pytest.param("bastion.W072", {"after": {"MAX_CONTENT_LENGTH": 0}}, id="W072-zero-is-a-limit"),
    pytest.param("bastion.W081", {}, id="W081-no-mail-settings"),
    pytest.param(
        "bastion.W081",
        {"BASTION_MAIL_URL": "console", "BASTION_PROFILE": "development"},
        id="W081-console-in-development",
    ),
    pytest.param(
        "bastion.W081",
        {"BASTION_MAIL_URL": "smtps://mail.example.org", "BASTION_MAIL_SENDER": SENDER},
        id="W081-smtp-server",
    ),
    pytest.param(
        "bastion.W082",
        {"BASTION_MAIL_URL": "smtps://mail.example.org", "BASTION_MAIL_SENDER": SENDER},
        id="W082-smtps",
    ),
    pytest.param(
        "bastion.W082",
        {"BASTION_MAIL_URL": "smtp://mail.example.org?starttls=1", "BASTION_MAIL_SENDER": SENDER},
        id="W082-starttls",
    ),
    pytest.param(
        "bastion.W082",
        {"BASTION_MAIL_URL": "smtp://localhost:1025", "BASTION_MAIL_SENDER": SENDER},
        id="W082-plain-smtp-to-loopback",
    ),
    pytest.param("bastion.W082", {"BASTION_MAIL_URL": "console"}, id="W082-console"),
    pytest.param("bastion.W101", {"bastion": {"passwords_min_length": 15}}, id="W101-fifteen"),
    pytest.param("bastion.W101", {"bastion": {"passwords_min_length": 7}}, id="W101-E102-instead"),
    pytest.param("bastion.E102", {"bastion": {"passwords_min_length": 8}}, id="E102-eight"),
    pytest.param(
        "bastion.W103",
        {"bastion": {"passwords_min_length_second_factor": 8}},
        id="W103-eight-with-second-factor",
    ),
    pytest.param(
        "bastion.W103",
        {"bastion": {"passwords_min_length": 7, "passwords_min_length_second_factor": 7}},
        id="W103-E102-instead",
    ),
    pytest.param(
        "bastion.W104",
        {"bastion": {"passwords_blocklist": True, "passwords_breached_fail": "open"}},
        id="W104-blocklist-on-fail-open",
    ),
    pytest.param(
        "bastion.W104",
        {"bastion": {"passwords_breached_url": "https://api.pwnedpasswords.com/range"}},
        id="W104-breached-check-fail-open",
    ),
]

#: Checks registered with ``deploy=True``: only ``check --deploy`` runs them.
DEPLOY_ONLY = {
    "bastion.E122",
    "bastion.W123",
    "bastion.E124",
    "bastion.W101",
    "bastion.E102",
    "bastion.W103",
    "bastion.W104",
    "bastion.W005",
    "bastion.W007",
    "bastion.W008",
    "bastion.W009",
    "bastion.W017",
    "bastion.W024",
    "bastion.W043",
    "bastion.W057",
    "bastion.W011",
    "bastion.W012",
    "bastion.W013",
    "bastion.W014",
    "bastion.W015",
    "bastion.W016",
    "bastion.W021",
    "bastion.W023",
    "bastion.W031",
    "bastion.W034",
    "bastion.W035",
    "bastion.W051",
    "bastion.W052",
    "bastion.I063",
    "bastion.W071",
    "bastion.W081",
    "bastion.W082",
    "bastion.W091",
    "bastion.W092",
    "bastion.W111",
    "bastion.W112",
    "bastion.W113",
    "bastion.W121",
}


def _signed_view(app: Flask) -> None:
    _view(app, signed_url_required, name="download")


def _signed_blueprint(app: Flask) -> None:
    bp = signed_url_required(Blueprint("files", __name__))
    bp.add_url_rule("/files/<int:file_id>", "download", lambda file_id: "file")
    app.register_blueprint(bp)


def _unsigned_view(app: Flask) -> None:
    _view(app, hotlink_protected, name="media")


def _blueprint_static(app: Flask) -> None:
    app.register_blueprint(Blueprint("theme", __name__, static_folder="static"))


SHORT_KEY = SECRET[:31]
FIRES.extend(
    [
        pytest.param(
            "bastion.W150",
            {"bastion": {"content_hotlink_protection": False}},
            (),
            id="W150-hotlink-off",
        ),
        pytest.param(
            "bastion.W150",
            {"BASTION_CONTENT_HOTLINK_PROTECTION": "false"},
            (),
            id="W150-hotlink-off-from-app-config",
        ),
        pytest.param(
            "bastion.W151",
            {"bastion": {"content_hotlink_allow": ["https://*.partner.example"]}},
            (),
            id="W151-subdomain-wildcard",
        ),
        pytest.param(
            "bastion.W152",
            {"bastion": {"content_hotlink_allow": ["https://cdn*.partner.example"]}},
            ("bastion.W151",),
            id="W152-wildcard-inside-a-label",
        ),
        pytest.param(
            "bastion.W152",
            {"bastion": {"content_hotlink_allow": ["https://partner.example:99999"]}},
            (),
            id="W152-port-out-of-range",
        ),
        pytest.param(
            "bastion.W152",
            {"bastion": {"content_hotlink_allow": ["https://partner..example"]}},
            (),
            id="W152-empty-label",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SHORT_KEY, "patch": _signed_view},
            ("bastion.W002",),
            id="E153-short-key-signed-view",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SHORT_KEY.encode(), "patch": _signed_blueprint},
            ("bastion.W002",),
            id="E153-short-bytes-key-signed-blueprint",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SECRET, "SECRET_KEY_FALLBACKS": [SHORT_KEY], "patch": _signed_view},
            (),
            id="E153-short-fallback-key-signed-view",
        ),
        pytest.param(
            "bastion.W154",
            {"bastion": {"content_signed_url_expires": 86_401}},
            (),
            id="W154-over-a-day",
        ),
        pytest.param(
            "bastion.W155",
            {"BASTION_CONTENT_HOTLINK_ENDPOINTS": ["*.static"]},
            (),
            id="W155-app-static-left-out",
        ),
        pytest.param(
            "bastion.W155",
            {"BASTION_CONTENT_HOTLINK_ENDPOINTS": ["static"], "patch": _blueprint_static},
            (),
            id="W155-blueprint-static-left-out",
        ),
        pytest.param(
            "bastion.W156", {"bastion": {"content_robots_tag": None}}, (), id="W156-robots-off"
        ),
    ]
)
SILENT.extend(
    [
        pytest.param("bastion.W150", {}, id="W150-hotlink-on"),
        pytest.param(
            "bastion.W151",
            {"bastion": {"content_hotlink_allow": ["https://partner.example"]}},
            id="W151-exact-partner",
        ),
        pytest.param(
            "bastion.W152",
            {
                "bastion": {
                    "content_hotlink_allow": [
                        "https://partner.example:8443",
                        "http://127.0.0.1:5000",
                        "https://[::1]",
                    ]
                }
            },
            id="W152-real-origins",
        ),
        pytest.param(
            "bastion.W152",
            {"bastion": {"content_hotlink_allow": ["https://*.partner.example"]}},
            id="W152-W151-wildcard-label-is-an-origin",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SECRET, "patch": _signed_view},
            id="E153-long-key-signed-view",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SECRET, "SECRET_KEY_FALLBACKS": [SECRET[::-1]], "patch": _signed_view},
            id="E153-long-fallback-key-signed-view",
        ),
        pytest.param(
            "bastion.E153",
            {"SECRET_KEY": SHORT_KEY, "patch": _unsigned_view},
            id="E153-short-key-no-signed-view",
        ),
        pytest.param(
            "bastion.W154",
            {"bastion": {"content_signed_url_expires": 86_400}},
            id="W154-one-day",
        ),
        pytest.param("bastion.W155", {"patch": _blueprint_static}, id="W155-defaults"),
        pytest.param(
            "bastion.W155",
            {"BASTION_CONTENT_HOTLINK_ENDPOINTS": ["*static"]},
            id="W155-pattern-covers-both",
        ),
        pytest.param(
            "bastion.W155",
            {"bastion": {"content_hotlink_protection": False, "content_hotlink_endpoints": []}},
            id="W155-W150-instead",
        ),
        pytest.param(
            "bastion.W156",
            {"bastion": {"content_robots_tag": "noindex"}},
            id="W156-noindex-only",
        ),
    ]
)
DEPLOY_ONLY |= {"bastion.W150", "bastion.E153", "bastion.W156"}

FIRES.extend(
    [
        pytest.param(
            "bastion.W140",
            {"BASTION_IPFILTER_ALLOW": ["10.0.0.0/8", "0.0.0.0/0"]},
            (),
            id="W140-ipv4-allow-all",
        ),
        pytest.param(
            "bastion.W140", {"BASTION_IPFILTER_ALLOW": "::/0"}, (), id="W140-ipv6-allow-all"
        ),
        pytest.param(
            "bastion.W141",
            {
                "BASTION_IPFILTER_ALLOW": ["10.1.0.0/16", "192.168.0.0/16"],
                "BASTION_IPFILTER_DENY": ["10.0.0.0/8"],
            },
            (),
            id="W141-allow-inside-deny",
        ),
        pytest.param(
            "bastion.W141",
            {
                "BASTION_IPFILTER_ALLOW": ["2001:db8::/48"],
                "BASTION_IPFILTER_DENY": ["2001:db8::/48"],
            },
            (),
            id="W141-same-ipv6-network",
        ),
        pytest.param(
            "bastion.E142",
            {
                "BASTION_IPFILTER_ALLOW": ["10.0.0.5"],
                "BASTION_PROXY_TRUSTED_CIDRS": ["10.0.0.0/24"],
            },
            (),
            id="E142-allow-only-the-proxy",
        ),
        pytest.param(
            "bastion.W143",
            {"WEB_CONCURRENCY": 4},
            ("bastion.E130",),  # the rate-limit counters are in memory too
            id="W143-memory-bans-four-workers",
        ),
        pytest.param(
            "bastion.W143",
            {"WEB_CONCURRENCY": "2", "BASTION_IPFILTER_BANS_URL": "MEMORY://"},
            ("bastion.E130",),
            id="W143-memory-bans-upper-case-scheme",
        ),
    ]
)
SILENT.extend(
    [
        pytest.param("bastion.W140", {"BASTION_IPFILTER_ALLOW": ["0.0.0.0/1"]}, id="W140-half"),
        pytest.param(
            "bastion.W141",
            {"BASTION_IPFILTER_ALLOW": ["10.0.0.0/8"], "BASTION_IPFILTER_DENY": ["10.9.0.0/16"]},
            id="W141-deny-carves-a-hole",
        ),
        pytest.param(
            "bastion.E142",
            {
                "BASTION_IPFILTER_ALLOW": ["10.0.0.5", "198.51.100.0/24"],
                "BASTION_PROXY_TRUSTED_CIDRS": ["10.0.0.0/24"],
            },
            id="E142-allow-names-clients-too",
        ),
        pytest.param("bastion.W143", {"WEB_CONCURRENCY": 1}, id="W143-one-worker"),
        pytest.param(
            "bastion.W143",
            {"WEB_CONCURRENCY": 8, "BASTION_IPFILTER_BANS_URL": "sqlite://"},
            id="W143-shared-store",
        ),
    ]
)
DEPLOY_ONLY |= {"bastion.W143"}


def _upload_view(app: Flask) -> None:
    _view(app, accepts_uploads, name="upload")


#: A folder inside the test app's static folder.
STATIC_UPLOADS = str(Path(__file__).parent / "static" / "uploads")
FIRES.extend(
    [
        pytest.param("bastion.E160", {"patch": _upload_view}, (), id="E160-upload-view-no-scanner"),
        pytest.param(
            "bastion.W161",
            {"BASTION_UPLOADS_SCAN_FAILURE": "accept"},
            (),
            id="W161-accept-unscanned",
        ),
        pytest.param(
            "bastion.E162", {"BASTION_UPLOADS_FOLDER": STATIC_UPLOADS}, (), id="E162-in-static"
        ),
        pytest.param("bastion.W163", {"BASTION_UPLOADS_ENCRYPT": False}, (), id="W163-plain"),
        pytest.param(
            "bastion.W164",
            {"BASTION_UPLOADS_ALLOW_EXECUTABLE": ["svg"]},
            (),
            id="W164-svg-allowed",
        ),
        pytest.param(
            "bastion.W165", {"BASTION_UPLOADS_REENCODE_IMAGES": False}, (), id="W165-as-sent"
        ),
        pytest.param(
            "bastion.W166",
            {
                "BASTION_UPLOADS_QUOTA": 0,
                "BASTION_UPLOADS_CLAMD_URL": "tcp://127.0.0.1:3310",
                "patch": _upload_view,
            },
            (),
            id="W166-no-quota",
        ),
    ]
)
SILENT.extend(
    [
        pytest.param(
            "bastion.E160",
            {"BASTION_UPLOADS_CLAMD_URL": "unix:///run/clamav/clamd.ctl", "patch": _upload_view},
            id="E160-scanner-set",
        ),
        pytest.param(
            "bastion.E160",
            {"BASTION_PROFILE": "development", "patch": _upload_view},
            id="E160-development",
        ),
        pytest.param("bastion.E160", {}, id="E160-no-upload-view"),
        pytest.param("bastion.W161", {}, id="W161-refuse"),
        pytest.param(
            "bastion.E162",
            {"BASTION_UPLOADS_FOLDER": str(Path(__file__).parent / "static-uploads")},
            id="E162-beside-static",
        ),
        pytest.param("bastion.W163", {}, id="W163-encrypted"),
        pytest.param("bastion.W164", {}, id="W164-none"),
        pytest.param("bastion.W165", {}, id="W165-reencoded"),
        pytest.param("bastion.W166", {"BASTION_UPLOADS_QUOTA": 0}, id="W166-no-upload-view"),
    ]
)
DEPLOY_ONLY |= {"bastion.E160", "bastion.W166"}


def _workers(count: int) -> Callable[[Flask], None]:
    """A patch: the server will run ``count`` workers (WEB_CONCURRENCY, restored after the
    test by :func:`_environ_restored`)."""

    def patch(app: Flask) -> None:
        os.environ["WEB_CONCURRENCY"] = str(count)

    return patch


@pytest.fixture(autouse=True)
def _environ_restored() -> t.Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


REDIS_LIMITS = "redis://127.0.0.1:6379/0"
FIRES.extend(
    [
        pytest.param(
            "bastion.E130",
            {"patch": _workers(4)},
            ("bastion.W143",),  # the bans are in memory by default too
            id="E130-memory-four-workers",
        ),
        pytest.param(
            "bastion.W131", {"BASTION_RATELIMIT_ENABLED": False}, (), id="W131-limits-off"
        ),
        pytest.param("bastion.W132", {"BASTION_RATELIMIT_DEFAULT": None}, (), id="W132-no-default"),
        pytest.param("bastion.W133", {"BASTION_RATELIMIT_AUTH": ""}, (), id="W133-auth-off"),
        pytest.param(
            "bastion.W133",
            {"BASTION_RATELIMIT_AUTH_ACCOUNT": None},
            (),
            id="W133-account-off",
        ),
        pytest.param(
            "bastion.W134", {"BASTION_RATELIMIT_AUTH_FAIL": "open"}, (), id="W134-auth-fails-open"
        ),
        pytest.param(
            "bastion.W135", {"BASTION_RATELIMIT_IPV6_PREFIX": 128}, (), id="W135-per-address"
        ),
        pytest.param(
            "bastion.W136",
            {"BASTION_RATELIMIT_EXEMPT_NETWORKS": ["10.0.0.5/32", "0.0.0.0/0"]},
            (),
            id="W136-everyone",
        ),
    ]
)
SILENT.extend(
    [
        pytest.param("bastion.E130", {"patch": _workers(1)}, id="E130-one-worker"),
        pytest.param(
            "bastion.E130",
            {"patch": _workers(4), "BASTION_RATELIMIT_STORAGE_URL": REDIS_LIMITS},
            id="E130-redis-four-workers",
        ),
        pytest.param("bastion.W131", {}, id="W131-limits-on"),
        pytest.param(
            "bastion.W132",
            {"BASTION_RATELIMIT_DEFAULT": "100/second"},
            id="W132-any-default",
        ),
        pytest.param("bastion.W133", {}, id="W133-auth-on"),
        pytest.param("bastion.W134", {}, id="W134-auth-fails-closed"),
        pytest.param("bastion.W135", {"BASTION_RATELIMIT_IPV6_PREFIX": 56}, id="W135-wider"),
        pytest.param(
            "bastion.W136",
            {"BASTION_RATELIMIT_EXEMPT_NETWORKS": ["10.0.0.5/32", "fd00::/8"]},
            id="W136-private",
        ),
    ]
)
DEPLOY_ONLY |= {
    "bastion.E130",
    "bastion.W131",
    "bastion.W132",
    "bastion.W133",
    "bastion.W134",
    "bastion.W135",
    "bastion.W136",
}


@pytest.mark.parametrize(
    ("environ", "argv", "expected"),
    [
        ({}, ["flask"], None),
        ({"WEB_CONCURRENCY": "3"}, [], (3, "WEB_CONCURRENCY=3")),
        ({"GUNICORN_CMD_ARGS": "--bind :80 --workers=5"}, [], (5, "GUNICORN_CMD_ARGS workers=5")),
        ({"GUNICORN_CMD_ARGS": "-w 2"}, [], (2, "GUNICORN_CMD_ARGS workers=2")),
        ({}, ["/venv/bin/gunicorn", "-w4", "app:app"], (4, "gunicorn --workers 4")),
        ({"UWSGI_PROCESSES": "8", "WEB_CONCURRENCY": "2"}, [], (8, "UWSGI_PROCESSES=8")),
        ({"WEB_CONCURRENCY": "many", "GUNICORN_CMD_ARGS": "'"}, [], None),
    ],
    ids=[
        "nothing",
        "web-concurrency",
        "cmd-args-equals",
        "cmd-args-short",
        "argv",
        "uwsgi",
        "junk",
    ],
)
def test_worker_processes(
    environ: dict[str, str], argv: list[str], expected: tuple[int, str] | None, tmp_path: Path
) -> None:
    """The worker count is read where servers read it; junk is no count."""
    assert worker_processes(environ, argv, tmp_path) == expected


def test_worker_processes_from_gunicorn_conf(tmp_path: Path) -> None:
    """A literal ``workers = N`` in gunicorn.conf.py counts."""
    (tmp_path / "gunicorn.conf.py").write_text("bind = ':80'\nworkers = 6\n")
    assert worker_processes({}, [], tmp_path) == (6, "workers = 6 in gunicorn.conf.py")


def test_default_app_has_no_findings_for_deploy() -> None:
    """Secure by default: a plain Bastion(app) with TRUSTED_HOSTS passes check --deploy."""
    assert run_checks(make_app(default_store=True), deploy=True) == []


def test_default_app_has_no_findings_without_deploy() -> None:
    """The default app has no findings without --deploy either."""
    assert run_checks(make_app(default_store=True), deploy=False) == []


@pytest.mark.parametrize(("check_id", "setup", "also"), FIRES)
def test_check_fires(check_id: str, setup: dict[str, t.Any], also: tuple[str, ...]) -> None:
    """The unsafe setup yields exactly this ID (and the listed companions) under --deploy."""
    assert ids(build(**setup)) == {check_id, *also}


@pytest.mark.parametrize(("check_id", "setup"), SILENT)
def test_check_stays_silent(check_id: str, setup: dict[str, t.Any]) -> None:
    """The near-miss setup does not yield the ID under --deploy."""
    assert check_id not in ids(build(**setup))


@pytest.mark.parametrize(
    ("check_id", "setup", "also"),
    [p for p in FIRES if p.values[0] in DEPLOY_ONLY],
)
def test_deploy_only_check_needs_deploy(
    check_id: str, setup: dict[str, t.Any], also: tuple[str, ...]
) -> None:
    """A deploy-only check does not run without deploy=True."""
    assert check_id not in ids(build(**setup), deploy=False)


@pytest.mark.parametrize(
    ("check_id", "setup", "also"),
    [p for p in FIRES if p.values[0] not in DEPLOY_ONLY],
)
def test_configuration_check_runs_without_deploy(
    check_id: str, setup: dict[str, t.Any], also: tuple[str, ...]
) -> None:
    """A configuration check runs without deploy=True too."""
    assert check_id in ids(build(**setup), deploy=False)


@pytest.mark.parametrize(
    "bastion",
    [
        pytest.param({}, id="no-proxy-trust"),
        pytest.param({"proxy_trusted_cidrs": ["10.0.0.0/8"]}, id="with-bastion-middleware"),
    ],
)
def test_proxy_fix_installed_before_bastion_is_found(bastion: dict[str, t.Any]) -> None:
    """W062 sees a ProxyFix applied before Bastion(app), as Flask's docs show it."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    Bastion(app, **bastion)
    assert ids(app, deploy=False) == {"bastion.W062"}


def test_every_catalogued_id_is_exercised() -> None:
    """The FIRES table covers every declared check, so no check goes untested."""
    assert {p.values[0] for p in FIRES} == {m.id for m in checks.catalogue()}


def test_every_catalogued_id_has_a_near_miss() -> None:
    """The SILENT table covers every declared check, so each is tested both ways."""
    assert {p.values[0] for p in SILENT} == {m.id for m in checks.catalogue()}


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(
            {"BASTION_SILENCED_CHECKS": ["bastion.W013"], "bastion": {"https_hsts_max_age": 60}},
            id="app-config-list",
        ),
        pytest.param(
            {
                "BASTION_SILENCED_CHECKS": "bastion.W012, bastion.W013",
                "bastion": {"https_hsts_max_age": 60},
            },
            id="comma-separated-string",
        ),
        pytest.param(
            {"bastion": {"silenced_checks": ("bastion.W013",), "https_hsts_max_age": 60}},
            id="keyword",
        ),
    ],
)
def test_silenced_check_is_not_reported(setup: dict[str, t.Any]) -> None:
    """BASTION_SILENCED_CHECKS removes that ID from the findings."""
    assert ids(build(**setup)) == set()


def test_silencing_one_id_keeps_the_others() -> None:
    """Silencing is per ID: other findings of the same check still appear."""
    app = build(
        BASTION_SILENCED_CHECKS=["bastion.W014", "bastion.W035"],
        bastion={"sessions_enabled": False},
        after={"SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_HTTPONLY": False},
        patch=_plain_flask_sessions,
    )
    assert ids(app) == {"bastion.W015"}


def test_include_silenced_returns_silenced_findings() -> None:
    """include_silenced=True returns what silencing hid, for the CLI's count."""
    app = build(BASTION_SILENCED_CHECKS=["bastion.W013"], bastion={"https_hsts_max_age": 60})
    found = run_checks(app, deploy=True, include_silenced=True)
    assert [m.id for m in found] == ["bastion.W013"]


def test_run_checks_needs_bastion() -> None:
    """Running the checks on an app without Flask-Bastion is an error, not a clean bill."""
    with pytest.raises(RuntimeError, match="not initialised"):
        run_checks(Flask(__name__), deploy=True)


def test_two_apps_are_checked_independently() -> None:
    """Findings come from the app passed in, not from another app in the process."""
    unsafe = build(bastion={"https_hsts_max_age": 0})
    safe = make_app(default_store=True)
    assert (ids(unsafe), ids(safe)) == ({"bastion.W012"}, set())


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_id_format_and_level_letter(message: CheckMessage) -> None:
    """IDs are bastion.<letter><3 digits>, and the letter names the level."""
    match = ID_PATTERN.match(message.id)
    assert match is not None
    assert LETTER_LEVELS[match.group(1)] == message.level


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_id_number_is_unique(message: CheckMessage) -> None:
    """No two IDs share a number, even with different letters (W013 and E013)."""
    numbers = [m.id[-3:] for m in checks.catalogue()]
    assert numbers.count(message.id[-3:]) == 1


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_message_has_text_and_hint(message: CheckMessage) -> None:
    """Every message says what is wrong and how to fix it."""
    assert message.msg.strip() and message.hint.strip()


def test_module_constants_match_their_ids() -> None:
    """Each message constant is named after its ID (W004 -> bastion.W004), and together the
    check modules hold the whole catalogue."""
    constants = {
        name: value
        for module in (p.values[0] for p in MODULE_BLOCKS)
        for name, value in vars(module).items()
        if isinstance(value, CheckMessage)
    }
    assert {f"bastion.{name}" for name in constants} == {m.id for m in constants.values()}
    assert set(constants.values()) == set(checks.catalogue())


@pytest.mark.parametrize(("module", "block"), MODULE_BLOCKS)
def test_module_ids_are_in_its_block(module: t.Any, block: str) -> None:
    """A check module declares IDs of its own block of ten only (https.py: 01x)."""
    numbers = {v.id[-3:] for v in vars(module).values() if isinstance(v, CheckMessage)}
    assert numbers and {n[:2] for n in numbers} == {block}


def test_protection_modules_do_not_import_the_checks() -> None:
    """Importing the extension and every protection module leaves the checks unloaded, so
    the request pipeline cannot depend on them (nor form an import cycle with them)."""
    code = (
        "import sys, flask_bastion, flask_bastion.content, flask_bastion.csp, flask_bastion.csrf, "
        "flask_bastion.debugger, flask_bastion.errors, flask_bastion.extension, "
        "flask_bastion.headers, flask_bastion.https, flask_bastion.mail, flask_bastion.proxy, "
        "flask_bastion.sessions; "
        "print(sorted(m for m in sys.modules if m.startswith('flask_bastion.checks')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_message_declares_its_settings(message: CheckMessage) -> None:
    """Every check names the configuration keys it concerns, unless it concerns none."""
    assert bool(message.settings) != (message.id in NO_SETTING)


def test_every_dangerous_setting_is_checked() -> None:
    """Each setting with a danger note is reported by some check (or listed, with a reason,
    as unchecked), so weakening a protection never goes unnoticed by check --deploy."""
    declared = {key for m in checks.catalogue() for key in m.settings}
    dangerous = {info.key for info in settings() if info.danger}
    assert dangerous - declared == set(UNCHECKED_DANGER)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("BASTION_HTTPS_REDIRCT", id="bastion-typo"),
        pytest.param("BASTION_HTTPS_REDIRECT ", id="bastion-trailing-space"),
        pytest.param("SESSION_COOKIE_SECUR", id="flask-typo"),
    ],
)
def test_message_rejects_unknown_setting(key: str) -> None:
    """A check naming a key that is not a setting fails at import, and is not catalogued."""
    with pytest.raises(ValueError, match=rf"bastion\.W999 names {key}"):
        checks.message(checks.WARNING, "typo", "no", "bastion.W999", settings=(key,))
    assert "bastion.W999" not in {m.id for m in checks.catalogue()}


def test_catalogue_is_ordered_by_number() -> None:
    """The catalogue lists messages by ID number, whatever their level."""
    numbers = [m.id[-3:] for m in checks.catalogue()]
    assert numbers == sorted(numbers)


def test_duplicate_id_raises() -> None:
    """Declaring a message with an ID already in use raises ValueError."""
    with pytest.raises(ValueError, match=r"bastion\.W004 is already used"):
        checks.message(checks.WARNING, "again", "no", "bastion.W004")


def test_duplicate_id_leaves_original() -> None:
    """A rejected duplicate does not replace the catalogued message."""
    with pytest.raises(ValueError, match="already used"):
        checks.message(checks.ERROR, "replaced", "no", "bastion.W002")
    assert next(m for m in checks.catalogue() if m.id == "bastion.W002") is core.W002


def test_message_str_shows_id_level_and_hint() -> None:
    """str(message) is the line the CLI prints: ID, level name, message and hint."""
    assert str(core.E001) == (f"bastion.E001: (ERROR) {core.E001.msg}\n\tHINT: {core.E001.hint}")


def test_weakened_views_are_named_by_endpoint() -> None:
    """An app with a CSRF-exempt, an HTTPS-exempt and a CSP-loosening view gets one
    finding per view, each naming its endpoint; one can be silenced by endpoint."""
    app = build()
    _view(app, csrf_exempt, name="webhook")
    _view(app, https_exempt, name="health")
    _view(app, view_csp(script_src=["'self'", "https://cdn.example"]), name="widget")
    found = {(m.id, m.obj) for m in run_checks(app, deploy=True)}
    assert found >= {
        ("bastion.W024", "webhook"),
        ("bastion.W017", "health"),
        ("bastion.W057", "widget"),
    }
    result = app.test_cli_runner().invoke(args=["bastion", "check", "--deploy"])
    assert "bastion.W024: (WARNING) webhook: A view accepts cross-site requests" in result.output
    assert result.exit_code == 1
    reviewed = build(BASTION_SILENCED_CHECKS=["bastion.W024:webhook"])
    _view(reviewed, csrf_exempt, name="webhook")
    _view(reviewed, csrf_exempt, name="other")
    found = {(m.id, m.obj) for m in run_checks(reviewed, deploy=True)}
    assert ("bastion.W024", "webhook") not in found
    assert ("bastion.W024", "other") in found


def test_weakened_blueprint_views_are_each_reported() -> None:
    """A marker on a blueprint is reported for every view the blueprint registered."""
    from flask import Blueprint

    app = build()
    hooks = Blueprint("hooks", __name__)
    hooks.add_url_rule("/a", "a", lambda: "a", methods=["POST"])
    hooks.add_url_rule("/b", "b", lambda: "b", methods=["POST"])
    csrf_exempt(hooks)
    app.register_blueprint(hooks, url_prefix="/hooks")
    found = {m.obj for m in run_checks(app, deploy=True) if m.id == "bastion.W024"}
    assert found == {"hooks.a", "hooks.b"}


@pytest.fixture
def big_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[str]:
    """An importable package of four modules; the last one (in sorted order) builds SQL
    from strings, and its templates folder holds three templates, the last with |safe."""
    monkeypatch.syspath_prepend(str(tmp_path))
    package = tmp_path / "big_scan_app"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("a", "b"):
        (package / f"{name}.py").write_text("X = 1\n")
        (package / "templates" / f"{name}.html").write_text("{{ x }}\n")
    (package / "z.py").write_text(
        "from sqlalchemy import text\ndef f(s, x):\n    s.execute(text(f'{x}'))\n"
    )
    (package / "templates" / "z.html").write_text("{{ x|safe }}\n")
    yield "big_scan_app"
    for module in [m for m in sys.modules if m.startswith("big_scan_app")]:
        del sys.modules[module]


def test_w174_reports_modules_past_the_limit(
    big_package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package with more modules than MAX_FILES is scanned only that far, and the
    findings say how many modules were left unread instead of passing silently."""
    monkeypatch.setattr(codescan, "MAX_FILES", 3)
    app = build()
    app.import_name = big_package
    app.root_path = str(tmp_path / big_package)
    found = {(m.id, m.obj) for m in run_checks(app, deploy=True)}
    assert ("bastion.W174", "3 of 4 modules read, 1 not") in found
    assert "bastion.W173" not in {check_id for check_id, _ in found}  # z.py was not read
    result = app.test_cli_runner().invoke(args=["bastion", "check", "--deploy"])
    assert "bastion.W174: (WARNING) 3 of 4 modules read, 1 not: The code checks" in result.output
    assert result.exit_code == 1


def test_w174_reports_templates_past_the_limit(
    big_package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Templates past MAX_TEMPLATES are reported as unread, not passed as clean."""
    monkeypatch.setattr(codescan_templates, "MAX_TEMPLATES", 2)
    app = build()
    app.root_path = str(tmp_path / big_package)
    found = {(m.id, m.obj) for m in run_checks(app, deploy=True)}
    assert ("bastion.W174", "2 of 3 templates read, 1 not") in found
    assert "bastion.W170" not in {check_id for check_id, _ in found}  # z.html was not read


def test_w174_silent_when_everything_is_read(big_package: str, tmp_path: Path) -> None:
    """Under the limits every module and template is read: the sinks in the last ones are
    found and nothing is reported unread."""
    app = build()
    app.import_name = big_package
    app.root_path = str(tmp_path / big_package)
    found = ids(app)
    assert {"bastion.W170", "bastion.W173"} <= found
    assert "bastion.W174" not in found
