"""Pallets-style fixtures for Vault: ``app``, ``client``, ``runner`` and ``make_app``."""

from __future__ import annotations

import contextlib
import os
import secrets
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from flask_bastion import get_state
from flask_bastion.crypto import new_key
from vault import create_app
from vault.db import database, database_url, init_db


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on a private SQLite database; ``config`` overrides the test defaults."""
    apps: list[Flask] = []

    def make(**config: t.Any) -> Flask:
        defaults = {
            "TESTING": True,
            "SECRET_KEY": secrets.token_hex(32),
            "BASTION_CRYPTO_KEYS": [new_key()],
            "DATABASE_URL": f"sqlite:///{tmp_path / f'vault{len(apps)}.sqlite3'}",
            # Never the instance folder of the source tree: files left there by one run
            # would be found (under keys long gone) by the next one's rotate-keys.
            "BASTION_UPLOADS_FOLDER": str(tmp_path / "uploads"),
            "BASTION_MAIL_OUTBOX": str(tmp_path / "outbox"),
        }
        app = create_app({**defaults, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            database().engine.dispose()
        get_state(app).stores.close()  # Flask-Bastion's own connections (the ban store)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@contextlib.contextmanager
def private_schema() -> Iterator[str]:
    """``DATABASE_URL`` with ``search_path`` set to a private schema, dropped afterwards.

    Skips when ``DATABASE_URL`` is unset, unless ``BASTION_REQUIRE_SERVICES=1``.
    """
    url = os.environ.get("DATABASE_URL")
    if not url:
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("DATABASE_URL is not set and BASTION_REQUIRE_SERVICES=1")
        pytest.skip("PostgreSQL test: set DATABASE_URL to run it")
    base = database_url(url)
    if base.get_backend_name() != "postgresql":
        pytest.fail(f"DATABASE_URL must point to PostgreSQL, got {base.get_backend_name()}")
    schema = f"vault_test_{secrets.token_hex(6)}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(CreateSchema(schema))
        try:
            private = base.update_query_dict({"options": f"-csearch_path={schema}"})
            yield private.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(DropSchema(schema, cascade=True))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL schema for one test (see :func:`private_schema`)."""
    with private_schema() as url:
        yield url


@pytest.fixture
def vault(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """A Vault with its tables, mail in an outbox under ``tmp_path``, sessions in memory."""
    app = make_app(
        TRUSTED_HOSTS=["localhost"],
        BASTION_MAIL_OUTBOX=str(tmp_path / "outbox"),
        BASTION_SESSIONS_STORE="memory",
    )
    with app.app_context():
        init_db()
    return app
