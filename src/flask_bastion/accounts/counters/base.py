"""The counter record, the interface of a counter store, and the in-memory store."""

from __future__ import annotations

import math
import threading
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass

if t.TYPE_CHECKING:
    pass


#: The expiry of a record that must stay until it is deleted (an account locked until
#: unlocked): exact as a float, and beyond any clock.
NEVER = 2.0**62


@dataclass(frozen=True)
class Counter:
    """One counter record."""

    #: Failures (or attempts) counted since the counter last started afresh.
    count: int
    #: Failures counted since the record was created, whatever the decay of ``count``.
    total: int
    #: When the latest one was counted.
    last: float
    #: When the record is forgotten (:data:`NEVER`: only deleting it ends it).
    expires: float


class CounterBackend(t.Protocol):
    """What :class:`~flask_bastion.accounts.throttle.LoginThrottle` needs from a store.

    Every method may raise :class:`~flask_bastion.exceptions.StoreError`.
    """

    def get(self, keys: Sequence[str], now: float) -> list[Counter | None]:
        """The records of ``keys`` (``None`` for a missing or expired one), in one
        round trip."""

    def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
        """Write ``new`` if the record is still ``old`` (``None``: missing or expired);
        atomic. ``False`` when another writer came first."""

    def add(self, key: str, now: float, window: float, expires: float) -> None:
        """Count one at ``now``, atomically: ``count`` starts again at 1 when the record is
        missing, expired, or its last count is ``window`` seconds old or more; ``total``
        only when missing or expired. The record expires at ``expires``."""

    def flag(self, key: str, now: float, expires: float) -> bool:
        """Raise a flag until ``expires`` unless it is already up; ``True`` when this call
        raised it. Atomic: of concurrent calls, one gets ``True``."""

    def seen(self, key: str, member: str, now: float, window: float) -> int:
        """Add ``member`` to the set ``key`` and return how many members were added in the
        last ``window`` seconds (older ones are dropped)."""

    def delete(self, keys: Sequence[str]) -> None:
        """Delete the records of ``keys``."""

    def purge(self, now: float) -> None:
        """Delete what has expired (a store whose server expires keys does nothing)."""


def _ttl(expires: float, now: float) -> int:
    """Seconds from ``now`` to ``expires``, at least 1, for a server-side expiry."""
    return max(1, math.ceil(expires - now))


class MemoryCounters:
    """Counters in this process's memory, for tests and single-process development:
    each worker of a server would count on its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Counter] = {}
        self._sets: dict[str, dict[str, float]] = {}

    def _live(self, key: str, now: float) -> Counter | None:
        record = self._records.get(key)
        return record if record is not None and record.expires > now else None

    def get(self, keys: Sequence[str], now: float) -> list[Counter | None]:
        with self._lock:
            return [self._live(key, now) for key in keys]

    def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
        with self._lock:
            if self._live(key, now) != old:
                return False
            self._records[key] = new
            return True

    def add(self, key: str, now: float, window: float, expires: float) -> None:
        with self._lock:
            record = self._live(key, now)
            if record is None:
                new = Counter(1, 1, now, expires)
            else:
                count = 1 if now - record.last >= window else record.count + 1
                new = Counter(count, record.total + 1, now, expires)
            self._records[key] = new

    def flag(self, key: str, now: float, expires: float) -> bool:
        with self._lock:
            if self._live(key, now) is not None:
                return False
            self._records[key] = Counter(1, 1, now, expires)
            return True

    def seen(self, key: str, member: str, now: float, window: float) -> int:
        with self._lock:
            members = self._sets.setdefault(key, {})
            for old in [m for m, at in members.items() if at <= now - window]:
                del members[old]
            members[member] = now
            return len(members)

    def delete(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def purge(self, now: float) -> None:
        with self._lock:
            self._records = {k: r for k, r in self._records.items() if r.expires > now}
            # A set's members are dropped as it is read; one not read for a day is idle.
            self._sets = {
                k: m for k, m in self._sets.items() if m and max(m.values()) > now - 86_400
            }
