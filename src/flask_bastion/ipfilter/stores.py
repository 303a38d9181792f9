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
from ..stores import redis_call
from .networks import network_of

if t.TYPE_CHECKING:
    import redis

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
                network_of(network),
                float(data["until"]),
                str(data["reason"]),
                float(data["at"]),
                str(data["by"]),
            )
        except (ValueError, KeyError, TypeError):
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

    def marker(self) -> object:
        return self._version

    def load(self) -> list[Ban]:
        with self._lock:
            return list(self._bans.values())

    def add(self, ban: Ban, now: float) -> None:
        with self._lock:
            self._bans = {n: b for n, b in self._bans.items() if b.until > now}
            self._bans[ban.network] = ban
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


class RedisBanStore:
    """Bans in one Redis hash (network -> JSON), counters in keys that expire.

    :param client: the shared Redis client.
    :param prefix: the key prefix; the bans are ``<prefix>bans``.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        from ..sessions.redis_store import InvalidationTracker

        self.client = client
        self.prefix = prefix
        self.key = f"{prefix}bans"
        # Tracks exactly the ban hash: a key name starting with it and nothing else.
        self.tracker = InvalidationTracker(client, self.key, max_age=0)

    def marker(self) -> object:
        return self.tracker.generation if self.tracker.sync() else None

    def load(self) -> list[Ban]:
        raw = redis_call(lambda: self.client.hgetall(self.key), "ban store")
        bans = (Ban.from_json(_text(k), v) for k, v in t.cast("dict[t.Any, t.Any]", raw).items())
        return [ban for ban in bans if ban is not None]

    def add(self, ban: Ban, now: float) -> None:
        def write() -> None:
            stored = t.cast("dict[t.Any, t.Any]", self.client.hgetall(self.key))
            gone = [k for k, v in stored.items() if (b := Ban.from_json(_text(k), v)) is None
                    or b.until <= now]  # fmt: skip
            pipe = self.client.pipeline(transaction=True)
            if gone:
                pipe.hdel(self.key, *gone)
            pipe.hset(self.key, str(ban.network), ban.to_json())
            pipe.execute()

        redis_call(write, "ban store")

    def remove(self, network: IPNetwork) -> bool:
        return bool(redis_call(lambda: self.client.hdel(self.key, str(network)), "ban store"))

    def hit(self, key: str, window: int, now: float) -> int:
        slot = f"{self.prefix}hits:{key}:{int(now // window)}"

        def count() -> int:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(slot)
            pipe.expire(slot, window * 2)
            return int(pipe.execute()[0])

        return redis_call(count, "ban store")

    def close(self) -> None:
        self.tracker.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
