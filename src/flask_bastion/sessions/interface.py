"""The Flask ``SessionInterface`` over a :class:`~.store.SessionStore`.

Defends against session theft and fixation. The cookie carries only a 256-bit random ID
from :mod:`secrets`; the store keeps its SHA-256, so a leaked store holds no usable
cookie. A cookie that is malformed or unknown never selects a session: the visitor gets a
fresh one, so an attacker cannot plant an ID of their choosing, and
:func:`~flask_bastion.sessions.rotate_session` moves the data to a new ID on login, so an
ID planted before login is worthless after it. Idle and absolute timeouts end sessions on
the server, whatever the browser keeps. Revocation is final: a request that was already
running when its session was revoked, ended or rotated away cannot bring the session back
when it saves it (the stores write only over a record that still exists), nor carry it to
a new ID by rotating it.

The interface is the one owner of the session cookie: its name, ``Domain``, ``Path``,
``Secure``, ``HttpOnly``, ``SameSite`` and ``Partitioned`` come from one
:class:`SessionCookie`, settled and checked once at ``init_app`` from
``BASTION_SESSIONS_COOKIE_NAME`` and Flask's ``SESSION_COOKIE_*`` settings, and Flask's
``get_cookie_*`` hooks answer from it, so whoever asks (a deploy check, another
extension) learns the cookie that is actually sent.

A response that read or set the session depends on who asked: it carries ``Vary: Cookie``
and, unless the view chose its own ``Cache-Control``, ``Cache-Control: private,
no-store``, so no shared cache hands one visitor's page to another.

Hot path: a visitor without a cookie costs nothing; a returning visitor costs one store
read, and no write unless the data changed or ``touch_interval`` seconds passed since the
last one. Data is serialised with Flask's tagged JSON, never pickle.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import typing as t

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from ..config import BastionConfig
from ..cookies import HOST_PREFIX, PRIVATE, mark_private
from ..exceptions import SessionStoreUnavailable
from ..logs import security_log
from ..refusal import report
from .cookie import SessionCookie
from .store import SessionRecord, SessionStore, StoreError

REASON_READ_FAILED = "The session store could not be read; try again shortly."
REASON_WRITE_FAILED = "The session store could not save the session; try again shortly."

#: Session data key holding the user ID (the one Flask-Login uses too); indexed by stores.
USER_KEY = "_user_id"
#: Value of the Clear-Site-Data header sent when a session ends (logout).
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
#: Key in the WSGI environ set when the store could not be read for this request. The
#: Sessions component reads it there: touching ``flask.session`` would mark every
#: response as having read the session.
UNAVAILABLE = "flask_bastion.session_unavailable"

_SID = re.compile(r"[A-Za-z0-9_-]{43}")
_PURGE_EVERY = 300.0
#: Decoded session data kept by serialised text (see BastionSessionInterface.load).
_PARSED_MAX = 4096
#: Value types a decoded session may hold to be reused: immutable, so a copy of the dict
#: is as good as a fresh decoding.
_SCALARS = (str, int, float, bool, type(None))


def hash_id(session_id: str) -> str:
    """The store key of ``session_id``: its SHA-256, hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def _on_update(session: ServerSession) -> None:
    session.modified = True
    session.accessed = True


class ServerSession(CallbackDict[str, t.Any], SessionMixin):
    """``flask.session`` for a server-side session.

    The flags start as class attributes (most requests leave them all unset, so a new
    session costs no attribute writes); setting one sets it on the instance.
    """

    #: The stored record, ``None`` for a session not stored yet.
    record: SessionRecord | None = None
    modified = False
    #: Whether the request read or changed the session, so that its response depends on
    #: the cookie. Flask 3.1.3 also sets it whenever ``flask.session`` is touched.
    accessed = False
    #: Set by :func:`~flask_bastion.sessions.rotate_session`.
    rotate = False
    #: Set by :func:`~flask_bastion.sessions.end_session` (logout).
    ended = False
    #: The store could not be read: the request must not go on with this session.
    unavailable = False
    #: The request carried a cookie that selected no session (stale or forged).
    stale_cookie = False
    #: The request authenticated itself (a bearer token): nothing is stored and no cookie
    #: is set, whatever the request did with the session.
    stateless = False

    def __init__(
        self, initial: dict[str, t.Any] | None = None, record: SessionRecord | None = None
    ) -> None:
        super().__init__(initial, _on_update)
        if record is not None:
            self.record = record

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.record is None

    # Reads mark the session accessed, as Flask's cookie session does before Flask 3.1.3.

    def __getitem__(self, key: str) -> t.Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: t.Any = None) -> t.Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: t.Any = None) -> t.Any:
        self.accessed = True
        return super().setdefault(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)


class BastionSessionInterface(SessionInterface):
    """Server-side sessions in ``store`` with Flask-Bastion's cookie and timeout policy."""

    serializer = TaggedJSONSerializer()

    def __init__(
        self, store: SessionStore, config: BastionConfig, cookie: SessionCookie | None = None
    ) -> None:
        self.store = store
        sessions = config.sessions
        if cookie is None:  # Flask's defaults: BASTION_SESSIONS_COOKIE_NAME, Lax
            secure = not config.development
            name = sessions.cookie_name
            cookie = SessionCookie(
                name if secure else name.removeprefix(HOST_PREFIX), None, "/", secure, "Lax", False
            )
        #: The session cookie, as :func:`session_cookie` settled it.
        self.cookie = cookie
        #: The session cookie's name.
        self.cookie_name = cookie.name
        self.idle = sessions.idle_timeout
        self.absolute = sessions.absolute_timeout
        self.touch_interval = sessions.touch_interval
        #: The clock: tests replace it to move time without sleeping.
        self.clock: t.Callable[[], float] = time.time
        self._next_purge = 0.0
        self._parsed: dict[str, dict[str, t.Any]] = {}

    # -- policy ----------------------------------------------------------------------------

    def expired(self, record: SessionRecord, now: float) -> bool:
        """Whether ``record`` has passed its idle or absolute timeout at ``now``."""
        if self.idle and now - record.last_seen > self.idle:
            return True
        return bool(self.absolute and now - record.created_at > self.absolute)

    def expires_at(self, created_at: float, now: float) -> float:
        """When a session created at ``created_at`` and used at ``now`` ends."""
        ends = [now + self.idle] if self.idle else []
        if self.absolute:
            ends.append(created_at + self.absolute)
        return min(ends) if ends else now + 10 * 365 * 86_400

    # -- Flask's SessionInterface ----------------------------------------------------------
    # The cookie hooks answer with the cookie this interface sends, whatever app.config
    # says now: it was read and checked once, at init_app.

    def get_cookie_name(self, app: Flask) -> str:
        return self.cookie.name

    def get_cookie_domain(self, app: Flask) -> str | None:
        return self.cookie.domain

    def get_cookie_path(self, app: Flask) -> str:
        return self.cookie.path

    def get_cookie_httponly(self, app: Flask) -> bool:
        return self.cookie.httponly

    def get_cookie_secure(self, app: Flask) -> bool:
        return self.cookie.secure

    def get_cookie_samesite(self, app: Flask) -> str:
        return self.cookie.samesite

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return self.cookie.partitioned

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id = request.cookies.get(self.cookie_name)
        if not session_id:
            return ServerSession()
        if not _SID.fullmatch(session_id):  # forged, truncated or oversized: never looked up
            return self._stale()
        try:
            record = self.store.get(hash_id(session_id))
        except StoreError:  # refused, signalled and logged by the Sessions component
            session = ServerSession()
            session.unavailable = True
            request.environ[UNAVAILABLE] = True
            return session
        if record is None or self.expired(record, self.clock()):
            return self._stale()
        return ServerSession(self.load(record.raw), record)

    def load(self, raw: str) -> dict[str, t.Any]:
        """The session data serialised as ``raw``, decoded.

        A returning visitor's data is usually the same text request after request; data
        made only of strings, numbers, booleans and ``None`` is decoded once and copied
        afterwards (a shallow copy of immutable values is a fresh decoding). The table is
        keyed by the text itself, so it can never return another session's data, and is
        emptied when full.
        """
        found = self._parsed.get(raw)
        if found is not None:
            return dict(found)
        data: dict[str, t.Any] = self.serializer.loads(raw)
        if all(type(value) in _SCALARS for value in data.values()):
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()
            self._parsed[raw] = dict(data)
        return data

    @staticmethod
    def _stale() -> ServerSession:
        session = ServerSession()
        session.stale_cookie = True
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.unavailable or session.stateless:
            return
        if session.accessed:  # before saving, which reads the data to store it
            mark_private()
        try:
            self._save(session, response)
        except StoreError:
            _replace_with_unavailable(response, REASON_WRITE_FAILED)

    def _save(self, session: ServerSession, response: Response) -> None:
        now = self.clock()
        record = session.record
        if session.ended or (record is not None and session.modified and not session):
            if record is not None:
                self.store.delete(record.key)
            self._delete_cookie(response)
            if session.ended:
                response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
            return
        if record is None:
            if session:
                self._set_cookie(response, self._create(session, now, created_at=now))
            elif session.stale_cookie:
                self._delete_cookie(response)
            return
        if session.rotate:
            # The new ID is stored before the old one is deleted, and kept only if the old
            # one was still there: a rotation racing a revocation never carries the
            # revoked session to a new ID. Revocations delete atomically by user (and
            # device, which the new record keeps), so they also take a new ID stored
            # before they ran.
            new = self._create(
                session, now, created_at=record.created_at, device=record.device or record.key
            )
            if not self.store.delete(record.key):
                self.store.delete(hash_id(new))
                self._delete_cookie(response)
            else:
                self._set_cookie(response, new)
            return
        if session.modified:
            self._fill(record, session, now)
            alive = self.store.update(record)
        elif now - record.last_seen >= self.touch_interval:
            self._fill(record, session, now, data=False)
            alive = self.store.touch(record)
        else:
            return
        if not alive:  # revoked, ended or rotated away while this request ran
            self._delete_cookie(response)

    def _create(
        self, session: ServerSession, now: float, created_at: float, device: str = ""
    ) -> str:
        """Store ``session`` under a new ID and return the ID; the caller sets the cookie.
        ``device`` is the browser's (a rotation keeps it); a new browser's is its key."""
        session_id = secrets.token_urlsafe(32)
        key = hash_id(session_id)
        record = SessionRecord(
            key=key,
            device=device or key,
            data={},
            user_id=None,
            created_at=created_at,
            last_seen=now,
            expires_at=now,
        )
        self._fill(record, session, now)
        self.store.create(record)
        session.record = record
        if now >= self._next_purge:  # expired rows go without a cron job
            self._next_purge = now + _PURGE_EVERY
            try:
                self.store.purge(now)
            except StoreError:  # housekeeping: the session is stored, the next purge retries
                security_log.warning(
                    "session store purge failed", extra={"event": "session.purge_failed"}
                )
        return session_id

    def _cookie_options(self) -> dict[str, t.Any]:
        """The attributes the session cookie is set and deleted with."""
        cookie = self.cookie
        return {
            "domain": cookie.domain,
            "path": cookie.path,
            "secure": cookie.secure,
            "httponly": cookie.httponly,
            "samesite": cookie.samesite,
            "partitioned": cookie.partitioned,
        }

    def _set_cookie(self, response: Response, session_id: str) -> None:
        response.set_cookie(self.cookie.name, session_id, **self._cookie_options())
        mark_private()

    def _fill(
        self, record: SessionRecord, session: ServerSession, now: float, data: bool = True
    ) -> None:
        from flask import request

        record.last_seen = now
        record.expires_at = self.expires_at(record.created_at, now)
        record.ip = request.remote_addr
        if data:
            record.raw = self.serializer.dumps(dict(session))
            user = session.get(USER_KEY)
            record.user_id = None if user is None else str(user)
            record.user_agent = request.user_agent.string[:256]

    def _delete_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie.name, **self._cookie_options())
        mark_private()


def _replace_with_unavailable(response: Response, reason: str) -> None:
    """Turn the view's ``response`` into the 503 refusal, after the fact: the session
    could not be saved, so the response must not claim success or set a cookie."""
    from ..errors import render_error

    error = SessionStoreUnavailable(reason)
    report(error)
    page = render_error(error)
    response.status_code = 503
    response.set_data(page.get_data())
    response.content_type = page.content_type
    response.headers.remove("Set-Cookie")
    response.headers["Cache-Control"] = PRIVATE  # whatever the view meant for its own page
    response.vary.update(page.vary)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
