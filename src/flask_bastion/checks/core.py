"""Core checks (``00x``): the secret key, the debugger, autoescaping, the profile and
the trusted hosts.

These are the settings of Flask itself that every protection rests on: a guessable
``SECRET_KEY`` lets anyone forge sessions and tokens, the debugger runs code for whoever
reaches it, and without autoescaping or ``TRUSTED_HOSTS`` the application writes
attacker-controlled text into pages and links.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import ERROR, WARNING, CheckMessage, message, register

#: Shortest acceptable SECRET_KEY, in characters or bytes (32 hex characters are 128 bits).
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_UNIQUE = 10

E001 = message(
    ERROR,
    "SECRET_KEY is not set.",
    "Set SECRET_KEY from the environment or a file outside the repository; "
    "`flask bastion generate-secret` prints a good one.",
    "bastion.E001",
    settings=("SECRET_KEY",),
)
W002 = message(
    WARNING,
    f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters.",
    "A short key can be brute-forced from one signed cookie. Use `flask bastion generate-secret`.",
    "bastion.W002",
    settings=("SECRET_KEY",),
)
W003 = message(
    WARNING,
    f"SECRET_KEY has fewer than {MIN_SECRET_KEY_UNIQUE} distinct characters.",
    "The key looks typed rather than generated. Use `flask bastion generate-secret`.",
    "bastion.W003",
    settings=("SECRET_KEY",),
)
W004 = message(
    WARNING,
    "SECRET_KEY is a well-known placeholder or documentation example.",
    "Anyone can forge sessions and tokens signed with a published key. Generate a new one.",
    "bastion.W004",
    settings=("SECRET_KEY",),
)
W005 = message(
    WARNING,
    "DEBUG is on.",
    "The debugger shows source and runs code in the browser. Never deploy with DEBUG on.",
    "bastion.W005",
    settings=("DEBUG",),
)
W006 = message(
    WARNING,
    "Jinja autoescaping is off for .html templates.",
    "Without autoescaping every {{ value }} is an XSS hole. Do not override "
    "select_jinja_autoescape or jinja_options['autoescape'].",
    "bastion.W006",
)
W007 = message(
    WARNING,
    "BASTION_PROFILE is 'development'.",
    "The development profile relaxes HTTPS and cookie protections for loopback. "
    "Use the default 'production' profile when deploying.",
    "bastion.W007",
    settings=("BASTION_PROFILE",),
)
W008 = message(
    WARNING,
    "TRUSTED_HOSTS is not set.",
    "Absolute URLs (redirects, links in emails) are built from the client's Host header; "
    "set TRUSTED_HOSTS to the names this site answers to. SERVER_NAME does not restrict the "
    "Host header and does not replace it.",
    "bastion.W008",
    settings=("TRUSTED_HOSTS",),
)

_PLACEHOLDERS = frozenset(
    {
        "dev", "development", "test", "testing", "secret", "secretkey", "mysecretkey",
        "yoursecretkey", "supersecret", "supersecretkey", "flasksecretkey", "default",
        "password", "changeme", "changethis", "replaceme", "keyboardcat", "notsecret",
        "insecure", "xxx", "abc123", "123456", "s3cr3t", "key",
    }
)  # fmt: skip
_PLACEHOLDER_PARTS = (
    "changeme",
    "changethis",
    "replaceme",
    "yoursecret",
    "placeholder",
    "insecure",
)
#: The example key printed in Flask's quickstart documentation.
_FLASK_DOCS_KEY = b'_5#y2L"F4Q8z\n\xec]/'


def _normalised(key: str | bytes) -> str:
    text = key.decode("latin-1") if isinstance(key, bytes) else key
    return "".join(c for c in text.lower() if c.isalnum())


@register()
def check_secret_key(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    key = app.config.get("SECRET_KEY")
    if not key:
        return [E001]
    if not isinstance(key, str | bytes):
        return []
    normal = _normalised(key)
    # Latin-1, so the str spelling of the bytes literal ('...\xec]/') matches too.
    key_bytes = key if isinstance(key, bytes) else key.encode("latin-1", "replace")
    if (
        normal in _PLACEHOLDERS
        or key_bytes == _FLASK_DOCS_KEY
        or any(p in normal for p in _PLACEHOLDER_PARTS)
    ):
        return [W004]
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return [W002]
    return [W003] if len(set(key)) < MIN_SECRET_KEY_UNIQUE else []


W009 = message(
    WARNING,
    "The application's code starts Werkzeug's debugger.",
    "A call such as app.run(debug=True), run_simple(use_debugger=True) or "
    "DebuggedApplication(app) was found; the production profile refuses it at run time. "
    "Start the server with `flask run` or gunicorn, and the debugger with `flask --debug run` "
    "on your machine only.",
    "bastion.W009",
    settings=("DEBUG",),
)


def wsgi_chain(app: Flask) -> Iterable[object]:
    """The WSGI layers around ``app``, outermost first (a bounded walk)."""
    layer: t.Any = app.wsgi_app
    for _ in range(16):
        if layer is None:
            return
        yield layer
        # wsgi_app first: Bastion's own layers also hold the Flask app as ``.app``.
        layer = getattr(layer, "wsgi_app", None) or getattr(layer, "app", None)


@register(deploy=True)
def check_debug(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    wrapped = any(type(layer).__name__ == "DebuggedApplication" for layer in wsgi_chain(app))
    return [W005] if app.debug or wrapped else []


@register(deploy=True)
def check_debugger_in_code(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    from ..codescan import starts_debugger

    return [W009] if starts_debugger(app.import_name) else []


@register()
def check_autoescape(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    autoescape = app.jinja_env.autoescape
    on = autoescape("page.html") if callable(autoescape) else autoescape
    return [] if on else [W006]


@register(deploy=True)
def check_profile(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W007] if config.development else []


@register(deploy=True)
def check_trusted_hosts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # An empty list trusts every host (werkzeug), so only a non-empty one counts.
    return [] if app.config.get("TRUSTED_HOSTS") else [W008]
