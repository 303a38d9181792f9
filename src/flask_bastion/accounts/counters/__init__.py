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

from .base import (
    NEVER,
    Counter,
    CounterBackend,
    MemoryCounters,
)
from .redis_store import (
    RedisCounters,
)
from .sql_store import (
    SQLCounters,
)

__all__ = [
    "NEVER",
    "Counter",
    "CounterBackend",
    "MemoryCounters",
    "RedisCounters",
    "SQLCounters",
]
