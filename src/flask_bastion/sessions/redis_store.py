"""The Redis session store: one key per session with a TTL, plus a set per user.

Redis expires each session key itself (``EXPIREAT`` at the record's ``expires_at``), so
nothing needs purging; a user's index set is pruned of vanished keys when it is read. One
round trip per operation: reads are a single ``GET``, writes a single pipeline or script.

Updates and touches are Lua scripts, which Redis runs atomically: they write only while
the session key exists, so a request that read a session before it was revoked cannot
bring it back when it finishes, nor add its key to the user's index again. A touch
rewrites the record only if its data is still the data the request read, so a request that
merely read the session never undoes a change another request made meanwhile.

A returning visitor's read usually costs no round trip at all: each process keeps the
sessions it read in a small cache that Redis itself keeps honest (server-assisted
client-side caching, ``CLIENT TRACKING ... BCAST PREFIX``). Redis pushes the name of every
key under the store's prefix that changes, is deleted or expires, from any client, to a
listening connection of this process, which drops it from the cache before the next read.
A revocation in another process therefore applies at once. Should the listener lose its
connection, the cache is emptied and reads go to Redis until it is back; an entry is
never reused for longer than ``cache_seconds`` either, which bounds staleness if
invalidations silently stop (a network partition that keeps the socket open).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import typing as t
from collections import OrderedDict
from dataclasses import replace

from ..stores import redis_call
from .store import SessionRecord

if t.TYPE_CHECKING:
    import redis

_FIELDS = ("user_id", "created_at", "last_seen", "expires_at", "ip", "user_agent", "device")

#: Adds the session key to its user's index and keeps the index alive as long as the
#: longest-lived session in it (``EXPIREAT ... GT``, or ``NX`` when it had no expiry yet).
_EXTEND_INDEX = """
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('EXPIREAT', KEYS[2], ARGV[2], 'GT')
  redis.call('EXPIREAT', KEYS[2], ARGV[2], 'NX')
end
"""
#: KEYS: the session, then its user's index if any; ARGV: the record, its expiry (Unix
#: time), its store key. ``SET ... XX`` writes only over an existing key, so a session
#: deleted meanwhile is neither recreated nor put back into the index.
_UPDATE = (
    """
if not redis.call('SET', KEYS[1], ARGV[1], 'XX', 'EXAT', ARGV[2]) then
  return 0
end
"""
    + _EXTEND_INDEX
    + "return 1"
)
#: As :data:`_UPDATE`, with ARGV[4] the tail of the record the request read, which holds
#: its data (:meth:`RedisStore._blob`): the record is rewritten only if its data is still
#: that, byte for byte, so a newer write by another request is kept.
_TOUCH = (
    """
local stored = redis.call('GET', KEYS[1])
if not stored then
  return 0
end
if string.sub(stored, -string.len(ARGV[4])) ~= ARGV[4] then
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
"""
    + _EXTEND_INDEX
    + "return 1"
)
#: KEYS: the user's index; ARGV: the key prefix, the user ID, the key to keep (or ""), the
#: device to limit to (or ""). Deletes, in one atomic step, every indexed session that
#: still belongs to the user; returns the store keys deleted. The session keys are built
#: inside the script, so it needs a single Redis server (not a cluster).
_DELETE_USER = """
local deleted = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if member ~= ARGV[3] then
    local name = ARGV[1] .. member
    local stored = redis.call('GET', name)
    if not stored then
      redis.call('SREM', KEYS[1], member)
    else
      local ok, record = pcall(cjson.decode, stored)
      if ok and record['user_id'] == ARGV[2]
          and (ARGV[4] == '' or record['device'] == ARGV[4]) then
        redis.call('DEL', name)
        redis.call('SREM', KEYS[1], member)
        deleted[#deleted + 1] = member
      end
    end
  end
end
return deleted
"""
#: Pub/sub channel on which Redis announces changed keys to tracking clients (RESP2).
INVALIDATE_CHANNEL = b"__redis__:invalidate"


class InvalidationTracker:
    """A cache of values read from Redis, invalidated by Redis itself.

    One extra connection per process subscribes to :data:`INVALIDATE_CHANNEL` after
    enabling broadcast tracking, redirected to itself, for every key under ``prefix``.
    :meth:`sync` drains the invalidations already delivered (a non-blocking poll) before
    each lookup. All methods are thread-safe.

    :param client: the store's ``redis.Redis`` client; the listener uses its settings.
    :param prefix: the key prefix to track.
    :param max_age: seconds after which an entry is read again whatever Redis says.
    :param max_entries: the least recently used entries beyond this are dropped.
    """

    def __init__(
        self, client: redis.Redis, prefix: str, max_age: float, max_entries: int = 10_000
    ) -> None:
        import redis

        self.client = client
        self.prefix = prefix
        self.max_age = max_age
        self.max_entries = max_entries
        #: The clock for entry ages; tests replace it to move time without sleeping.
        self.clock: t.Callable[[], float] = time.monotonic
        #: Bumped on every invalidation: a read that saw another value does not cache.
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, t.Any]] = OrderedDict()
        self._lock = threading.RLock()
        self._listener: t.Any = None
        #: Redis's ID of the listening connection (``CLIENT LIST``), once connected.
        self.client_id: int | None = None
        self._pid = 0
        self._retry_at = 0.0
        self._errors = (redis.RedisError, OSError)

    # -- the listening connection ----------------------------------------------------------

    def _connect(self) -> None:
        pool = self.client.connection_pool
        settings = {**pool.connection_kwargs, "protocol": 2}  # invalidations as pub/sub
        listener = pool.connection_class(**settings)
        try:
            listener.connect()
            listener.send_command("CLIENT", "ID")
            client_id = listener.read_response()
            tracking = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
            listener.send_command(*tracking, *(["PREFIX", self.prefix] if self.prefix else []))
            listener.read_response()
            listener.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            listener.read_response()
        except BaseException:
            listener.disconnect()
            raise
        self._listener, self._pid, self.client_id = listener, os.getpid(), int(client_id)

    def _drop_listener(self) -> None:
        """Forget the listener and everything cached under it."""
        if self._listener is not None and self._pid == os.getpid():
            self._listener.disconnect()
        self._listener = self.client_id = None
        self._entries.clear()
        self.generation += 1

    def sync(self) -> bool:
        """Apply the invalidations Redis has sent; whether the cache may be used now."""
        with self._lock:
            if self._listener is not None and self._pid != os.getpid():
                self._drop_listener()  # inherited across fork: the parent's socket
            if self._listener is None:
                now = self.clock()
                if now < self._retry_at:
                    return False
                try:
                    self._connect()
                except self._errors:
                    self._retry_at = now + 5.0
                    return False
            try:
                while self._listener.can_read(0):
                    self._apply(self._listener.read_response())
            except self._errors:
                self._drop_listener()
                return False
            return True

    def _apply(self, message: t.Any) -> None:
        if not isinstance(message, list) or len(message) != 3 or message[0] != b"message":
            return  # subscription confirmations and the like
        keys = message[2]
        self.generation += 1
        if keys is None:  # FLUSHDB / FLUSHALL: everything is gone
            self._entries.clear()
            return
        for key in keys:
            self._entries.pop(key.decode() if isinstance(key, bytes) else key, None)

    def close(self) -> None:
        """Close the listening connection."""
        with self._lock:
            self._drop_listener()

    # -- the cache -------------------------------------------------------------------------

    def lookup(self, key: str) -> t.Any:
        """The cached value of ``key``, or ``None``. Call :meth:`sync` first."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry[0] > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def remember(self, key: str, value: object, generation: int) -> None:
        """Cache ``value``, read from Redis after :attr:`generation` was ``generation``."""
        with self._lock:
            if generation != self.generation or self._listener is None:
                return  # an invalidation arrived meanwhile: the value may already be stale
            self._entries[key] = (self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, *keys: str) -> None:
        """Drop ``keys`` at once: this process has just written them, and the next read in
        this process must not wait for Redis's invalidation to arrive."""
        with self._lock:
            self.generation += 1
            for key in keys:
                self._entries.pop(key, None)


class RedisStore:
    """Sessions in Redis.

    :param client: a ``redis.Redis`` client, or a ``redis://`` URL to create one from
        (with short socket timeouts, so an outage becomes a prompt 503, not a hang).
    :param prefix: prefix of every key this store writes.
    :param cache_seconds: how long a read may be reused while Redis reports no change
        (see the module documentation); ``0`` reads Redis on every request.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        prefix: str = "bastion:session:",
        cache_seconds: float = 0,
    ) -> None:
        import redis

        if isinstance(client, str):
            client = redis.Redis.from_url(client, socket_timeout=2, socket_connect_timeout=2)
        self.client = client
        self.prefix = prefix
        #: The invalidation-tracked cache, or ``None`` when ``cache_seconds`` is 0.
        self.tracker = InvalidationTracker(client, prefix, cache_seconds) if cache_seconds else None
        self._update = client.register_script(_UPDATE)
        self._touch = client.register_script(_TOUCH)
        self._delete_user = client.register_script(_DELETE_USER)

    def close(self) -> None:
        """Close the client's connections."""
        if self.tracker is not None:
            self.tracker.close()
        self.client.close()

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}"

    def _call(self, fn: t.Callable[[], t.Any]) -> t.Any:
        return redis_call(fn, "session store")

    @staticmethod
    def _decode(key: str, blob: bytes | str | None) -> SessionRecord | None:
        if blob is None:
            return None
        stored = json.loads(blob)
        return SessionRecord(key=key, data={}, raw=stored.pop("data"), **stored)

    def get(self, key: str) -> SessionRecord | None:
        name = self._key(key)
        tracker = self.tracker
        if tracker is None or not tracker.sync():
            return self._decode(key, self._call(lambda: self.client.get(name)))
        cached: SessionRecord | None = tracker.lookup(name)
        if cached is not None:
            # Decoded once, copied per request: the interface changes its record's fields.
            return replace(cached)
        generation = tracker.generation
        record = self._decode(key, self._call(lambda: self.client.get(name)))
        if record is not None:
            tracker.remember(name, replace(record), generation)
        return record

    def _written(self, *keys: str) -> None:
        if self.tracker is not None:
            self.tracker.forget(*(self._key(k) for k in keys))

    @staticmethod
    def _blob(record: SessionRecord) -> tuple[str, str]:
        """The record as stored, and its tail: the data, which is always written last."""
        fields = {name: getattr(record, name) for name in _FIELDS}
        fields["user_agent"] = record.user_agent[:256]
        tail = ', "data": ' + json.dumps(record.raw or json.dumps(record.data)) + "}"
        return json.dumps(fields)[:-1] + tail, tail

    def create(self, record: SessionRecord) -> None:
        def write() -> None:
            expires = math.ceil(record.expires_at)
            pipe = self.client.pipeline()
            pipe.set(self._key(record.key), self._blob(record)[0], exat=expires)
            if record.user_id is not None:
                index = self._user_key(record.user_id)
                pipe.sadd(index, record.key)
                pipe.expireat(index, expires, gt=True)
                pipe.expireat(index, expires, nx=True)
            pipe.execute()

        try:
            self._call(write)
        finally:
            self._written(record.key)

    def _script(self, script: t.Any, record: SessionRecord) -> bool:
        keys = [self._key(record.key)]
        if record.user_id is not None:
            keys.append(self._user_key(record.user_id))
        blob, tail = self._blob(record)
        args = [blob, math.ceil(record.expires_at), record.key, tail]
        try:
            return bool(self._call(lambda: script(keys=keys, args=args, client=self.client)))
        finally:
            self._written(record.key)

    def update(self, record: SessionRecord) -> bool:
        return self._script(self._update, record)

    def touch(self, record: SessionRecord) -> bool:
        return self._script(self._touch, record)

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        try:
            return int(self._call(lambda: self.client.delete(*(self._key(k) for k in keys))))
        finally:
            self._written(*keys)

    def delete_user(
        self, user_id: str, *, keep: str | None = None, device: str | None = None
    ) -> int:
        keys = [self._user_key(user_id)]
        args = [self.prefix, user_id, keep or "", device or ""]
        deleted = self._call(lambda: self._delete_user(keys=keys, args=args, client=self.client))
        names = [m.decode() if isinstance(m, bytes) else m for m in deleted]
        self._written(*names)
        return len(names)

    def for_user(self, user_id: str) -> list[SessionRecord]:
        index = self._user_key(user_id)
        members = sorted(
            m.decode() if isinstance(m, bytes) else m
            for m in self._call(lambda: self.client.smembers(index))
        )
        if not members:
            return []
        blobs = self._call(lambda: self.client.mget([self._key(k) for k in members]))
        records, gone = [], []
        for key, blob in zip(members, blobs, strict=True):
            record = self._decode(key, blob)
            if record is None or record.user_id != user_id:
                gone.append(key)
            else:
                records.append(record)
        if gone:
            self._call(lambda: self.client.srem(index, *gone))
        return records

    def purge(self, now: float) -> int:
        """Nothing to do: Redis expires session keys itself."""
        return 0
