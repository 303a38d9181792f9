"""Persistence with plain SQLAlchemy 2: engine, request-scoped session, ``init-db``.

Every query goes through the ORM or bound parameters, never SQL assembled from strings,
so user input cannot change the shape of a statement (SQL injection). Each application
keeps its engine in ``app.extensions["vault.db"]``, so two apps in one process use two
databases; the session belongs to the application context and is closed when it ends.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlalchemy import Engine, String, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

#: Key of the per-application state in ``app.extensions``.
EXTENSION_KEY = "vault.db"
#: Version of the schema that :func:`init_db` creates, stored in :class:`AppMeta`.
#: 4: note titles and bodies are encrypted (``TEXT`` columns of key ring tokens).
#: 5: the ``attachments`` table (created by ``init-db`` on an existing database).
SCHEMA_VERSION = "5"


class Base(DeclarativeBase):
    """Declarative base of every Vault model."""


class AppMeta(Base):
    """Key/value facts about the database itself, such as its schema version."""

    __tablename__ = "app_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


@dataclass(frozen=True)
class Database:
    """The per-application database state."""

    engine: Engine
    sessionmaker: sessionmaker[Session]


def database_url(url: str) -> URL:
    """Parse ``url``, using the psycopg 3 driver for a bare ``postgres(ql)://`` URL
    (SQLAlchemy would otherwise pick psycopg2, which Vault does not install)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def init_app(app: Flask) -> None:
    """Create the engine for ``app.config["DATABASE_URL"]`` and register the teardown
    and the ``init-db`` command."""
    # pool_pre_ping replaces connections the server has closed (restarts, idle timeouts)
    # instead of failing the next request on them.
    engine = create_engine(database_url(app.config["DATABASE_URL"]), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        # SQLite ignores foreign keys unless asked, per connection. Deleting an account
        # must delete its notes and shares: SQLite reuses the highest row ID, and the next
        # account would otherwise inherit them.
        event.listen(engine, "connect", _sqlite_foreign_keys)
    app.extensions[EXTENSION_KEY] = Database(engine, sessionmaker(engine))
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)


def _sqlite_foreign_keys(connection: t.Any, record: t.Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def database() -> Database:
    """The current application's :class:`Database`."""
    state: Database = current_app.extensions[EXTENSION_KEY]
    return state


def get_db() -> Session:
    """The session of the current application context, opened on first use."""
    if "_vault_db" not in g:
        g._vault_db = database().sessionmaker()
    session: Session = g._vault_db
    return session


def close_db(exc: BaseException | None = None) -> None:
    """Close the application context's session, if one was opened."""
    session: Session | None = g.pop("_vault_db", None)
    if session is not None:
        session.close()


def init_db() -> None:
    """Create the missing tables and record :data:`SCHEMA_VERSION`. Safe to run again."""
    Base.metadata.create_all(database().engine)
    session = get_db()
    session.merge(AppMeta(key="schema_version", value=SCHEMA_VERSION))
    session.commit()


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database tables."""
    init_db()
    url = database().engine.url.render_as_string(hide_password=True)
    click.echo(f"Initialised the database (schema version {SCHEMA_VERSION}) at {url}")
