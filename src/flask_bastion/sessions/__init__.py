"""Server-side sessions: a revocable, rotated, timed-out session registry.

``flask.session`` works as usual, but its data lives in a store (SQL by default, Redis
for several processes) under the hash of a 256-bit ID, and every session is listed per
user so it can be revoked: one device, all but the current one, or all (password change,
deactivation, admin action). See :mod:`.interface` for the threat model.

::

    from flask_bastion.sessions import rotate_session, end_session, list_sessions

    session["_user_id"] = user.id   # index the session under its user
    rotate_session()                 # on login, logout and privilege change
    end_session()                    # logout: row deleted, cookie and site data cleared
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from flask import Flask, Request, current_app, session
from flask.sessions import SecureCookieSessionInterface

from .. import signals
from ..components import Stage
from ..config import BastionConfig
from ..context import RequestState, get_state
from ..cookies import PRIVATE, mark_private
from ..exceptions import SessionStoreUnavailable
from ..refusal import refuse
from .cookie import SessionCookie, cookie_flags, session_cookie
from .interface import (
    CLEAR_SITE_DATA,
    REASON_READ_FAILED,
    UNAVAILABLE,
    USER_KEY,
    BastionSessionInterface,
    ServerSession,
    hash_id,
)
from .store import MemoryStore, SessionRecord, SessionStore, StoreError

__all__ = [
    "CLEAR_SITE_DATA",
    "PRIVATE",
    "USER_KEY",
    "BastionSessionInterface",
    "MemoryStore",
    "ServerSession",
    "SessionCookie",
    "SessionInfo",
    "SessionRecord",
    "SessionStore",
    "Sessions",
    "StoreError",
    "describe_user_agent",
    "end_session",
    "hash_id",
    "list_sessions",
    "make_stateless",
    "make_store",
    "mark_private",
    "peek_session_value",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "rotate_session",
    "session_cookie",
]


class Sessions:
    """Component: installs :class:`BastionSessionInterface` on the application, the one
    owner of the session cookie; with server-side sessions off, hardens the flags of
    Flask's own cookie session instead."""

    name = "sessions"
    stage = Stage.SESSION

    def __init__(self, config: BastionConfig) -> None:
        self.config = config
        #: The interface, once ``init_app`` ran with sessions enabled.
        self.interface: BastionSessionInterface | None = None

    def init_app(self, app: Flask) -> None:
        """Install the interface, or, with sessions off, set Flask's ``SESSION_COOKIE_SECURE``,
        ``_HTTPONLY`` and ``_SAMESITE`` as :func:`cookie_flags` decides (Flask keeps the
        name, ``Domain`` and ``Path`` of its own cookie).

        :raises ConfigurationError: for a session cookie setting that cannot be honoured.
        """
        if not self.config.sessions.enabled:
            secure, samesite = cookie_flags(app, self.config.development)
            app.config["SESSION_COOKIE_SECURE"] = secure
            app.config["SESSION_COOKIE_HTTPONLY"] = True
            app.config["SESSION_COOKIE_SAMESITE"] = samesite
            # Settled now, whatever the configuration says later: a factory that loads
            # more settings after init_app cannot turn the flags off again.
            app.session_interface = HardenedCookieSessions(secure, samesite)
            return
        cookie = session_cookie(app, self.config)
        self.interface = BastionSessionInterface(make_store(app, self.config), self.config, cookie)
        app.session_interface = self.interface

    def before_request(self, request: Request, state: RequestState) -> None:
        """Refuse, with a 503, a request whose session could not be read. With Flask's own
        session, make a response that read or set it private once it is known."""
        if self.interface is None:
            state.on_response(_private_if_cookie_dependent)
        elif request.environ.get(UNAVAILABLE):
            refuse(SessionStoreUnavailable(REASON_READ_FAILED))


class HardenedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure``, ``HttpOnly`` and ``SameSite``
    settled at ``init_app`` (used when server-side sessions are off)."""

    def __init__(self, secure: bool, samesite: str) -> None:
        self.secure = secure
        self.samesite = samesite

    def get_cookie_secure(self, app: Flask) -> bool:
        return self.secure

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return self.samesite


def _private_if_cookie_dependent(status: str, headers: list[tuple[str, str]]) -> None:
    """Add ``Cache-Control:`` :data:`PRIVATE` to a response that varies on ``Cookie``
    (Flask's session interface says so when the session was read or set) and has no
    ``Cache-Control`` of its own."""
    varies = False
    for name, value in headers:
        lower = name.lower()
        if lower == "cache-control":
            return
        if lower == "vary" and "cookie" in (v.strip().lower() for v in value.split(",")):
            varies = True
    if varies:
        headers.append(("Cache-Control", PRIVATE))


def make_store(app: Flask, config: BastionConfig) -> SessionStore:
    """The store named by ``BASTION_SESSIONS_STORE`` for ``app``."""
    settings = config.sessions
    if settings.store == "memory":
        return MemoryStore()
    stores = get_state(app).stores
    if settings.store == "redis":
        from .redis_store import RedisStore

        client = stores.redis(settings.url, key="BASTION_SESSIONS_URL")
        return RedisStore(client, prefix=settings.key_prefix, cache_seconds=settings.redis_cache)
    from .sql_store import SQLStore

    return SQLStore(stores.sql(settings.url, name="session store"), table_name=settings.table_name)


def _interface() -> BastionSessionInterface:
    interface = current_app.session_interface
    if not isinstance(interface, BastionSessionInterface):
        raise RuntimeError("Flask-Bastion sessions are not enabled on this application.")
    return interface


def _current() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession):
        raise RuntimeError("Flask-Bastion sessions are not enabled on this application.")
    return current


def peek_session_value(key: str) -> t.Any:
    """The value of ``key`` in a stored session of the current request, or ``None``,
    without marking the session accessed.

    Flask 3.1.3 marks the session accessed on every use of ``flask.session``, which makes
    the response vary on ``Cookie`` and private. A component that looks at every request
    (the accounts' one-time-password check) uses this instead, so an anonymous page stays
    cacheable.
    """
    from flask.globals import request_ctx

    current = getattr(request_ctx._get_current_object(), "_session", None)  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession) or current.record is None:
        return None
    return dict.get(current, key)


def make_stateless() -> None:
    """Never store the current request's session nor set its cookie: the request proved
    who it is by itself (``Authorization: Bearer``). The forgery check skips it as well,
    through :attr:`~flask_bastion.context.RequestState.stateless`."""
    from flask.globals import request_ctx

    from ..context import request_state

    request_state().stateless = True
    current = getattr(request_ctx._get_current_object(), "_session", None)  # type: ignore[attr-defined]
    if isinstance(current, ServerSession):
        current.stateless = True


def rotate_session() -> None:
    """Move the current session's data to a new ID and invalidate the old one.

    Call it on login, logout and any privilege change: an ID an attacker planted or
    observed before is worthless afterwards. The new cookie is set on this response.
    :data:`~flask_bastion.signals.session_rotated` is sent first, so whatever is bound to
    the old identity goes with it: the CSRF secret is replaced
    (:func:`~flask_bastion.csrf.rotate_csrf_secret`), so a form token issued before the
    change no longer verifies.
    """
    current = _current()
    signals.session_rotated.send(current_app._get_current_object())  # type: ignore[attr-defined]
    current.rotate = True
    current.modified = True


def end_session() -> None:
    """End the current session (logout): its row is deleted, its cookie expired, and the
    response carries ``Clear-Site-Data: "cache", "cookies", "storage"``."""
    current = _current()
    current.clear()
    current.ended = True


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as a "your devices" page shows it."""

    #: Opaque identifier of the device for :func:`revoke_session`: the same before and
    #: after the session rotates (never the cookie).
    key: str
    created_at: float
    last_seen: float
    ip: str | None
    user_agent: str
    #: Whether this is the session of the current request.
    current: bool

    @property
    def browser(self) -> str:
        """A short description such as ``"Firefox on Linux"``."""
        return describe_user_agent(self.user_agent)


def list_sessions(user_id: object) -> list[SessionInfo]:
    """The live sessions of ``user_id``, most recently used first."""
    interface = _interface()
    now = interface.clock()
    mine = _current_record()
    records = [r for r in interface.store.for_user(str(user_id)) if not interface.expired(r, now)]
    records.sort(key=lambda r: r.last_seen, reverse=True)
    return [
        SessionInfo(_device(r), r.created_at, r.last_seen, r.ip, r.user_agent, r.key == _key(mine))
        for r in records
    ]


# Revocation is final. Each one is a single atomic delete by user (and device): a
# rotation stores its new ID before it deletes the old one and keeps the new one only if
# the old one was still there (BastionSessionInterface._save), and keeps the device, so
# whichever runs first, no ID of a revoked session survives.


def revoke_session(user_id: object, key: str) -> bool:
    """Revoke one device of ``user_id`` by its :attr:`SessionInfo.key`, whatever ID its
    session has rotated to meanwhile; ``False`` when it is not one of theirs (a user can
    never revoke someone else's session) or ``key`` is empty."""
    if not key:  # never "no device filter": that would revoke every device
        return False
    return _interface().store.delete_user(str(user_id), device=key) > 0


def revoke_other_sessions(user_id: object) -> int:
    """Revoke every session of ``user_id`` except the current one; how many."""
    return _interface().store.delete_user(str(user_id), keep=_key(_current_record()))


def revoke_all_sessions(user_id: object) -> int:
    """Revoke every session of ``user_id`` (password change, deactivation, admin
    action), including the current request's; how many."""
    return _interface().store.delete_user(str(user_id))


def _current_record() -> SessionRecord | None:
    current = session._get_current_object()  # type: ignore[attr-defined]
    return getattr(current, "record", None)


def _key(record: SessionRecord | None) -> str | None:
    return record.key if record is not None else None


def _device(record: SessionRecord) -> str:
    return record.device or record.key


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str) -> str:
    """``"Chrome on Windows"`` from a User-Agent string; ``"Unknown browser"`` otherwise."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"
