"""Bans in Redis, shared by every process, kept in step by change notices and deltas.

Keys, under ``BASTION_IPFILTER_KEY_PREFIX``:

``<prefix>bans``
    a hash: network -> the ban as JSON;
``<prefix>ban-ends``
    a sorted set of the networks by end time, so that ended bans are found without
    reading every ban;
``<prefix>bans-changes``, ``<prefix>bans-seq``
    a change counter, and a sorted set of the networks by the counter value of their
    last change, so that a process reads only what changed since its copy;
``<prefix>bans-epoch``
    a token set when the counter starts afresh: with the server's run ID, it tells a
    process that the counter it holds belongs to data Redis lost (emptied, restarted
    from an older snapshot, failed over), even when the counter has since come back
    to the same value.

A process learns *that* something changed from Redis's change notices on a connection
of its own (:class:`~flask_bastion.sessions.redis_store.InvalidationTracker`, tracking
the prefix ``<prefix>bans``): no command is sent for that. It then learns *what* changed
in one script call that returns the networks changed since its counter value and their
bans (or none: lifted), and updates its copy in place. So a ban costs every process one
small round trip however long the list is; only a process's first read, and one after
the counter went backwards or its epoch changed (Redis was emptied, or restarted),
reads the whole hash.
"""

from __future__ import annotations

import secrets
import typing as t

from ..config.parsers import IPNetwork
from ..stores import redis_call
from .networks import stored_network
from .stores import Ban

if t.TYPE_CHECKING:
    import redis

#: KEYS: hash, ends, changes, seq, epoch. ARGV: network, JSON, now, end, a fresh token.
#: Drops up to 1000 ended bans, stores the new one and records the change; returns the
#: new counter value. The token names this run of the counter when it starts afresh.
_ADD = """
local seq = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[5], ARGV[5], 'NX')
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 1000)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
return seq
"""
#: KEYS: hash, ends, changes, seq, epoch. ARGV: network, a fresh token. Returns 1 when
#: there was a ban.
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[5], ARGV[2], 'NX')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
return 1
"""
#: KEYS: hash, changes, seq, epoch. ARGV: the caller's counter value (-1 for everything)
#: and epoch. Returns {counter, full (1 or 0), epoch, network, JSON or '', ...}.
#: The epoch is the counter's token and the server's run ID: a counter value means
#: nothing across an emptied Redis or a restart (from an older snapshot, or onto a
#: replica), where it may have gone back and forward again past the caller's.
_SYNC = """
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
local since = tonumber(ARGV[1])
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local epoch = (redis.call('GET', KEYS[4]) or '') .. '@' .. run
local out = {seq, 0, epoch}
if since < 0 or since > seq or epoch ~= ARGV[2] then
  out[2] = 1
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all do out[#out + 1] = all[i] end
  return out
end
if since == seq then
  return out
end
for _, network in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf')) do
  out[#out + 1] = network
  out[#out + 1] = redis.call('HGET', KEYS[1], network) or ''
end
return out
"""


class RedisBanStore:
    """Bans in Redis (see the module's documentation).

    :param client: the shared Redis client.
    :param prefix: the key prefix.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        from ..sessions.redis_store import InvalidationTracker

        self.client = client
        self.prefix = prefix
        self.key = f"{prefix}bans"
        self.ends = f"{prefix}ban-ends"
        self.changes_key = f"{prefix}bans-changes"
        self.seq_key = f"{prefix}bans-seq"
        self.epoch_key = f"{prefix}bans-epoch"
        #: The epoch of the ban list's last read (see ``_SYNC``).
        self._epoch = ""
        # Tracks every key whose name starts with <prefix>bans: the hash, the changes.
        self.tracker = InvalidationTracker(client, self.key, max_age=0)
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._sync = client.register_script(_SYNC)

    def marker(self) -> object:
        return self.tracker.generation if self.tracker.sync() else None

    def sync(self, since: int) -> tuple[int, bool, dict[IPNetwork, Ban | None]]:
        """The counter now, whether everything was read (``since`` was ``-1``, the
        counter went backwards, or its epoch changed since this store's last call: Redis
        was emptied or restarted), and the bans changed since ``since`` (``None``:
        lifted).

        :raises StoreError: when Redis cannot be reached.
        """
        seq, full, epoch, pairs = self._read(since, self._epoch)
        self._epoch = epoch
        return seq, full, self._parse(pairs)

    def _read(self, since: int, epoch: str) -> tuple[int, bool, str, list[t.Any]]:
        keys = [self.key, self.changes_key, self.seq_key, self.epoch_key]
        reply = redis_call(lambda: self._sync(keys=keys, args=[since, epoch]), "ban store")
        seq, full, found, *pairs = t.cast("list[t.Any]", reply)
        return int(seq), bool(full), _text(found), pairs

    @staticmethod
    def _parse(pairs: list[t.Any]) -> dict[IPNetwork, Ban | None]:
        changed: dict[IPNetwork, Ban | None] = {}
        for name, value in zip(pairs[::2], pairs[1::2], strict=True):
            text = _text(name)
            found = Ban.from_json(text, value) if value else None
            try:
                changed[found.network if found else stored_network(text)] = found
            except (ValueError, OSError):  # a field written by hand: skipped
                continue
        return changed

    def load(self) -> list[Ban]:
        # Not through sync(): the ban list's epoch stays that of its own last read.
        pairs = self._read(-1, "")[3]
        return [ban for ban in self._parse(pairs).values() if ban is not None]

    def add(self, ban: Ban, now: float) -> None:
        keys = [self.key, self.ends, self.changes_key, self.seq_key, self.epoch_key]
        token = secrets.token_hex(8)
        args: list[str | float] = [str(ban.network), ban.to_json(), now, ban.until, token]
        redis_call(lambda: self._add(keys=keys, args=args), "ban store")

    def remove(self, network: IPNetwork) -> bool:
        keys = [self.key, self.ends, self.changes_key, self.seq_key, self.epoch_key]
        args = [str(network), secrets.token_hex(8)]
        return bool(redis_call(lambda: self._remove(keys=keys, args=args), "ban store"))

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
