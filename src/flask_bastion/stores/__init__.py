"""Shared stores: one place resolves store URLs and owns the SQL engines and Redis clients.

Sessions today, and brute-force counters, rate limits and bans as they arrive, keep
state in SQL or Redis. Each application has one :class:`Stores` (``get_state(app).stores``)
that resolves a component's URL the same way for all of them (its own setting, else the
application's ``DATABASE_URL`` / ``SQLALCHEMY_DATABASE_URI`` or ``REDIS_URL``, else SQLite
in the instance folder) and hands out one :class:`~.sql.SQLDatabase` or one Redis client
per URL, so components on the same server share its connections, its timeouts and its
fault handling: every failure becomes a :class:`StoreError` that names only the kind of
failure (never the URL or its password), which the pipeline answers with a 503.
"""

from __future__ import annotations

import os
import typing as t

from flask import Flask

from ..exceptions import ConfigurationError, StoreError
from .sql import SQLDatabase

if t.TYPE_CHECKING:
    import redis

    from ..config import BastionConfig

__all__ = ["StoreError", "Stores", "redis_call"]


T = t.TypeVar("T")


def redis_call(fn: t.Callable[[], T], name: str = "store") -> T:
    """``fn()``, with a Redis or socket failure turned into :class:`StoreError`.

    :raises StoreError: ``"<name>: <exception type>"``, nothing of the message.
    """
    import redis

    try:
        return fn()
    except (redis.RedisError, OSError) as exc:
        raise StoreError(f"{name}: {type(exc).__name__}") from None


class Stores:
    """The SQL databases and Redis clients of one application, one per URL.

    :param app: the application, for its ``DATABASE_URL`` / ``REDIS_URL`` and instance
        folder.
    :param config: its validated configuration (the timeouts).
    """

    def __init__(self, app: Flask, config: BastionConfig) -> None:
        self.app = app
        settings = config.stores
        self.connect_timeout = settings.connect_timeout
        self.statement_timeout = settings.statement_timeout
        self.redis_timeout = settings.redis_timeout
        self._sql: dict[str, SQLDatabase] = {}
        self._redis: dict[str, redis.Redis] = {}
        self._closers: list[t.Callable[[], None]] = []

    def sql_url(self, url: str | None) -> str:
        """``url``, else the application's database URL, else SQLite in the instance
        folder (created)."""
        found = url or self.app.config.get("DATABASE_URL")
        found = found or self.app.config.get("SQLALCHEMY_DATABASE_URI")
        if found:
            return str(found)
        os.makedirs(self.app.instance_path, exist_ok=True)
        return f"sqlite:///{os.path.join(self.app.instance_path, 'bastion.sqlite3')}"

    def redis_url(self, url: str | None, key: str) -> str:
        """``url``, else the application's ``REDIS_URL``.

        :raises ConfigurationError: naming ``key`` when there is neither.
        """
        found = url or self.app.config.get("REDIS_URL")
        if not found:
            raise ConfigurationError(key, "the redis store needs a redis:// URL (or REDIS_URL).")
        return str(found)

    def sql(self, url: str | None = None, *, name: str = "store") -> SQLDatabase:
        """The shared database at :meth:`sql_url` ``(url)``."""
        resolved = self.sql_url(url)
        database = self._sql.get(resolved)
        if database is None:
            database = self._sql[resolved] = SQLDatabase(
                resolved,
                connect_timeout=self.connect_timeout,
                statement_timeout=self.statement_timeout,
                name=name,
            )
        return database

    def redis(self, url: str | None = None, *, key: str = "REDIS_URL") -> redis.Redis:
        """The shared Redis client at :meth:`redis_url` ``(url)``, with short timeouts so
        an outage is a prompt 503, not a hang."""
        import redis

        resolved = self.redis_url(url, key)
        client = self._redis.get(resolved)
        if client is None:
            client = self._redis[resolved] = redis.Redis.from_url(
                resolved,
                socket_timeout=self.redis_timeout,
                socket_connect_timeout=self.redis_timeout,
            )
        return client

    def on_close(self, close: t.Callable[[], None]) -> None:
        """Call ``close()`` from :meth:`close`: for a component's own connections on a
        shared server (a change-notice listener), closed with the rest."""
        self._closers.append(close)

    def close(self) -> None:
        """Close every pooled connection (tests, and a worker shutting down)."""
        for close in self._closers:
            close()
        for database in self._sql.values():
            database.close()
        for client in self._redis.values():
            client.close()
