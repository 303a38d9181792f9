"""Deploy and configuration checks with stable IDs, run by ``flask bastion check``.

Catches the mistakes that leave a deployment open while every test passes: a placeholder
``SECRET_KEY``, ``DEBUG`` on, cookies without their flags, HSTS or CSP off, a proxy
trusted from everywhere. Modelled on Django's ``check --deploy``: each message is a
module constant with a hint and an ID that is never reused; each check is a small
function registered with :func:`register` (``deploy=True`` runs only with ``--deploy``).
IDs come in blocks of ten per module (core ``00x``, HTTPS ``01x``, CSRF ``02x``,
sessions ``03x``, headers ``04x``, CSP ``05x``, proxy ``06x``, errors ``07x``); the
catalogue with explanations is ``docs/checks.md``. Silence one with
``BASTION_SILENCED_CHECKS = ["bastion.W013"]``.
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask import Flask

from ..config import BastionConfig, IPNetwork

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
LEVELS = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "ERROR": ERROR, "CRITICAL": CRITICAL}
_LEVEL_NAMES = {value: name for name, value in LEVELS.items()}

#: HSTS max-age below this (one year) is reported; it is what preload lists require.
MIN_HSTS_SECONDS = 31_536_000
#: Shortest acceptable SECRET_KEY, in characters or bytes (32 hex characters are 128 bits).
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_UNIQUE = 10


@dataclass(frozen=True)
class CheckMessage:
    """One finding: severity, what is wrong, how to fix it, and a stable ID."""

    level: int
    msg: str
    hint: str
    id: str

    @property
    def level_name(self) -> str:
        return _LEVEL_NAMES.get(self.level, str(self.level))

    def __str__(self) -> str:
        return f"{self.id}: ({self.level_name}) {self.msg}\n\tHINT: {self.hint}"


Check = Callable[[Flask, BastionConfig], Iterable[CheckMessage]]
_registry: list[tuple[Check, bool]] = []
_catalogue: dict[str, CheckMessage] = {}


def message(level: int, msg: str, hint: str, id: str) -> CheckMessage:
    """Declare a check message; its ``id`` must never have been used before."""
    if id in _catalogue:
        raise ValueError(f"check ID {id} is already used")
    found = _catalogue[id] = CheckMessage(level, msg, hint, id)
    return found


def register(*, deploy: bool = False) -> Callable[[Check], Check]:
    """Register a check; ``deploy=True`` runs it only for ``check --deploy``."""

    def decorator(check: Check) -> Check:
        _registry.append((check, deploy))
        return check

    return decorator


def run_checks(
    app: Flask, *, deploy: bool = False, include_silenced: bool = False
) -> list[CheckMessage]:
    """Run every registered check against ``app`` (initialised with Flask-Bastion)."""
    from ..extension import get_state

    config = get_state(app).config
    silenced = set(config.core.silenced_checks)
    messages = [m for check, d in _registry if deploy or not d for m in check(app, config)]
    if include_silenced:
        return messages
    return [m for m in messages if m.id not in silenced]


# -- core: 00x ------------------------------------------------------------------------------

E001 = message(
    ERROR,
    "SECRET_KEY is not set.",
    "Set SECRET_KEY from the environment or a file outside the repository; "
    "`flask bastion generate-secret` prints a good one.",
    "bastion.E001",
)
W002 = message(
    WARNING,
    f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters.",
    "A short key can be brute-forced from one signed cookie. Use `flask bastion generate-secret`.",
    "bastion.W002",
)
W003 = message(
    WARNING,
    f"SECRET_KEY has fewer than {MIN_SECRET_KEY_UNIQUE} distinct characters.",
    "The key looks typed rather than generated. Use `flask bastion generate-secret`.",
    "bastion.W003",
)
W004 = message(
    WARNING,
    "SECRET_KEY is a well-known placeholder or documentation example.",
    "Anyone can forge sessions and tokens signed with a published key. Generate a new one.",
    "bastion.W004",
)
W005 = message(
    WARNING,
    "DEBUG is on.",
    "The debugger shows source and runs code in the browser. Never deploy with DEBUG on.",
    "bastion.W005",
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
)
W008 = message(
    WARNING,
    "TRUSTED_HOSTS is not set.",
    "Absolute URLs (redirects, links in emails) are built from the client's Host header; "
    "set TRUSTED_HOSTS to the names this site answers to. SERVER_NAME does not restrict the "
    "Host header and does not replace it.",
    "bastion.W008",
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
)


def _wsgi_chain(app: Flask) -> Iterable[object]:
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
    wrapped = any(type(layer).__name__ == "DebuggedApplication" for layer in _wsgi_chain(app))
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


# -- HTTPS: 01x -----------------------------------------------------------------------------

W011 = message(
    WARNING,
    "BASTION_HTTPS_REDIRECT is off: plain-HTTP requests are served.",
    "Leave it on unless a proxy you control redirects every request to HTTPS.",
    "bastion.W011",
)
W012 = message(
    WARNING,
    "HSTS is off (BASTION_HTTPS_HSTS_MAX_AGE is 0).",
    "Without HSTS, a network attacker can strip HTTPS from the first request of each visit.",
    "bastion.W012",
)
W013 = message(
    WARNING,
    f"HSTS max-age is shorter than one year ({MIN_HSTS_SECONDS} seconds).",
    "Raise BASTION_HTTPS_HSTS_MAX_AGE once HTTPS works everywhere on the site.",
    "bastion.W013",
)
W014 = message(
    WARNING,
    "SESSION_COOKIE_SECURE is off.",
    "The session cookie would be sent over plain HTTP. Do not override the value Bastion sets.",
    "bastion.W014",
)
W015 = message(
    WARNING,
    "SESSION_COOKIE_HTTPONLY is off.",
    "Any script on the page, including an injected one, can read the session cookie.",
    "bastion.W015",
)
W016 = message(
    WARNING,
    "SESSION_COOKIE_SAMESITE is not 'Lax' or 'Strict'.",
    "SameSite=Lax keeps the session cookie off cross-site subrequests (a CSRF defence in depth).",
    "bastion.W016",
)


@register(deploy=True)
def check_https_redirect(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.https.redirect else [W011]


@register(deploy=True)
def check_hsts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if config.https.hsts_max_age == 0:
        return [W012]
    return [W013] if config.https.hsts_max_age < MIN_HSTS_SECONDS else []


@register(deploy=True)
def check_session_cookie(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    found = []
    if not app.config.get("SESSION_COOKIE_SECURE"):
        found.append(W014)
    if not app.config.get("SESSION_COOKIE_HTTPONLY"):
        found.append(W015)
    if app.config.get("SESSION_COOKIE_SAMESITE") not in ("Lax", "Strict"):
        found.append(W016)
    return found


# -- CSRF: 02x ------------------------------------------------------------------------------

W021 = message(
    WARNING,
    "CSRF protection is off (BASTION_CSRF_ENABLED).",
    "Any site could then make a logged-in user's browser post forms to the application. "
    "Keep it on; exempt single views with @csrf_exempt instead.",
    "bastion.W021",
)
W022 = message(
    WARNING,
    "BASTION_CSRF_TRUSTED_ORIGINS contains a wildcard.",
    "Every matching subdomain may send state-changing requests, so one taken-over or "
    "user-content subdomain is enough for CSRF. List the exact origins.",
    "bastion.W022",
)
W023 = message(
    WARNING,
    "BASTION_CSRF_TRUSTED_ORIGINS contains a plain-HTTP origin.",
    "A network attacker can inject script into a plain-HTTP page of that origin and post "
    "from it. Trust only https:// origins.",
    "bastion.W023",
)


@register(deploy=True)
def check_csrf_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.csrf.enabled else [W021]


@register()
def check_csrf_wildcard(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W022] if any("*" in origin for origin in config.csrf.trusted_origins) else []


@register(deploy=True)
def check_csrf_plain_http(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    plain = any(origin.startswith("http://") for origin in config.csrf.trusted_origins)
    return [W023] if plain else []


# -- headers: 04x ---------------------------------------------------------------------------

W041 = message(
    WARNING,
    "Pages can be framed by any site: X-Frame-Options is off and the CSP has no frame-ancestors.",
    "Keep BASTION_HEADERS_FRAME_OPTIONS or a frame-ancestors directive to prevent clickjacking.",
    "bastion.W041",
)
W042 = message(
    WARNING,
    "Referrer-Policy sends full URLs to other sites.",
    "URLs can carry tokens and private paths; use 'strict-origin-when-cross-origin'.",
    "bastion.W042",
)


@register()
def check_framing(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    csp_guards = (
        config.csp.enabled and not config.csp.report_only and "frame-ancestors" in config.csp.policy
    )
    return [] if config.headers.frame_options or csp_guards else [W041]


@register()
def check_referrer_policy(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    leaky = ("unsafe-url", "no-referrer-when-downgrade")
    return [W042] if config.headers.referrer_policy in leaky else []


# -- CSP: 05x -------------------------------------------------------------------------------

W051 = message(
    WARNING,
    "Content-Security-Policy is off.",
    "The CSP is the browser's last line against XSS; keep BASTION_CSP_ENABLED on.",
    "bastion.W051",
)
W052 = message(
    WARNING,
    "Content-Security-Policy is report-only: violations are reported, not blocked.",
    "Report-only is for rolling a policy out; turn BASTION_CSP_REPORT_ONLY off once the "
    "reports are clean.",
    "bastion.W052",
)
W053 = message(
    WARNING,
    "script-src (or script-src-elem, script-src-attr) allows 'unsafe-inline' without a nonce "
    "or hash.",
    "Inline script is exactly what an XSS injects; use nonces (csp_nonce()) instead.",
    "bastion.W053",
)
W054 = message(
    WARNING,
    "script-src allows 'unsafe-eval'.",
    "eval() turns injected strings into code; remove 'unsafe-eval'.",
    "bastion.W054",
)
W055 = message(
    WARNING,
    "script-src allows scripts from any host (*, http:, https: or data:).",
    "An injected <script src> can then load the attacker's script; use nonces with "
    "'strict-dynamic' (the default policy) or list exact hosts.",
    "bastion.W055",
)
W056 = message(
    WARNING,
    "The Content-Security-Policy has neither script-src nor default-src: scripts are not "
    "restricted.",
    "Keep the default policy's script-src (\"'nonce'\", \"'strict-dynamic'\") or add a "
    "default-src.",
    "bastion.W056",
)

#: Sources that admit a script from any server of a scheme, or from the page itself
#: (``data:``), so that injected markup can load whatever script it likes.
_ANY_HOST_SOURCES = frozenset({"http:", "https:", "data:"})
#: How nonce and hash sources start; "'nonce'" is the placeholder for the response's nonce.
_NONCE_OR_HASH = ("'nonce", "'sha256-", "'sha384-", "'sha512-")
#: ``*`` as the host of a source: ``*``, ``https://*``, ``*:443``.
_ANY_HOST_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?\*(?::[0-9*]+)?(?:/.*)?", re.I)


def _script_sources(policy: Mapping[str, tuple[str, ...]], directive: str) -> tuple[str, ...]:
    """The sources that govern ``directive``: ``script-src-elem`` and ``-attr`` fall back
    to ``script-src``, which falls back to ``default-src`` (CSP Level 3)."""
    for name in (directive, "script-src", "default-src"):
        if name in policy:
            return policy[name]
    return ()


def _has_nonce_or_hash(sources: tuple[str, ...]) -> bool:
    return any(s.lower().startswith(_NONCE_OR_HASH) for s in sources)


@register(deploy=True)
def check_csp_enforced(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.csp.enabled:
        return [W051]
    return [W052] if config.csp.report_only else []


@register()
def check_script_src(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    policy = config.csp.policy
    # A nonce or hash makes every browser since CSP Level 2 ignore 'unsafe-inline', so it
    # is then only a fallback for older ones (web.dev/articles/strict-csp).
    inline = any(
        "'unsafe-inline'" in sources and not _has_nonce_or_hash(sources)
        for sources in (_script_sources(policy, d) for d in ("script-src-elem", "script-src-attr"))
    )
    found = [W053] if inline else []
    # eval() is governed by script-src alone (with default-src as its fallback).
    return [*found, W054] if "'unsafe-eval'" in _script_sources(policy, "script-src") else found


@register()
def check_script_hosts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    for directive in ("script-src-elem", "script-src"):
        sources = _script_sources(config.csp.policy, directive)
        # With 'strict-dynamic' and a nonce or hash, CSP Level 3 browsers ignore host and
        # scheme sources; those are the fallback for older browsers in the strict CSP.
        if "'strict-dynamic'" in sources and _has_nonce_or_hash(sources):
            continue
        if any(s.lower() in _ANY_HOST_SOURCES or _ANY_HOST_RE.fullmatch(s) for s in sources):
            return [W055]
    return []


@register()
def check_script_restricted(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    policy = config.csp.policy
    return [] if "script-src" in policy or "default-src" in policy else [W056]


# -- proxy: 06x -----------------------------------------------------------------------------

W061 = message(
    WARNING,
    "BASTION_PROXY_TRUSTED_CIDRS covers every address (0.0.0.0/0 or ::/0, whole or in parts).",
    "Any client could then forge its IP address and scheme. List only your proxies' networks.",
    "bastion.W061",
)
W062 = message(
    WARNING,
    "The WSGI app is wrapped in werkzeug's ProxyFix.",
    "Remove ProxyFix and set BASTION_PROXY_TRUSTED_HOPS (or _CIDRS) instead, so one setting "
    "decides the client address for every control and hops are not counted twice.",
    "bastion.W062",
)
I063 = message(
    INFO,
    "Forwarded headers are trusted from any peer (TRUSTED_HOPS without TRUSTED_CIDRS).",
    "Fine when only your proxy can reach the app; otherwise set BASTION_PROXY_TRUSTED_CIDRS.",
    "bastion.I063",
)
W064 = message(
    WARNING,
    "BASTION_PROXY_TRUSTED_CIDRS contains a public network wider than /8 (IPv4) or /16 (IPv6).",
    "No one operator's proxies need that many addresses, and anyone with an address in it "
    "could forge the client address and scheme. List only your proxies' networks.",
    "bastion.W064",
)

#: The widest IPv4 and IPv6 networks a proxy fleet can plausibly hold: wider than any
#: single allocation to one operator.
_WIDEST_PREFIX = {4: 8, 6: 16}
#: IPv6 networks that may be wide and still unreachable from the Internet.
_LOCAL_IPV6 = (ipaddress.IPv6Network("fc00::/7"), ipaddress.IPv6Network("fe80::/10"))
#: IPv4-mapped IPv6 addresses: a server on a dual-stack socket sees IPv4 clients as
#: ``::ffff:a.b.c.d``, so these networks trust IPv4 clients.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _as_ipv4(network: IPNetwork) -> IPNetwork:
    """An IPv6 network of IPv4-mapped addresses as the IPv4 network it trusts."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        first = int(network.network_address) & 0xFFFF_FFFF
        return ipaddress.IPv4Network((first, network.prefixlen - 96))
    return network


def _covers_everything(networks: list[IPNetwork]) -> bool:
    ipv4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    ipv6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    if any(n.supernet_of(_IPV4_MAPPED) for n in ipv6):
        ipv4.append(ipaddress.IPv4Network("0.0.0.0/0"))
    collapsed: list[IPNetwork] = [
        *ipaddress.collapse_addresses(ipv4),
        *ipaddress.collapse_addresses(ipv6),
    ]
    return any(n.prefixlen == 0 for n in collapsed)


def _too_wide(network: IPNetwork) -> bool:
    if isinstance(network, ipaddress.IPv6Network) and any(map(network.subnet_of, _LOCAL_IPV6)):
        return False
    return network.prefixlen < _WIDEST_PREFIX[network.version]


@register()
def check_proxy_cidrs(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    networks = [_as_ipv4(n) for n in config.proxy.trusted_cidrs]
    if _covers_everything(networks):
        return [W061]
    return [W064] if any(_too_wide(n) for n in networks) else []


@register()
def check_proxy_fix(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W062] if any(type(layer).__name__ == "ProxyFix" for layer in _wsgi_chain(app)) else []


@register(deploy=True)
def check_proxy_peer(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [I063] if config.proxy.trusted_hops and not config.proxy.trusted_cidrs else []


# -- errors: 07x ----------------------------------------------------------------------------

W071 = message(
    WARNING,
    "Safe error pages are off (BASTION_ERRORS_ENABLED).",
    "Error responses would not carry a request ID and may show framework details.",
    "bastion.W071",
)
W072 = message(
    WARNING,
    "MAX_CONTENT_LENGTH is not set: request bodies are unbounded.",
    "Do not reset MAX_CONTENT_LENGTH to None; raise it for the views that need more.",
    "bastion.W072",
)


@register(deploy=True)
def check_errors_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.errors.enabled else [W071]


@register()
def check_body_limit(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W072] if app.config.get("MAX_CONTENT_LENGTH") is None else []


def catalogue() -> list[CheckMessage]:
    """Every declared check message, ordered by ID number."""
    return sorted(_catalogue.values(), key=lambda m: m.id[9:])
