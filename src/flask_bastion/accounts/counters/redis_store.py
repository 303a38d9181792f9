"""Counters in Redis, counted by Lua scripts that the server runs atomically."""

from __future__ import annotations

import typing as t
from collections.abc import Sequence

from ...stores import redis_call

if t.TYPE_CHECKING:
    import redis

from .base import NEVER, Counter, _ttl

#: KEYS: the record. ARGV: now, whether a record is expected (1/0), the expected count,
#: total and last, the new count, total, last and expiry, the TTL ('' for none).
_SWAP = """
local cur = redis.call('HMGET', KEYS[1], 'c', 't', 'l', 'e')
local live = cur[1] and tonumber(cur[4]) > tonumber(ARGV[1])
if ARGV[2] == '0' then
  if live then return 0 end
elseif not live or tonumber(cur[1]) ~= tonumber(ARGV[3]) or tonumber(cur[2]) ~= tonumber(ARGV[4])
    or tonumber(cur[3]) ~= tonumber(ARGV[5]) then
  return 0
end
redis.call('HSET', KEYS[1], 'c', ARGV[6], 't', ARGV[7], 'l', ARGV[8], 'e', ARGV[9])
if ARGV[10] == '' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('EXPIRE', KEYS[1], ARGV[10])
end
return 1
"""
#: KEYS: the record. ARGV: now, window, expiry, TTL.
_ADD = """
local cur = redis.call('HMGET', KEYS[1], 'c', 't', 'l', 'e')
local now = tonumber(ARGV[1])
local c, t = 1, 1
if cur[1] and tonumber(cur[4]) > now then
  t = tonumber(cur[2]) + 1
  if now - tonumber(cur[3]) < tonumber(ARGV[2]) then c = tonumber(cur[1]) + 1 end
end
redis.call('HSET', KEYS[1], 'c', c, 't', t, 'l', ARGV[1], 'e', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
"""
#: KEYS: the flag. ARGV: now, expiry, TTL. Returns 1 when raised by this call.
_FLAG = """
local e = redis.call('HGET', KEYS[1], 'e')
if e and tonumber(e) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'c', 1, 't', 1, 'l', ARGV[1], 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
#: KEYS: the set (a sorted set scored by time). ARGV: now, window, member, TTL.
_SEEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
"""


class RedisCounters:
    """Counters in Redis: a hash per counter, a sorted set per address for the distinct
    accounts; every write one Lua script, so one atomic round trip. Keys expire on the
    server (an account locked until unlocked does not).

    :param client: the shared client (``get_state(app).stores.redis(...)``).
    :param prefix: put before every key.
    """

    def __init__(self, client: redis.Redis, prefix: str = "bastion:lockout:") -> None:
        self.client = client
        self.prefix = prefix
        self._swap = client.register_script(_SWAP)
        self._add = client.register_script(_ADD)
        self._flag = client.register_script(_FLAG)
        self._seen = client.register_script(_SEEN)

    def _call(self, fn: t.Callable[[], t.Any]) -> t.Any:
        return redis_call(fn, "lockout store")

    def get(self, keys: Sequence[str], now: float) -> list[Counter | None]:
        def read() -> list[t.Any]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self.prefix + key, "c", "t", "l", "e")
            return pipe.execute()

        records: list[Counter | None] = []
        for c, total, last, expires in self._call(read):
            live = c is not None and float(expires) > now
            records.append(
                Counter(int(c), int(total), float(last), float(expires)) if live else None
            )
        return records

    def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
        expected: list[str | int] = (
            ["1", old.count, old.total, repr(old.last)] if old else ["0", 0, 0, "0"]
        )
        ttl = "" if new.expires >= NEVER else _ttl(new.expires, now)
        args: list[str | int] = [
            repr(now),
            *expected,
            new.count,
            new.total,
            repr(new.last),
            repr(new.expires),
            ttl,
        ]
        return bool(self._call(lambda: self._swap(keys=[self.prefix + key], args=args)))

    def add(self, key: str, now: float, window: float, expires: float) -> None:
        args: list[str | int] = [repr(now), repr(window), repr(expires), _ttl(expires, now)]
        self._call(lambda: self._add(keys=[self.prefix + key], args=args))

    def flag(self, key: str, now: float, expires: float) -> bool:
        args: list[str | int] = [repr(now), repr(expires), _ttl(expires, now)]
        return bool(self._call(lambda: self._flag(keys=[self.prefix + key], args=args)))

    def seen(self, key: str, member: str, now: float, window: float) -> int:
        args: list[str | int] = [repr(now), repr(window), member, _ttl(now + window, now)]
        return int(self._call(lambda: self._seen(keys=[self.prefix + key], args=args)))

    def delete(self, keys: Sequence[str]) -> None:
        self._call(lambda: self.client.delete(*(self.prefix + key for key in keys)))

    def purge(self, now: float) -> None:
        """Nothing to do: Redis expires the keys itself."""
