"""Sessions when the store fails, and several processes sharing one store."""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import textwrap
import typing as t
from collections.abc import Iterator

import pytest

from .conftest import HTTPS, SECRET
from .test_sessions import COOKIE, cookie_of, login, session_app

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own on a free loopback port (never the shared one)."""
    if REDIS_SERVER is None:
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed", pytrace=False)
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = _wait_until_ready(process)
        if not ready:
            pytest.fail("private redis-server did not start", pytrace=False)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def _wait_until_ready(process: subprocess.Popen[bytes], timeout: float = 10) -> bool:
    """Read the server's unbuffered output until it says it accepts connections."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while b"Ready to accept connections" not in output:
            if not selector.select(timeout=timeout):  # blocks on output, bounded
                return False
            chunk = os.read(descriptor, 65536)
            if not chunk:  # the server exited
                return False
            output += chunk
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


def test_redis_outage_gives_503_never_anonymous(
    private_redis: tuple[str, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis stopped mid-test, a returning visitor gets a clean 503 and a log line."""
    url, process = private_redis
    app = session_app(BASTION_SESSIONS_STORE="redis", BASTION_SESSIONS_URL=url)
    client = login(app)
    assert client.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}
    _stop(process)
    with caplog.at_level("ERROR", logger="flask_bastion.security"):
        response = client.get("/read", base_url=HTTPS, headers={"Accept": "text/html"})
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "503 Service Unavailable" in body
    assert "Traceback" not in body and "redis" not in body.lower()
    assert "Set-Cookie" not in response.headers
    assert any(getattr(r, "event", "") == "session.store_unavailable" for r in caplog.records)


def test_redis_outage_spares_requests_without_session(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """A visitor without a session cookie is served while the store is down."""
    url, process = private_redis
    app = session_app(BASTION_SESSIONS_STORE="redis", BASTION_SESSIONS_URL=url)
    _stop(process)
    assert app.test_client().get("/read", base_url=HTTPS).status_code == 200


def test_redis_outage_on_write_gives_503(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """When the store fails while saving, the response becomes a 503 without a cookie."""
    url, process = private_redis
    app = session_app(BASTION_SESSIONS_STORE="redis", BASTION_SESSIONS_URL=url)
    _stop(process)
    response = app.test_client().post(
        "/write/a/1", base_url=HTTPS, headers={"Accept": "application/json"}
    )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 503
    assert "Set-Cookie" not in response.headers
    assert response.headers["Retry-After"] == "5"


def test_database_outage_gives_503() -> None:
    """An unreachable PostgreSQL session store gives a 503, not a 500."""
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
    )
    client = app.test_client()
    client.set_cookie(COOKIE, secrets.token_urlsafe(32), domain="localhost")
    response = client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.get_json()["title"] == "Service Unavailable"


READER = textwrap.dedent(
    """
    import json, sys
    from flask import Flask, session
    from flask_bastion import Bastion

    app = Flask("second-process")
    app.config.update(json.loads(sys.argv[1]))

    @app.get("/read")
    def read():
        return {"data": dict(session), "pid": __import__("os").getpid()}

    Bastion(app)
    client = app.test_client()
    client.set_cookie("__Host-session", sys.argv[2], domain="localhost")
    print(client.get("/read", base_url="https://localhost").get_data(as_text=True))
    app.session_interface.store.close()
    """
)


def test_two_processes_share_one_store(shared_store_config: dict[str, t.Any]) -> None:
    """A session written by this process is read by another process using the same store."""
    store_config = shared_store_config
    app = session_app(**store_config)
    client = login(app, user="shared")
    config = {"SECRET_KEY": SECRET, "TRUSTED_HOSTS": ["localhost"], **store_config}
    result = subprocess.run(
        [sys.executable, "-c", READER, json.dumps(config), cookie_of(client) or ""],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["data"] == {"_user_id": "shared"}
    assert answer["pid"] != os.getpid()


def test_sql_store_survives_a_dropped_connection(pg_url: str) -> None:
    """A pooled connection the server dropped (restart, failover) costs no 503: the pool is
    discarded and the read retried once on a fresh connection, without a ping per request."""
    import sqlalchemy as sa

    from flask_bastion.sessions import SessionRecord
    from flask_bastion.sessions.sql_store import SQLStore

    store = SQLStore(pg_url)
    killer = sa.create_engine(pg_url)
    try:
        record = SessionRecord(
            key="k" * 64, data={}, user_id="u", created_at=1.0, last_seen=1.0, expires_at=9e9
        )
        store.create(record)
        with store.engine.connect() as connection:  # the pool's only connection
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with killer.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        found = store.get("k" * 64)
        assert found is not None and found.user_id == "u"
    finally:
        store.close()
        killer.dispose()
