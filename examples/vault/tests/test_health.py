"""``GET /healthz``: 200 when the database answers, a JSON 503 (never a 500) when not."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

#: A PostgreSQL URL where nothing listens: port 1 refuses at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"


def test_healthz_ok(client: FlaskClient) -> None:
    """The health check reports the database as ok."""
    response = client.get("/healthz", base_url="https://localhost")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_database_unreachable(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable database gives 503 JSON and a logged warning."""
    client = make_app(DATABASE_URL=UNREACHABLE).test_client()
    with caplog.at_level(logging.WARNING):
        response = client.get("/healthz", base_url="https://localhost")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["Cache-Control"] == "no-store"
    assert [r.levelname for r in caplog.records if "database unreachable" in r.message] == [
        "WARNING"
    ]


@pytest.mark.services
def test_healthz_postgresql(make_app: Callable[..., Flask], postgres_url: str) -> None:
    """The health check answers ok on PostgreSQL."""
    client = make_app(DATABASE_URL=postgres_url).test_client()
    response = client.get("/healthz", base_url="https://localhost")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
