"""CSRF tokens: the synchronizer token fallback, for a visitor with a session and for
an anonymous one.

Tokens are masked per response (BREACH): each call to :func:`csrf_token` returns
``base64url(mask || mask XOR secret)`` with a fresh 32-byte mask, so the secret never
appears twice in compressed HTTPS responses. A visitor with a session has a secret kept
in it; a visitor without one gets no session at all (any client could fill the store by
loading forms): their secret is an HMAC, under a key derived from ``SECRET_KEY`` for this
purpose only, of a random value in the ``__Host-csrf`` cookie, and nothing is stored on
the server. A response carrying a token is ``Cache-Control: private, no-store`` unless the
view set its own, and varies on ``Cookie``. These functions work without the extension.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import typing as t

from flask import Flask, Response, after_this_request, current_app, request, session
from markupsafe import Markup, escape

from .. import signals
from ..config import CsrfConfig
from ..context import EXTENSION_KEY, request_state
from ..cookies import HOST_PREFIX, mark_private
from ..exceptions import CSRFError
from ..refusal import refuse

# Messages, not secrets (bandit reads "TOKEN" in a name as a password).
REASON_TOKEN_MISSING = "CSRF token missing."  # noqa: S105
REASON_TOKEN_INVALID = "CSRF token invalid."  # noqa: S105
REASON_NO_SECRET = "CSRF token cannot be checked: the session has no CSRF secret."  # noqa: S105

#: Key of the per-session secret in :data:`flask.session` (base64url, 32 bytes).
SESSION_KEY = "_csrf_secret"
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

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_DEFAULTS = CsrfConfig()


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
    mark_private()
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
