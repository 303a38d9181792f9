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
appears twice in compressed HTTPS responses. A visitor with a session has a secret kept
in it; a visitor without one gets no session at all (any client could fill the store by
loading forms): their secret is an HMAC, under a key derived from ``SECRET_KEY`` for this
purpose only, of a random value in the ``__Host-csrf`` cookie, and nothing is stored on
the server. A response carrying a token is ``Cache-Control: private, no-store`` unless the
view set its own, and varies on ``Cookie``. See ``docs/csrf.md`` for the threat model.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import typing as t

from flask import Flask, Request, Response, after_this_request, current_app, request, session
from markupsafe import Markup, escape

from . import signals
from .components import Stage
from .config import BastionConfig, CsrfConfig
from .context import EXTENSION_KEY, RequestState, request_state
from .cookies import HOST_PREFIX, mark_private
from .exceptions import CSRFError
from .markers import View, mark
from .refusal import refuse

REASON_CROSS_ORIGIN = "Sec-Fetch-Site: the request was sent from another origin."
REASON_ORIGIN_MISMATCH = "Origin does not match this site's origin."
REASON_NULL_ORIGIN = "Origin is null (a sandboxed or opaque context)."
# Messages, not secrets (bandit reads "TOKEN" in a name as a password).
REASON_TOKEN_MISSING = "CSRF token missing."  # noqa: S105
REASON_TOKEN_INVALID = "CSRF token invalid."  # noqa: S105
REASON_NO_SECRET = "CSRF token cannot be checked: the session has no CSRF secret."  # noqa: S105

#: Key of the per-session secret in :data:`flask.session` (base64url, 32 bytes).
SESSION_KEY = "_csrf_secret"
#: The view mark set by :func:`csrf_exempt` (see :mod:`flask_bastion.markers`).
EXEMPT = "csrf_exempt"
#: Bytes of the per-session secret and of each mask.
SECRET_BYTES = 32
#: Cookie holding the random value an anonymous visitor's tokens are bound to. The
#: development profile drops the prefix, which needs ``Secure``, as for the session.
ANONYMOUS_COOKIE = "__Host-csrf"
#: Bytes of the anonymous cookie's random value.
ANONYMOUS_BYTES = 32
#: Purpose label of the key, derived from ``SECRET_KEY``, that binds anonymous tokens to
#: the cookie: the application's key is never used directly, and this key for nothing else.
ANONYMOUS_KEY_LABEL = b"flask-bastion csrf anonymous token v1"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PASSING_SITES = frozenset({"same-origin", "none"})
# Authorization schemes a browser attaches by itself once the user has logged in to a
# challenge (RFC 7617, 7616, 4559): ambient authority, like a cookie.
_AMBIENT_SCHEMES = frozenset({"basic", "digest", "negotiate", "ntlm"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_DEFAULTS = CsrfConfig()

V = t.TypeVar("V")


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


class _Response:
    """What this request's response must carry because of CSRF tokens (request state)."""

    __slots__ = ("anonymous", "forget", "token")

    def __init__(self) -> None:
        #: A new anonymous cookie value to set.
        self.anonymous: bytes | None = None
        #: The anonymous cookie the request carried no longer counts (rotation).
        self.forget = False
        #: A token was issued: the response is private.
        self.token = False


def _response_state() -> _Response:
    """This request's :class:`_Response`, hooking :func:`_finish` on first use."""
    state = request_state()
    found = state.get(_Response)
    if found is None:
        found = _Response()
        state.put(found)
        # A Flask hook rather than a pipeline callback: the functions work without the
        # extension too, and the response object handles cookie and Vary headers.
        after_this_request(_finish)
    return found


def _anonymous_cookie() -> tuple[str, bool]:
    """The anonymous cookie's name and ``Secure`` flag for the current application."""
    state = current_app.extensions.get(EXTENSION_KEY)
    if state is not None and state.config.development:
        return ANONYMOUS_COOKIE.removeprefix(HOST_PREFIX), False
    return ANONYMOUS_COOKIE, True


def _anonymous_value() -> bytes | None:
    """The random value of the visitor's anonymous cookie: the one this response sets,
    else the request's (unless it was rotated away), or ``None``."""
    current = request_state().get(_Response)
    if current is not None and current.anonymous is not None:
        return current.anonymous
    if current is not None and current.forget:
        return None
    sent = request.cookies.get(_anonymous_cookie()[0])
    return _decode(sent, ANONYMOUS_BYTES) if sent else None


def _anonymous_keys() -> list[bytes]:
    """The keys binding anonymous tokens: from ``SECRET_KEY``, then from each of
    ``SECRET_KEY_FALLBACKS`` (so tokens survive a key rotation); empty without a key."""
    app = current_app
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or ()
    return [
        hmac.new(
            key.encode() if isinstance(key, str) else key, ANONYMOUS_KEY_LABEL, "sha256"
        ).digest()
        for key in (app.secret_key, *fallbacks)
        if key
    ]


def _bind(key: bytes, value: bytes) -> bytes:
    """The anonymous secret of cookie ``value`` under ``key``."""
    return hmac.new(key, value, hashlib.sha256).digest()


def _finish(response: Response) -> Response:
    """Set or clear the anonymous cookie and make a response holding a token private."""
    current = request_state().get(_Response)
    if current is None:
        return response
    name, secure = _anonymous_cookie()
    if current.anonymous is not None:
        response.set_cookie(
            name,
            _encode(current.anonymous),
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    elif current.forget and name in request.cookies:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Lax")
    elif not current.token:
        return response
    mark_private(response)
    return response


def csrf_token() -> str:
    """A token for the current visitor, masked afresh on every call.

    A visitor with a session (one that holds data: signed in, or written to by the
    application) gets a token bound to the session's secret, 32 bytes from
    :mod:`secrets` created on first use and kept in :data:`flask.session`. A visitor
    without one gets no session: the token is bound to a random value in the
    ``__Host-csrf`` cookie, set on this response when the request had none, through an
    HMAC under a key derived from ``SECRET_KEY``. Every token returned verifies until the
    session's secret is rotated (:func:`rotate_csrf_secret`) or the cookie changes. The
    response is made ``Cache-Control: private, no-store`` (unless the view set its own
    ``Cache-Control``) and ``Vary: Cookie``. Available in templates as ``csrf_token()``;
    works without the extension.

    :raises RuntimeError: for a visitor without a session when the application has no
        ``SECRET_KEY``.

    .. versionadded:: 0.1
    """
    _response_state().token = True
    secret = _stored_secret()
    if secret is None:
        if session:
            secret = secrets.token_bytes(SECRET_BYTES)
            session[SESSION_KEY] = _encode(secret)
        else:
            keys = _anonymous_keys()
            if not keys:
                raise RuntimeError("csrf_token() needs SECRET_KEY for visitors without a session.")
            value = _anonymous_value()
            if value is None:  # a new cookie, set on this response
                value = _response_state().anonymous = secrets.token_bytes(ANONYMOUS_BYTES)
            secret = _bind(keys[0], value)
    mask = secrets.token_bytes(SECRET_BYTES)
    return _encode(mask + _xor(mask, secret))


def _expected_secrets() -> list[bytes]:
    """The secrets a token may be bound to: the session's when the visitor has a session
    (an anonymous token never verifies then, so one planted before login is worthless
    after it), else the anonymous cookie's, under each key."""
    if session:
        secret = _stored_secret()
        return [] if secret is None else [secret]
    value = _anonymous_value()
    return [] if value is None else [_bind(key, value) for key in _anonymous_keys()]


def _token_problem(token: str | None) -> str | None:
    """The reason ``token`` does not verify, or ``None``."""
    if not token:
        return REASON_TOKEN_MISSING
    expected = _expected_secrets()
    if not expected:
        return REASON_NO_SECRET
    raw = _decode(token, 2 * SECRET_BYTES)
    if raw is None:
        return REASON_TOKEN_INVALID
    unmasked = _xor(raw[:SECRET_BYTES], raw[SECRET_BYTES:])
    matches = [hmac.compare_digest(unmasked, secret) for secret in expected]
    return None if any(matches) else REASON_TOKEN_INVALID


def validate_csrf(token: str) -> None:
    """Check ``token`` against the current visitor's secret (the session's, or the
    anonymous cookie's for a visitor without a session).

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
    """Forget the session's secret and the anonymous cookie, so every token issued so far
    stops verifying.

    Call it when the session changes hands or privilege, at login and logout
    (:func:`~flask_bastion.sessions.rotate_session` does), so a token an attacker planted
    or read before login is worthless after it. The response clears the anonymous
    cookie, or replaces it if a token is issued afterwards; the next :func:`csrf_token`
    for a visitor with a session creates a new secret.

    .. versionadded:: 0.1
    """
    session.pop(SESSION_KEY, None)
    current = _response_state()
    current.anonymous = None
    current.forget = True


def _config() -> CsrfConfig:
    state = current_app.extensions.get(EXTENSION_KEY)
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
    return mark(target, EXEMPT, True)


def normalise_origin(origin: str) -> str:
    """``origin`` in lower case without the scheme's default port (``:443`` for https)."""
    origin = origin.lower()
    port = _DEFAULT_PORTS.get(origin.partition("://")[0])
    if port is not None and origin.endswith(port):
        return origin[: -len(port)]
    return origin


def reject(reason: str) -> t.NoReturn:
    """Refuse the request through :func:`~flask_bastion.refusal.refuse`: it sends
    :data:`~flask_bastion.signals.csrf_rejected` and writes the security log line.

    :raises CSRFError: always, with ``reason``.
    """
    refuse(CSRFError(reason))


def _on_session_rotated(sender: Flask, **extra: t.Any) -> None:
    rotate_csrf_secret()


# The session registry announces rotation; the CSRF secret belongs to the old identity.
signals.session_rotated.connect(_on_session_rotated)


class CSRFProtection:
    """Component: rejects cross-origin unsafe requests before the view runs."""

    name = "csrf"
    stage = Stage.FORGERY

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

    def before_request(self, request: Request, state: RequestState) -> None:
        """Reject a forged unsafe request.

        :raises CSRFError: with one of the ``REASON_*`` constants, unless the view or its
            blueprint is exempt.
        """
        if request.method in _SAFE_METHODS:
            return
        if not self.enabled:
            return
        reason = self.forgery_reason(request)
        if reason is not None and not View(current_app, request.endpoint).get(EXEMPT, False):
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
