"""Cross-site request forgery protection: Fetch Metadata and ``Origin`` first, a
synchronizer token as the fallback.

Defends against another site making a user's browser send a state-changing request to
this application with the user's cookies attached (a forged form post, a ``fetch`` in
``no-cors`` mode, login CSRF). Same-origin requests and requests that carry no ambient
authority pass; the view never runs for a rejected one.

The check is the algorithm of Go 1.25's ``net/http.CrossOriginProtection``, which needs
no token because every browser released since 2023 says where a request comes from:

1. ``GET``, ``HEAD`` and ``OPTIONS`` are safe methods and always pass (they must not
   change state; that is the application's side of the contract).
2. ``Sec-Fetch-Site: same-origin`` or ``none`` (typed URL, bookmark) passes; any other
   value (``cross-site``, ``same-site``) is rejected unless the ``Origin`` is a trusted
   origin. Browsers set this header themselves; page script cannot forge it.
3. Without ``Sec-Fetch-Site`` (browsers before 2023), the ``Origin`` header must equal
   the request's own origin, ``scheme://host[:port]`` as :mod:`flask_bastion.proxy`
   settled it, default ports removed; ``Origin: null`` (sandboxed frames, some
   redirects) is rejected. A trusted origin passes too.
4. With neither header the request did not come from a browser form or ``fetch`` of
   the last decade, or a privacy tool stripped them. Go lets it through; Flask-Bastion
   lets it through only when it carries no ambient credential (no authority to abuse)
   and otherwise requires a synchronizer token from the session, sent in the form field
   ``csrf_token`` or the ``X-CSRF-Token`` header. Ambient credentials are the ones a
   browser attaches by itself: **any** cookie (the session's, a remember-me cookie, or
   one the application sets without Flask-Bastion knowing it authenticates) and an
   ``Authorization`` header with the ``Basic``, ``Digest``, ``Negotiate`` or ``NTLM``
   scheme.

Requests authenticated by an ``Authorization`` header that browsers never attach on
their own (a bearer token) and carrying no ambient credential are not subject to the
check: a forged request could only carry the attacker's own credentials. Trusted origins
(``BASTION_CSRF_TRUSTED_ORIGINS``) match exactly, or with ``*`` as the whole leftmost
label (``https://*.example.org`` matches ``https://a.example.org``, not
``https://a.b.example.org`` or ``https://example.org``).

Tokens are masked per response (BREACH): each call to :func:`csrf_token` returns
``base64url(mask || mask XOR secret)`` with a fresh 32-byte mask, so the secret never
appears twice in compressed HTTPS responses. See ``docs/csrf.md`` for the threat model.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import typing as t

from flask import Blueprint, Flask, Request, current_app, session
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup, escape

from . import signals
from .config import BastionConfig, CsrfConfig
from .exceptions import CSRFError
from .logs import security_log

REASON_CROSS_ORIGIN = "Sec-Fetch-Site: the request was sent from another origin."
REASON_ORIGIN_MISMATCH = "Origin does not match this site's origin."
REASON_NULL_ORIGIN = "Origin is null (a sandboxed or opaque context)."
# Messages, not secrets (bandit reads "TOKEN" in a name as a password).
REASON_TOKEN_MISSING = "CSRF token missing."  # noqa: S105
REASON_TOKEN_INVALID = "CSRF token invalid."  # noqa: S105
REASON_NO_SECRET = "CSRF token cannot be checked: the session has no CSRF secret."  # noqa: S105

#: Key of the per-session secret in :data:`flask.session` (base64url, 32 bytes).
SESSION_KEY = "_csrf_secret"
#: View, view class or blueprint attribute set by :func:`csrf_exempt`.
EXEMPT_ATTR = "_bastion_csrf_exempt"
#: ``app.extensions`` key of the set of endpoints registered through exempt blueprints.
EXEMPT_ENDPOINTS = "bastion.csrf_exempt_endpoints"
#: Bytes of the per-session secret and of each mask.
SECRET_BYTES = 32

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PASSING_SITES = frozenset({"same-origin", "none"})
# Authorization schemes a browser attaches by itself once the user has logged in to a
# challenge (RFC 7617, 7616, 4559): ambient authority, like a cookie.
_AMBIENT_SCHEMES = frozenset({"basic", "digest", "negotiate", "ntlm"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_DEFAULTS = CsrfConfig()

V = t.TypeVar("V", bound="t.Callable[..., t.Any] | Blueprint")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str, size: int) -> bytes | None:
    """``text`` as unpadded base64url of exactly ``size`` bytes, or ``None``.

    Only the canonical spelling is accepted: the unused low bits of the last character
    must be zero, so each value has exactly one token text."""
    if len(text) != (size * 4 + 2) // 3 or not _BASE64URL.fullmatch(text):
        return None
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return raw if _encode(raw) == text else None


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a))


def _stored_secret() -> bytes | None:
    stored = session.get(SESSION_KEY)
    return _decode(stored, SECRET_BYTES) if isinstance(stored, str) else None


def csrf_token() -> str:
    """A token for the current session, masked afresh on every call.

    Creates the session's secret (32 bytes from :mod:`secrets`) on first use and stores
    it in :data:`flask.session`, so calling it gives the visitor a session: render it
    only in pages that hold a form or script that changes state. Every token returned
    for a session verifies until :func:`rotate_csrf_secret` is called. Available in
    templates as ``csrf_token()``; works without the extension.

    .. versionadded:: 0.1
    """
    secret = _stored_secret()
    if secret is None:
        secret = secrets.token_bytes(SECRET_BYTES)
        session[SESSION_KEY] = _encode(secret)
    mask = secrets.token_bytes(SECRET_BYTES)
    return _encode(mask + _xor(mask, secret))


def _token_problem(token: str | None) -> str | None:
    """The reason ``token`` does not verify against the session's secret, or ``None``."""
    if not token:
        return REASON_TOKEN_MISSING
    secret = _stored_secret()
    if secret is None:
        return REASON_NO_SECRET
    raw = _decode(token, 2 * SECRET_BYTES)
    if raw is None:
        return REASON_TOKEN_INVALID
    unmasked = _xor(raw[:SECRET_BYTES], raw[SECRET_BYTES:])
    return None if hmac.compare_digest(unmasked, secret) else REASON_TOKEN_INVALID


def validate_csrf(token: str) -> None:
    """Check ``token`` against the current session's secret.

    For views that must check a token themselves (an exempt view, a WebSocket
    handshake). A failure is a rejection like any other: it emits
    :data:`~flask_bastion.signals.csrf_rejected` and a security log line.

    :param token: a value returned by :func:`csrf_token` for this session.
    :raises CSRFError: with reason :data:`REASON_TOKEN_MISSING`, :data:`REASON_NO_SECRET`
        or :data:`REASON_TOKEN_INVALID`.

    .. versionadded:: 0.1
    """
    reason = _token_problem(token)
    if reason is not None:
        reject(reason)


def rotate_csrf_secret() -> None:
    """Forget the session's secret, so every token issued so far stops verifying.

    Call it when the session changes hands or privilege, at login and logout (the
    accounts views do), so a token an attacker planted or read before login is
    worthless after it. The next :func:`csrf_token` creates a new secret.

    .. versionadded:: 0.1
    """
    session.pop(SESSION_KEY, None)


def _config() -> CsrfConfig:
    state = current_app.extensions.get("bastion")
    return state.config.csrf if state is not None else _DEFAULTS


def csrf_field() -> Markup:
    """A hidden ``<input>`` carrying :func:`csrf_token` under the configured field name
    (``BASTION_CSRF_FIELD_NAME``). Template global: ``{{ csrf_field() }}``."""
    name, value = escape(_config().field_name), escape(csrf_token())
    return Markup(f'<input type="hidden" name="{name}" value="{value}">')  # noqa: S704


def csrf_meta() -> Markup:
    """``<meta name="csrf-token" content="...">`` for scripts: read it and send the value
    in the ``X-CSRF-Token`` header. Template global: ``{{ csrf_meta() }}``."""
    return Markup(f'<meta name="csrf-token" content="{escape(csrf_token())}">')  # noqa: S704


def csrf_exempt(target: V) -> V:
    """Exempt a view function, a class-based view or a whole blueprint from the check.

    Works above or below ``@app.route``, on a :class:`~flask.views.View` subclass, and
    as ``csrf_exempt(blueprint)``, which covers the routes the blueprint and the
    blueprints nested in it register, under every name it is registered with, and no
    other route, whatever its endpoint is called.

    :raises AssertionError: for a blueprint that is already registered, like every
        blueprint setup method.

    .. danger:: An exempt view accepts forged requests. Use it only for endpoints that
       authenticate every request themselves (a webhook verifying a signature), never
       for views that rely on a cookie or on HTTP authentication.
    """
    if isinstance(target, Blueprint):
        # record() refuses a blueprint that is already registered: its routes are on the
        # app untagged, and exempting it now would silently do nothing.
        target.record(_tag_routes)
        # record() appends, but the tagger must run first to see every route; once.
        target.deferred_functions.pop()
        if _tag_routes not in target.deferred_functions:
            target.deferred_functions.insert(0, _tag_routes)
    setattr(target, EXEMPT_ATTR, True)
    return target


def _tag_routes(state: BlueprintSetupState) -> None:
    """Deferred setup function of exempt blueprints and of the blueprints nested in them.

    Flask derives ``request.blueprints`` from the endpoint's name, so an application
    route named ``hooks.delete`` would count as part of a blueprint ``hooks``. The
    exemption instead follows the registration: while an exempt blueprint (or one nested
    in it) is registered, every endpoint it adds is recorded for that application."""
    # Nested blueprints register after this one's setup functions ran, with their own
    # state: hand them the tagger too. It decides per registration, since a nested
    # blueprint may also be registered elsewhere, outside the exempt one.
    for child, _options in state.blueprint._blueprints:
        if _tag_routes not in child.deferred_functions:
            child.deferred_functions.insert(0, _tag_routes)
    name = f"{state.name_prefix}.{state.name}".lstrip(".")
    # The registered names of this blueprint and its parents: "a.b.c", "a.b", "a".
    lineage = [name.rsplit(".", depth)[0] for depth in range(name.count(".") + 1)]
    if not any(getattr(state.app.blueprints.get(n), EXEMPT_ATTR, False) for n in lineage):
        return
    endpoints: set[str] = state.app.extensions.setdefault(EXEMPT_ENDPOINTS, set())
    add_url_rule = state.add_url_rule

    def add_and_tag(
        rule: str,
        endpoint: str | None = None,
        view_func: t.Callable[..., t.Any] | None = None,
        **options: t.Any,
    ) -> None:
        add_url_rule(rule, endpoint, view_func, **options)
        # The endpoint exactly as BlueprintSetupState.add_url_rule named it.
        endpoints.add(f"{name}.{endpoint or getattr(view_func, '__name__', '')}")

    state.add_url_rule = add_and_tag  # type: ignore[method-assign]


def _is_exempt(app: Flask, request: Request) -> bool:
    view = app.view_functions.get(request.endpoint) if request.endpoint else None
    if getattr(view, EXEMPT_ATTR, False) or getattr(
        getattr(view, "view_class", None), EXEMPT_ATTR, False
    ):
        return True
    return request.endpoint in app.extensions.get(EXEMPT_ENDPOINTS, ())


def normalise_origin(origin: str) -> str:
    """``origin`` in lower case without the scheme's default port (``:443`` for https)."""
    origin = origin.lower()
    port = _DEFAULT_PORTS.get(origin.partition("://")[0])
    if port is not None and origin.endswith(port):
        return origin[: -len(port)]
    return origin


def reject(reason: str) -> t.NoReturn:
    """Emit :data:`~flask_bastion.signals.csrf_rejected` and the security log line, then
    raise.

    :raises CSRFError: always, with ``reason``.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.csrf_rejected.send(app, reason=reason)
    security_log.warning(
        "CSRF rejected: %s", reason, extra={"event": "csrf.rejected", "reason": reason}
    )
    raise CSRFError(reason)


class CSRFProtection:
    """Component: rejects cross-origin unsafe requests before the view runs."""

    name = "csrf"

    def __init__(self, config: BastionConfig) -> None:
        csrf = config.csrf
        self.enabled = csrf.enabled
        self.token_header = csrf.token_header
        self.field_name = csrf.field_name
        origins = [normalise_origin(origin) for origin in csrf.trusted_origins]
        #: Trusted origins compared as strings.
        self.trusted = frozenset(origin for origin in origins if "*" not in origin)
        #: Trusted origins with ``*`` as the leftmost label; a ``*`` anywhere else never
        #: matches a real origin.
        self.trusted_patterns = tuple(
            re.compile(
                re.escape(origin[: origin.index("://*.") + 3])
                + r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                + re.escape(origin[origin.index("://*.") + 4 :])
            )
            for origin in origins
            if "://*." in origin
        )

    def init_app(self, app: Flask) -> None:
        """Register the template globals ``csrf_token``, ``csrf_field`` and ``csrf_meta``."""
        app.jinja_env.globals.update(
            csrf_token=csrf_token, csrf_field=csrf_field, csrf_meta=csrf_meta
        )

    def before_request(self, request: Request) -> None:
        """Reject a forged unsafe request.

        :raises CSRFError: with one of the ``REASON_*`` constants, unless the view or its
            blueprint is exempt.
        """
        if request.method in _SAFE_METHODS:
            return
        if not self.enabled:
            return
        reason = self.forgery_reason(request)
        if reason is not None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            if not _is_exempt(app, request):
                reject(reason)

    def is_trusted(self, origin: str) -> bool:
        """Whether ``origin`` is one of ``BASTION_CSRF_TRUSTED_ORIGINS``."""
        origin = normalise_origin(origin)
        return origin in self.trusted or any(p.fullmatch(origin) for p in self.trusted_patterns)

    def forgery_reason(self, request: Request) -> str | None:
        """Why the unsafe ``request`` may be forged, or ``None`` when it passes."""
        environ = request.environ
        authorization = environ.get("HTTP_AUTHORIZATION", "").split(None, 1)
        # Any cookie counts, not only the session's: a remember-me cookie, or one the
        # application reads itself, authenticates a forged request just as well, and
        # Flask-Bastion cannot know which of the application's cookies do.
        ambient = bool(environ.get("HTTP_COOKIE")) or (
            bool(authorization) and authorization[0].lower() in _AMBIENT_SCHEMES
        )
        if authorization and not ambient:
            return None
        site = environ.get("HTTP_SEC_FETCH_SITE")
        origin = environ.get("HTTP_ORIGIN")
        if site:
            if site in _PASSING_SITES or (origin and self.is_trusted(origin)):
                return None
            return REASON_CROSS_ORIGIN
        if origin:
            if origin == "null":
                return REASON_NULL_ORIGIN
            own = normalise_origin(f"{request.scheme}://{request.host}")
            if normalise_origin(origin) == own or self.is_trusted(origin):
                return None
            return REASON_ORIGIN_MISMATCH
        if not ambient:
            return None
        token = request.headers.get(self.token_header) or request.form.get(self.field_name)
        return _token_problem(token)
