"""The session store protocol, the record it keeps, and the in-process memory store.

A store keeps one :class:`SessionRecord` per session under ``key``, the SHA-256 of the
session ID; the ID itself exists only in the browser's cookie, so a copy of the store
(backup, SQL injection, a stolen Redis dump) yields no usable cookie. Stores raise
:class:`StoreError` when their backend cannot be reached; the session interface turns that
into a clean 503, never into a silent anonymous session.

Revocation is final: :meth:`SessionStore.update` and :meth:`SessionStore.touch` change a
record only while it still exists, atomically. A request that read a session before it was
revoked, ended or rotated away therefore cannot write it back when it finishes; only
:meth:`SessionStore.create` makes a record, and only for a new, random ID.
"""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass, field, replace

from ..stores import StoreError

__all__ = ["MemoryStore", "SessionRecord", "SessionStore", "StoreError"]


@dataclass
class SessionRecord:
    """One server-side session."""

    #: SHA-256 (hex) of the session ID.
    key: str
    #: The session's data, as ``flask.session`` shows it.
    data: dict[str, t.Any]
    #: The user the session belongs to (``data["_user_id"]``), indexed for revocation.
    user_id: str | None
    #: Unix times of creation and of the last request.
    created_at: float
    last_seen: float
    #: When the store may forget the record (idle or absolute timeout, whichever is first).
    expires_at: float
    #: Client address (as the proxy-trust model sees it) and User-Agent of the last write.
    ip: str | None = None
    user_agent: str = ""
    #: The browser the session lives in: the key of its first record, kept by every
    #: rotation, so "this device" names the same session before and after one.
    device: str = ""
    #: Serialised ``data`` as the store holds it; stores fill it, others ignore it.
    raw: str = field(default="", repr=False, compare=False)


@t.runtime_checkable
class SessionStore(t.Protocol):
    """What the session interface needs from a store. Every method may raise
    :class:`StoreError`."""

    def get(self, key: str) -> SessionRecord | None:
        """The record under ``key``, or ``None``."""

    def create(self, record: SessionRecord) -> None:
        """Store a new record."""

    def update(self, record: SessionRecord) -> bool:
        """Replace the data, user, last-seen time and expiry of the record under
        ``record.key`` if it still exists; whether it did. Never creates a record: the
        check and the write are one atomic step, so a session deleted meanwhile stays
        deleted."""

    def touch(self, record: SessionRecord) -> bool:
        """Record that the session was used (``last_seen``, ``expires_at``, ``ip``) if it
        still exists; whether it did. Never creates a record and never writes the data."""

    def delete(self, *keys: str) -> int:
        """Forget these records; unknown keys are ignored. The number forgotten."""

    def delete_user(
        self, user_id: str, *, keep: str | None = None, device: str | None = None
    ) -> int:
        """Forget every record of ``user_id`` (only those of ``device``, when given)
        except the one under ``keep``, in one atomic step; the number forgotten.

        Atomic because a revocation must be final: a rotation running meanwhile either
        finished before (its new record is forgotten here) or finds its old record gone
        (and drops its new one), never in between."""

    def for_user(self, user_id: str) -> list[SessionRecord]:
        """Every live record of ``user_id``."""

    def purge(self, now: float) -> int:
        """Forget every record whose ``expires_at`` has passed; the number forgotten."""


class MemoryStore:
    """A store in this process's memory: for tests and single-process development only.

    Sessions vanish on restart and are not shared between workers; ``check --deploy``
    reports it (``bastion.W031``).
    """

    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release."""

    def get(self, key: str) -> SessionRecord | None:
        with self._lock:
            record = self._records.get(key)
            return replace(record, data=dict(record.data)) if record else None

    def create(self, record: SessionRecord) -> None:
        with self._lock:
            self._records[record.key] = replace(record, data=dict(record.data))

    def update(self, record: SessionRecord) -> bool:
        with self._lock:
            if record.key not in self._records:  # deleted meanwhile: it stays deleted
                return False
            self._records[record.key] = replace(record, data=dict(record.data))
            return True

    def touch(self, record: SessionRecord) -> bool:
        with self._lock:
            stored = self._records.get(record.key)
            if stored is None:
                return False
            stored.last_seen, stored.expires_at = record.last_seen, record.expires_at
            stored.ip = record.ip
            return True

    def delete(self, *keys: str) -> int:
        with self._lock:
            return sum(self._records.pop(key, None) is not None for key in keys)

    def delete_user(
        self, user_id: str, *, keep: str | None = None, device: str | None = None
    ) -> int:
        with self._lock:
            doomed = [
                key
                for key, r in self._records.items()
                if r.user_id == user_id and key != keep and device in (None, r.device)
            ]
            for key in doomed:
                del self._records[key]
            return len(doomed)

    def for_user(self, user_id: str) -> list[SessionRecord]:
        with self._lock:
            return [replace(r) for r in self._records.values() if r.user_id == user_id]

    def purge(self, now: float) -> int:
        with self._lock:
            expired = [k for k, r in self._records.items() if r.expires_at <= now]
            for key in expired:
                del self._records[key]
            return len(expired)
