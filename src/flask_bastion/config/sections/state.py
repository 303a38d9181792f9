"""Configuration of server-side state: sessions and the stores behind them."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import (
    boolean,
    choice,
    identifier,
    int_range,
    non_negative_int,
    optional_str,
    setting,
    visible_ascii,
)
from .web import MAX_SESSION_TIMEOUT, MAX_STORE_TIMEOUT


@dataclass(frozen=True)
class SessionsConfig:
    """Server-side sessions (``sessions/``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Replace Flask's signed-cookie session with server-side sessions.",
        danger="False",
    )
    store: str = setting(
        "sql",
        choice("sql", "redis", "memory"),
        "Where sessions live. 'memory' is for tests and single-process development only.",
        danger="'memory' with more than one process",
    )
    url: str | None = setting(
        None,
        optional_str,
        "Database or Redis URL of the store. Default: the app's DATABASE_URL / "
        "SQLALCHEMY_DATABASE_URI (sql) or REDIS_URL (redis), else SQLite in the instance folder.",
    )
    cookie_name: str = setting(
        "__Host-session",
        identifier,
        "Session cookie name. When unset, the name is __Host- followed by Flask's "
        "SESSION_COOKIE_NAME (so __Host-session by default). The __Host- prefix pins it to "
        "this host, path / and HTTPS; the development profile drops the prefix (it needs "
        "Secure).",
    )
    idle_timeout: int = setting(
        1800,
        int_range(0, MAX_SESSION_TIMEOUT),
        "Seconds without a request before a session ends. 0 disables.",
        danger="0 or above 30 days",
    )
    absolute_timeout: int = setting(
        43_200,
        int_range(0, MAX_SESSION_TIMEOUT),
        "Seconds after creation when a session ends. 0 disables.",
        danger="0 or above 30 days",
    )
    touch_interval: int = setting(
        60,
        non_negative_int,
        "Seconds between last-seen updates of an unchanged session (one write per interval).",
    )
    table_name: str = setting("bastion_sessions", identifier, "Table of the sql store.")
    key_prefix: str = setting("bastion:session:", visible_ascii, "Key prefix of the redis store.")
    redis_cache: int = setting(
        5,
        non_negative_int,
        "Seconds a session read from Redis may be reused by this process while Redis reports "
        "no change to it (client-side caching with server-pushed invalidation: a revocation "
        "anywhere applies at once). Bounds staleness if invalidations stop arriving. 0 disables.",
    )


@dataclass(frozen=True)
class StoresConfig:
    """The SQL databases and Redis servers every component shares (``stores/``)."""

    connect_timeout: int = setting(
        5,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds to wait for a new PostgreSQL connection, handshake included (libpq waits "
        "at least 2). Past it the request gets a 503 with Retry-After.",
    )
    statement_timeout: int = setting(
        5,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds one SQL statement may take: PostgreSQL's statement_timeout, SQLite's wait "
        "for a lock; a second later the client cuts a PostgreSQL connection that sent "
        "nothing. Past it the request gets a 503 with Retry-After.",
    )
    redis_timeout: int = setting(
        2,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds to wait for a Redis connection and for each answer. Past it the request "
        "gets a 503 with Retry-After.",
    )
