"""The stores of the sign-in counters: in memory, SQL (SQLite, PostgreSQL) and Redis.

Brute-force defence is only as good as its counting: two requests that fail at the same
moment must count two failures, and two that ask at the same moment whether one more
attempt is allowed must not both get the last one. So every write here is one atomic
operation on the server, never a read followed by a write in the application: an
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL alike), a conditional
``UPDATE`` that compares what was read (:meth:`CounterBackend.swap`), or a Lua script,
which Redis runs atomically. The stores know nothing of the policy
(:mod:`flask_bastion.accounts.throttle` decides), of users or of addresses: their keys
are keyed hashes, so they hold no email address and no IP address.

Times are the throttle's clock, passed in, never the server's: what is expired is decided
with ``now``, and the TTLs given to Redis and the purge of SQL rows only reclaim space.
"""

from __future__ import annotations

import math
import threading
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ..exceptions import ConfigurationError
from ..stores import redis_call
from ..stores.sql import SQLDatabase

if t.TYPE_CHECKING:
    import redis

__all__ = [
    "NEVER",
    "Counter",
    "CounterBackend",
    "MemoryCounters",
    "RedisCounters",
    "SQLCounters",
]

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


class SQLCounters:
    """Counters in two SQL tables: ``table_name`` (one row per counter) and
    ``table_name + "_seen"`` (the distinct accounts per address), created on first use.

    :param database: the shared database (``get_state(app).stores.sql(...)``).
    :param table_name: the counters' table.
    :raises ConfigurationError: for a database other than SQLite or PostgreSQL, whose
        ``INSERT ... ON CONFLICT`` the atomic counting relies on.
    """

    def __init__(self, database: SQLDatabase, table_name: str = "bastion_login_counters") -> None:
        dialect = database.engine.dialect.name
        insert: t.Callable[[sa.Table], t.Any]
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as insert_pg

            insert = insert_pg
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as insert_sqlite

            insert = insert_sqlite
        else:
            raise ConfigurationError(
                "BASTION_LOCKOUT_URL",
                f"the sql lockout store needs SQLite or PostgreSQL, not {dialect}.",
            )
        self._insert = insert
        self.database = database
        self._metadata = sa.MetaData()
        self.table = sa.Table(
            table_name,
            self._metadata,
            sa.Column("key", sa.String(96), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("last", sa.Float, nullable=False),
            sa.Column("expires", sa.Float, nullable=False, index=True),
        )
        self.seen_table = sa.Table(
            f"{table_name}_seen",
            self._metadata,
            sa.Column("key", sa.String(96), primary_key=True),
            sa.Column("member", sa.String(96), primary_key=True),
            sa.Column("expires", sa.Float, nullable=False, index=True),
        )

    def _run(self, statement: t.Any) -> sa.CursorResult[t.Any]:
        # The row count is kept before the connection goes back to the pool (an upsert's
        # is lost otherwise on PostgreSQL). Writes return no rows: SQLite holds its write
        # lock until a statement's rows are all read.
        options = statement.execution_options(preserve_rowcount=True)
        return self.database.run(options, tables=self._metadata)

    def get(self, keys: Sequence[str], now: float) -> list[Counter | None]:
        c = self.table.c
        query = sa.select(c.key, c.count, c.total, c.last, c.expires).where(
            c.key.in_(keys), c.expires > now
        )
        # Unpacked by position: a Row is a tuple, and row.count is tuple.count.
        found = {
            key: Counter(count, total, last, expires)
            for key, count, total, last, expires in t.cast("list[t.Any]", self._run(query).all())
        }
        return [found.get(key) for key in keys]

    def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
        c = self.table.c
        values = {"count": new.count, "total": new.total, "last": new.last, "expires": new.expires}
        if old is None:
            # Inserted, or written over an expired row; a live row is left alone.
            statement = (
                self._insert(self.table)
                .values(key=key, **values)
                .on_conflict_do_update(index_elements=[c.key], set_=values, where=c.expires <= now)
            )
            return self._run(statement).rowcount == 1
        update = (
            sa.update(self.table)
            .where(
                c.key == key,
                c.count == old.count,
                c.total == old.total,
                c.last == old.last,
                c.expires > now,
            )
            .values(**values)
        )
        return self._run(update).rowcount == 1

    def add(self, key: str, now: float, window: float, expires: float) -> None:
        c = self.table.c
        gone = c.expires <= now
        statement = (
            self._insert(self.table)
            .values(key=key, count=1, total=1, last=now, expires=expires)
            .on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "count": sa.case((sa.or_(gone, c.last <= now - window), 1), else_=c.count + 1),
                    "total": sa.case((gone, 1), else_=c.total + 1),
                    "last": now,
                    "expires": expires,
                },
            )
        )
        self._run(statement)

    def flag(self, key: str, now: float, expires: float) -> bool:
        c = self.table.c
        values = {"count": 1, "total": 1, "last": now, "expires": expires}
        statement = (
            self._insert(self.table)
            .values(key=key, **values)
            .on_conflict_do_update(index_elements=[c.key], set_=values, where=c.expires <= now)
        )
        return self._run(statement).rowcount == 1

    def seen(self, key: str, member: str, now: float, window: float) -> int:
        c = self.seen_table.c
        self._run(sa.delete(self.seen_table).where(c.key == key, c.expires <= now))
        self._run(
            self._insert(self.seen_table)
            .values(key=key, member=member, expires=now + window)
            .on_conflict_do_update(index_elements=[c.key, c.member], set_={"expires": now + window})
        )
        count = sa.select(sa.func.count()).where(c.key == key, c.expires > now)
        return int(self._run(count).scalar_one())

    def delete(self, keys: Sequence[str]) -> None:
        self._run(sa.delete(self.table).where(self.table.c.key.in_(keys)))

    def purge(self, now: float) -> None:
        self._run(sa.delete(self.table).where(self.table.c.expires <= now))
        self._run(sa.delete(self.seen_table).where(self.seen_table.c.expires <= now))

    def close(self) -> None:
        """Close the database's pooled connections."""
        self.database.close()


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
