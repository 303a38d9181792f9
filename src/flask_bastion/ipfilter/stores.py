"""Where temporary bans live: in this process, in Redis, or in a SQL table.

A store keeps the bans and the auto-ban counters and answers four calls: ``load()``
(every ban, one round trip), ``add()``, ``remove()`` and ``hit()`` (count one event of
an address in a fixed window). It also says cheaply, without a round trip, whether the
bans may have changed since they were last loaded (:meth:`~MemoryBanStore.marker`), so
that the request pipeline can use a per-process copy of the ban list and read the store
again only when something changed. How each store knows:

memory
    a version number bumped on every change: exact and free, but one process only.
redis
    Redis pushes a notice when the ban hash changes, from any process, on a pub/sub
    connection this process keeps (server-assisted client-side caching in broadcast
    mode, ``CLIENT TRACKING ... BCAST PREFIX`` redirected to a ``SUBSCRIBE``\\d
    connection; :class:`~flask_bastion.sessions.redis_store.InvalidationTracker`). Reading
    the notices is a non-blocking poll of a socket the kernel already filled: no command
    is sent. Without that connection (Redis down, or a server without tracking) the
    marker is ``None`` and the copy is reloaded every ``refresh`` seconds.
sql
    no notices: the marker is ``None`` and the copy is reloaded every ``refresh`` seconds;
    the auto-ban counters are kept per process.
"""

from __future__ import annotations

import json
import threading
import typing as t
from dataclasses import dataclass

from ..config.parsers import IPNetwork
from .networks import stored_network

#: The longest ban reason kept; longer ones are cut.
MAX_REASON = 200


@dataclass(frozen=True)
class Ban:
    """One temporary ban."""

    #: The banned network (a single address is a /32 or /128).
    network: IPNetwork
    #: Unix time the ban ends.
    until: float
    #: Why, for the operator (``"credential stuffing"``, an administrator's note).
    reason: str
    #: Unix time the ban was made.
    created_at: float
    #: Who made it: ``"csrf"``, ``"stuffing"``, ``"notfound"``, ``"cli"``, ``"admin:7"``...
    by: str

    def to_json(self) -> str:
        return json.dumps(
            {"until": self.until, "reason": self.reason, "at": self.created_at, "by": self.by}
        )

    @classmethod
    def from_json(cls, network: str, text: str | bytes) -> Ban | None:
        """The ban stored as ``text``, or ``None`` when it is unreadable (skipped)."""
        try:
            data = json.loads(text)
            return cls(
                stored_network(network),
                float(data["until"]),
                str(data["reason"]),
                float(data["at"]),
                str(data["by"]),
            )
        except (ValueError, KeyError, TypeError, OSError):  # OSError: inet_pton
            return None


def clean_reason(reason: str) -> str:
    """``reason`` on one line of printable text, at most :data:`MAX_REASON` characters."""
    return "".join(c if c.isprintable() else " " for c in reason).strip()[:MAX_REASON]


class _Hits:
    """Fixed-window counters in this process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window: int, now: float) -> int:
        slot = f"{key}:{int(now // window)}"
        with self._lock:
            if len(self._counts) > 100_000:  # old windows; a scan cannot grow this forever
                self._counts.clear()
            count = self._counts[slot] = self._counts.get(slot, 0) + 1
            return count


class MemoryBanStore:
    """Bans in this process: for tests and a single-process server."""

    def __init__(self) -> None:
        self._bans: dict[IPNetwork, Ban] = {}
        self._version = 0
        self._hits = _Hits()
        self._lock = threading.Lock()
        self._first_end = float("inf")

    def marker(self) -> object:
        return self._version

    def load(self) -> list[Ban]:
        with self._lock:
            return list(self._bans.values())

    def add(self, ban: Ban, now: float) -> None:
        with self._lock:
            if now >= self._first_end:  # a ban has ended: drop the ended ones, once
                self._bans = {n: b for n, b in self._bans.items() if b.until > now}
                self._first_end = min((b.until for b in self._bans.values()), default=now)
            self._bans[ban.network] = ban
            self._first_end = min(self._first_end, ban.until)
            self._version += 1

    def remove(self, network: IPNetwork) -> bool:
        with self._lock:
            found = self._bans.pop(network, None) is not None
            self._version += 1
            return found

    def hit(self, key: str, window: int, now: float) -> int:
        return self._hits.hit(key, window, now)

    def close(self) -> None:
        """Nothing to close."""


class BanStore(t.Protocol):
    """What the ban list needs of a store (memory, Redis, SQL)."""

    def marker(self) -> object:
        """A value that changes whenever the bans may have, read without a round trip;
        ``None`` when the store cannot tell (then the list is read every ``refresh``)."""

    def load(self) -> list[Ban]:
        """Every stored ban, ended ones included."""

    def add(self, ban: Ban, now: float) -> None:
        """Store ``ban`` (replacing a ban of the same network), dropping ended ones."""

    def remove(self, network: IPNetwork) -> bool:
        """Delete the ban of exactly ``network``; whether there was one."""

    def hit(self, key: str, window: int, now: float) -> int:
        """Count one event under ``key`` in the ``window``-second slot holding ``now``;
        the count so far in that slot."""

    def close(self) -> None:
        """Release connections."""
