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
from ..exceptions import SessionStoreUnavailable
from ..logs import security_log
from ..refusal import report
from .store import SessionRecord, SessionStore, StoreError

REASON_READ_FAILED = "The session store could not be read; try again shortly."
REASON_WRITE_FAILED = "The session store could not save the session; try again shortly."

#: Session data key holding the user ID (the one Flask-Login uses too); indexed by stores.
USER_KEY = "_user_id"
#: Value of the Clear-Site-Data header sent when a session ends (logout).
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'

_SID = re.compile(r"[A-Za-z0-9_-]{43}")
_PURGE_EVERY = 300.0


def hash_id(session_id: str) -> str:
    """The store key of ``session_id``: its SHA-256, hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


class ServerSession(CallbackDict[str, t.Any], SessionMixin):
    """``flask.session`` for a server-side session."""

    def __init__(
        self, initial: dict[str, t.Any] | None = None, record: SessionRecord | None = None
    ) -> None:
        def on_update(session: ServerSession) -> None:
            session.modified = True
            session.accessed = True

        super().__init__(initial, on_update)
        #: The stored record, ``None`` for a session not stored yet.
        self.record = record
        self.modified = False
        #: Set by :func:`~flask_bastion.sessions.rotate_session`.
        self.rotate = False
        #: Set by :func:`~flask_bastion.sessions.end_session` (logout).
        self.ended = False
        #: The store could not be read: the request must not go on with this session.
        self.unavailable = False
        #: The request carried a cookie that selected no session (stale or forged).
        self.stale_cookie = False

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.record is None


class BastionSessionInterface(SessionInterface):
    """Server-side sessions in ``store`` with Flask-Bastion's cookie and timeout policy."""

    serializer = TaggedJSONSerializer()

    def __init__(self, store: SessionStore, config: BastionConfig) -> None:
        self.store = store
        sessions = config.sessions
        name = sessions.cookie_name
        if config.development and name.startswith("__Host-"):
            name = name.removeprefix("__Host-")  # the prefix requires Secure, i.e. HTTPS
        #: The session cookie's name.
        self.cookie_name = name
        self.secure = not config.development
        self.idle = sessions.idle_timeout
        self.absolute = sessions.absolute_timeout
        self.touch_interval = sessions.touch_interval
        #: The clock: tests replace it to move time without sleeping.
        self.clock: t.Callable[[], float] = time.time
        self._next_purge = 0.0

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
            return session
        if record is None or self.expired(record, self.clock()):
            return self._stale()
        return ServerSession(self.serializer.loads(record.raw), record)

    @staticmethod
    def _stale() -> ServerSession:
        session = ServerSession()
        session.stale_cookie = True
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.unavailable:
            return
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
            # revoked session to a new ID (the revocation lists again until nothing is
            # left, so it also finds a new ID stored before it deleted the old one).
            new = self._create(session, now, created_at=record.created_at)
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

    def _create(self, session: ServerSession, now: float, created_at: float) -> str:
        """Store ``session`` under a new ID and return the ID; the caller sets the cookie."""
        session_id = secrets.token_urlsafe(32)
        record = SessionRecord(
            key=hash_id(session_id),
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

    def _set_cookie(self, response: Response, session_id: str) -> None:
        response.set_cookie(
            self.cookie_name,
            session_id,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )
        response.vary.add("Cookie")

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
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax"
        )


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
    response.vary.update(page.vary)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
