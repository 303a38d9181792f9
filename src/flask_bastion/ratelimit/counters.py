"""The counters behind the limits: fixed windows in this process's memory or in Redis.

Both follow the fixed-window strategy of the ``limits`` library
(:class:`limits.strategies.FixedWindowRateLimiter`) and its storage semantics: a
window's counter is created by the first hit, with its expiry one window later; every
hit adds its cost (refused hits too, as ``limits`` counts them, but they never extend
the window); a request is allowed while the counter, this hit included, is at most the
limit's amount.

:class:`RedisWindows` runs ``limits``' own ``incr_expire`` Lua script, one ``EVALSHA``
and one ``PTTL`` per limit, and sends them for *every* limit of a request in **one**
pipeline: one round trip, however many limits apply. :class:`MemoryWindows` is a dict
under a lock: ``limits``' ``MemoryStorage`` keeps a timer thread and a lock per key,
which costs several microseconds a hit on a path that must cost almost nothing.
"""

from __future__ import annotations

import hashlib
import threading
import typing as t
from collections.abc import Sequence

from ..context import get_state
from ..exceptions import StoreError

if t.TYPE_CHECKING:
    import redis
    from flask import Flask

#: One hit: the counter's key, the window in seconds, the cost.
Hit = tuple[str, int, int]
#: The answer to one hit: the counter (this hit included), when the window ends
#: (Unix time).
Count = tuple[int, float]

#: Seconds between two sweeps of the expired windows of :class:`MemoryWindows`.
SWEEP_INTERVAL = 60.0


class MemoryWindows:
    """Fixed windows in this process's memory: one process only (tests, a single-worker
    server); each worker of a multi-process server would count on its own, which the
    deploy check ``bastion.E130`` refuses."""

    def __init__(self) -> None:
        #: key -> [count, end of the window]
        self._windows: dict[str, list[t.Any]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, key: str, expiry: int, amount: int, now: float) -> Count:
        """Add ``amount`` to the window of ``key``, starting one if none is open."""
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[1] <= now:
                if now >= self._next_sweep:
                    self._sweep(now)
                window = self._windows[key] = [amount, now + expiry]
            else:
                window[0] += amount
            return window[0], window[1]

    def hit_many(self, hits: Sequence[Hit], now: float) -> list[Count]:
        """:meth:`hit` for each of ``hits``, in order, under one acquisition of the lock."""
        counts: list[Count] = []
        windows = self._windows
        with self._lock:
            for key, expiry, amount in hits:
                window = windows.get(key)
                if window is None or window[1] <= now:
                    if now >= self._next_sweep:
                        self._sweep(now)
                    window = windows[key] = [amount, now + expiry]
                else:
                    window[0] += amount
                counts.append((window[0], window[1]))
        return counts

    def _sweep(self, now: float) -> None:
        # Under the lock. Bounded work per window of time, and memory bounded by the
        # clients seen within the longest window.
        self._next_sweep = now + SWEEP_INTERVAL
        expired = [key for key, window in self._windows.items() if window[1] <= now]
        for key in expired:
            del self._windows[key]

    def clear(self) -> None:
        """Forget every window (tests)."""
        with self._lock:
            self._windows.clear()


def _incr_expire_script() -> bytes:
    """``limits``' Lua script of the fixed window: INCRBY, and EXPIRE on the first hit."""
    from limits.storage.redis import RedisStorage

    script = RedisStorage.SCRIPT_INCR_EXPIRE
    return script if isinstance(script, bytes) else str(script).encode()


class RedisWindows:
    """Fixed windows in Redis, shared by every process and machine.

    :param connect: returns the redis-py client (plain, Sentinel master or Cluster); called
        on first use, so that an application starts while its store is down (a Cluster
        client connects as it is made) and the first requests fail as configured.
    :param prefix: prefix of every key (``BASTION_RATELIMIT_KEY_PREFIX``).
    """

    def __init__(self, connect: t.Callable[[], redis.Redis], prefix: str) -> None:
        self._connect = connect
        self._client: redis.Redis | None = None
        self.prefix = prefix
        self.script = _incr_expire_script()
        self.sha = hashlib.sha1(self.script, usedforsecurity=False).hexdigest()

    def hit(self, key: str, expiry: int, amount: int, now: float) -> Count:
        """Add ``amount`` to the window of ``key``: one round trip."""
        return self.hit_many(((key, expiry, amount),), now)[0]

    def hit_many(self, hits: Sequence[Hit], now: float) -> list[Count]:
        """Every hit of a request in one pipeline: one round trip (two more, once, when
        Redis lost the script, to load it again).

        :raises StoreError: when Redis cannot be reached or fails.
        """
        import redis

        try:
            client = self._client
            if client is None:
                client = self._client = self._connect()
            replies = self._send(client, hits)
            if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                client.script_load(self.script)
                replies = self._send(client, hits)
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as exc:
            raise StoreError(f"rate-limit store: {type(exc).__name__}") from None
        counts: list[Count] = []
        for index, (_key, expiry, _amount) in enumerate(hits):
            count, pttl = replies[2 * index], replies[2 * index + 1]
            if isinstance(count, Exception) or isinstance(pttl, Exception):
                raise StoreError(f"rate-limit store: {type(count).__name__}")
            # -1 (no expiry) or -2 (gone since): count the whole window from now.
            ends = now + (pttl / 1000 if pttl > 0 else expiry)
            counts.append((int(count), ends))
        return counts

    def _send(self, client: redis.Redis, hits: Sequence[Hit]) -> list[t.Any]:
        pipe = client.pipeline(transaction=False)
        prefix, sha = self.prefix, self.sha
        for key, expiry, amount in hits:
            full = prefix + key
            pipe.evalsha(sha, 1, full, expiry, amount)
            pipe.pttl(full)
        replies: list[t.Any] = pipe.execute(raise_on_error=False)
        return replies


def redis_connect(app: Flask, url: str) -> t.Callable[[], t.Any]:
    """What makes the Redis client of ``url``: the application's shared one for
    redis://, rediss:// and redis+unix://, ``limits``' Sentinel or Cluster client
    otherwise (made on first use)."""
    stores = get_state(app).stores
    if url.startswith(("redis://", "rediss://", "redis+unix://")):
        plain = url.replace("redis+unix://", "unix://")
        client = stores.redis(plain, key="BASTION_RATELIMIT_STORAGE_URL")
        return lambda: client
    timeout = stores.redis_timeout

    def connect() -> t.Any:
        from limits.storage import storage_from_string

        storage = storage_from_string(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return t.cast(t.Any, storage).get_connection()

    return connect


Windows = MemoryWindows | RedisWindows
