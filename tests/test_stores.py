"""Shared stores: one URL resolution, one client per URL, bounded waits, opaque errors."""

from __future__ import annotations

import socket
import threading
import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_bastion import Bastion
from flask_bastion.context import get_state
from flask_bastion.exceptions import ConfigurationError
from flask_bastion.stores import StoreError, Stores, redis_call
from flask_bastion.stores.sql import SQLDatabase

from .conftest import OPEN_APPS, SECRET, service_url


def _app(tmp_path: t.Any, **config: t.Any) -> Flask:
    app = Flask("stores", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], **config)
    Bastion(app)
    OPEN_APPS.append(app)
    return app


def test_one_database_per_url(tmp_path: t.Any) -> None:
    """Two components asking for the same URL share one database object and engine."""
    stores = get_state(_app(tmp_path)).stores
    first = stores.sql(f"sqlite:///{tmp_path}/a.db")
    assert stores.sql(f"sqlite:///{tmp_path}/a.db") is first
    assert stores.sql(f"sqlite:///{tmp_path}/b.db") is not first


def test_session_store_uses_the_shared_database(tmp_path: t.Any) -> None:
    """The SQL session store runs on the application's shared database."""
    app = _app(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/app.db")
    stores = get_state(app).stores
    assert app.session_interface.store.database is stores.sql()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"DATABASE_URL": "sqlite:///one.db"}, "sqlite:///one.db"),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///two.db"}, "sqlite:///two.db"),
        (
            {"DATABASE_URL": "sqlite:///one.db", "SQLALCHEMY_DATABASE_URI": "sqlite:///two.db"},
            "sqlite:///one.db",
        ),
    ],
    ids=["database-url", "sqlalchemy-uri", "database-url-wins"],
)
def test_sql_url_from_the_application(
    tmp_path: t.Any, config: dict[str, str], expected: str
) -> None:
    """A component without its own URL gets the application's database."""
    assert get_state(_app(tmp_path, **config)).stores.sql_url(None) == expected


def test_sql_url_defaults_to_sqlite_in_the_instance_folder(tmp_path: t.Any) -> None:
    """Without any URL the database is SQLite in the instance folder, which is created."""
    url = get_state(_app(tmp_path)).stores.sql_url(None)
    assert url == f"sqlite:///{tmp_path}/instance/bastion.sqlite3"
    assert (tmp_path / "instance").is_dir()


def test_explicit_url_wins(tmp_path: t.Any) -> None:
    """A component's own URL setting wins over the application's."""
    stores = get_state(_app(tmp_path, DATABASE_URL="sqlite:///app.db")).stores
    assert stores.sql_url("sqlite:///own.db") == "sqlite:///own.db"


def test_redis_without_url_names_the_setting(tmp_path: t.Any) -> None:
    """A Redis store with no URL anywhere is a configuration error naming the key."""
    with pytest.raises(ConfigurationError) as info:
        _app(tmp_path, BASTION_SESSIONS_STORE="redis")
    assert info.value.key == "BASTION_SESSIONS_URL"


def test_one_redis_client_per_url(tmp_path: t.Any) -> None:
    """Components on one Redis URL share one client (one connection pool), with the
    configured timeouts."""
    stores = get_state(_app(tmp_path, BASTION_STORES_REDIS_TIMEOUT=3)).stores
    client = stores.redis("redis://127.0.0.1:1/0")
    assert stores.redis("redis://127.0.0.1:1/0") is client
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (3, 3)


def test_redis_failure_names_only_its_kind(tmp_path: t.Any) -> None:
    """A Redis failure becomes a StoreError naming the exception type only."""
    client = get_state(_app(tmp_path, BASTION_STORES_REDIS_TIMEOUT=1)).stores.redis(
        "redis://:s3cret@127.0.0.1:1/0"
    )
    with pytest.raises(StoreError) as info:
        redis_call(client.ping, "rate limits")
    assert str(info.value) == "rate limits: ConnectionError"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_sql_failure_names_only_its_kind(tmp_path: t.Any) -> None:
    """A database failure becomes a StoreError without the URL or its password."""
    database = SQLDatabase(
        "postgresql+psycopg://app:s3cret@127.0.0.1:1/prod", connect_timeout=2, name="bans"
    )
    try:
        with pytest.raises(StoreError) as info:
            database.run(sa.text("SELECT 1"))
        assert str(info.value) == "bans: OperationalError"
        assert "s3cret" not in repr(info.value)
    finally:
        database.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_silent_redis_is_a_prompt_store_error(tmp_path: t.Any, silent_server: int) -> None:
    """A Redis server that never answers costs the configured timeout, then a StoreError."""
    stores = get_state(_app(tmp_path, BASTION_STORES_REDIS_TIMEOUT=1)).stores
    client = stores.redis(f"redis://127.0.0.1:{silent_server}/0")
    with pytest.raises(StoreError) as info:
        redis_call(client.ping)
    assert str(info.value) == "store: TimeoutError"


def test_close_releases_every_client(tmp_path: t.Any) -> None:
    """Stores.close() disposes every engine and closes every client."""
    stores = Stores(Flask("close"), _app(tmp_path).extensions["bastion"].config)
    database = stores.sql(f"sqlite:///{tmp_path}/c.db")
    database.run(sa.text("SELECT 1"))
    assert database.engine.pool.checkedin() == 1
    stores.close()
    assert database.engine.pool.checkedin() == 0


def test_shared_postgresql_database(tmp_path: t.Any, pg_url: str) -> None:
    """On PostgreSQL, the shared database carries the configured statement timeout."""
    service_url("DATABASE_URL")
    stores = get_state(_app(tmp_path, BASTION_STORES_STATEMENT_TIMEOUT=3)).stores
    database = stores.sql(pg_url)
    assert database.run(sa.text("SHOW statement_timeout")).scalar() == "3s"
