"""The database layer and the ``init-db`` command, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import inspect, select

from vault.db import SCHEMA_VERSION, AppMeta, database, database_url, get_db


def _schema_version(app: Flask) -> str | None:
    with app.app_context():
        return get_db().scalar(select(AppMeta.value).where(AppMeta.key == "schema_version"))


def test_init_db_creates_tables(app: Flask, runner: FlaskCliRunner) -> None:
    """init-db creates the tables and records the schema version."""
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Initialised the database" in result.output
    with app.app_context():
        assert sorted(inspect(database().engine).get_table_names()) == [
            "app_meta",
            "attachments",
            "note_shares",
            "notes",
            "users",
        ]
    assert _schema_version(app) == SCHEMA_VERSION


def test_init_db_upgrades_schema_4(app: Flask, runner: FlaskCliRunner) -> None:
    """init-db on a schema 4 database (no attachments table) adds the table and records
    schema 5, keeping the notes."""
    from vault.db import AppMeta, Base, get_db

    with app.app_context():
        old = [table for name, table in Base.metadata.tables.items() if name != "attachments"]
        Base.metadata.create_all(database().engine, tables=old)
        get_db().merge(AppMeta(key="schema_version", value="4"))
        get_db().commit()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    with app.app_context():
        assert "attachments" in inspect(database().engine).get_table_names()
    assert _schema_version(app) == SCHEMA_VERSION == "5"


def test_init_db_is_idempotent(app: Flask, runner: FlaskCliRunner) -> None:
    """Running init-db twice keeps one schema_version row."""
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert runner.invoke(args=["init-db"]).exit_code == 0
    with app.app_context():
        assert get_db().scalars(select(AppMeta.key)).all() == ["schema_version"]


def test_session_closed_with_app_context(app: Flask) -> None:
    """The session is per application context and closed at its end."""
    with app.app_context():
        session = get_db()
        assert get_db() is session
        session.execute(select(1))
        assert session.in_transaction()
    assert not session.in_transaction()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://u@h/d", "postgresql+psycopg"),
        ("postgresql://u@h/d", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg"),
        ("sqlite:///x.sqlite3", "sqlite"),
    ],
    ids=["postgres", "postgresql", "explicit-driver", "sqlite"],
)
def test_database_url_driver(url: str, driver: str) -> None:
    """Bare PostgreSQL URLs use psycopg 3; others are kept."""
    assert database_url(url).drivername == driver


@pytest.mark.services
def test_init_db_postgresql(make_app: Callable[..., Flask], postgres_url: str) -> None:
    """init-db creates the tables in PostgreSQL, in the test's private schema."""
    app = make_app(DATABASE_URL=postgres_url)
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    with app.app_context():
        assert sorted(inspect(database().engine).get_table_names()) == [
            "app_meta",
            "attachments",
            "note_shares",
            "notes",
            "users",
        ]
    assert _schema_version(app) == SCHEMA_VERSION
