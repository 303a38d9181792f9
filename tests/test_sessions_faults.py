"""Sessions when the store fails, and several processes sharing one store."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
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
    return wait_for_output(process, b"Ready to accept connections", timeout)


def wait_for_output(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bool:
    """Read ``process``'s unbuffered output until ``marker`` appears; ``False`` when the
    process exits or stays silent for ``timeout`` seconds first."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while marker not in output:
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
    assert response.headers["Retry-After"] == "5"
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
        BASTION_SESSIONS_URL="postgresql+psycopg://postgres@127.0.0.1:1/none",
    )
    client = app.test_client()
    client.set_cookie(COOKIE, secrets.token_urlsafe(32), domain="localhost")
    response = client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.get_json()["title"] == "Service Unavailable"
    assert response.headers["Retry-After"] == "5"


def test_database_outage_on_write_gives_503() -> None:
    """When the SQL store fails while saving, the response becomes a 503 with
    Retry-After and without a cookie."""
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL="postgresql+psycopg://postgres@127.0.0.1:1/none",
    )
    response = app.test_client().post("/write/a/1", base_url=HTTPS)
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers
    assert response.headers["Retry-After"] == "5"


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


# -- a database that does not answer ------------------------------------------------------------

#: Seconds a request may take against a database that does not answer before the test
#: fails: the timeouts under test are 1 to 2 seconds, so this leaves room for a busy host.
BOUND = 15.0


def _close_listener(listener: socket.socket) -> None:
    """Close a listening socket, waking the thread blocked in its ``accept``."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # close() alone leaves accept() blocked
    listener.close()


class Silent:
    """A TCP server on a free loopback port that accepts connections and never answers
    (a database host that is up but whose server is hung)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:  # closed by close()
                return

    def close(self) -> None:
        _close_listener(self.listener)
        for connection in self.accepted:
            connection.close()  # lets a client that still waits see the end
        self.thread.join(BOUND)


class StallingProxy:
    """A loopback TCP proxy to ``target`` that can stop forwarding at any moment while
    keeping every connection open (a server that stops answering mid-session: paused,
    its disk hung, a network fault that does not reset the connection)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=BOUND)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(source, selectors.EVENT_READ)
            while not self.closed.is_set():
                if not selector.select(timeout=0.2):  # wakes to notice close()
                    continue
                self.flowing.wait()
                try:
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        _close_listener(self.listener)
        for sock in self.sockets:
            sock.close()
        for thread in self.threads:
            thread.join(BOUND)


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


@pytest.fixture
def stalling_pg(pg_url: str) -> Iterator[tuple[str, StallingProxy]]:
    """The test's PostgreSQL URL rewritten to go through a :class:`StallingProxy`."""
    import sqlalchemy as sa

    url = sa.make_url(pg_url)
    proxy = StallingProxy((url.host or "127.0.0.1", url.port or 5432))
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


def timed(call: t.Callable[[], t.Any]) -> tuple[t.Any, float]:
    """Run ``call`` in a thread; its result and duration, or fail after :data:`BOUND`."""
    result: dict[str, t.Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            result["value"] = call()
        except BaseException as exc:
            result["value"] = exc
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    if thread.is_alive():
        pytest.fail(f"still waiting for the database after {BOUND} s")
    return result["value"], result["elapsed"]


def assert_prompt_503(response: t.Any) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
    assert "Set-Cookie" not in response.headers


def with_cookie(app: t.Any, value: str | None = None) -> t.Any:
    client = app.test_client()
    client.set_cookie(COOKIE, value or secrets.token_urlsafe(32), domain="localhost")
    return client


def test_silent_database_gives_prompt_503(silent: Silent) -> None:
    """A database host that accepts the connection but never answers the handshake costs
    a request BASTION_STORES_CONNECT_TIMEOUT seconds and a 503 with Retry-After, not a
    hang until the server's worker timeout."""
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/none",
        BASTION_STORES_CONNECT_TIMEOUT=2,
    )
    client = with_cookie(app)
    response, _ = timed(
        lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    )
    assert_prompt_503(response)
    assert silent.accepted  # the store did reach the silent server


def test_silent_database_spares_requests_without_session(silent: Silent) -> None:
    """A visitor without a session cookie never waits for the silent database: the
    request makes no store call at all."""
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/none",
    )
    response, elapsed = timed(lambda: app.test_client().get("/read", base_url=HTTPS))
    assert response.status_code == 200
    assert silent.accepted == []
    assert elapsed < 2  # well under the connect timeout: nothing waited for the database


def test_database_that_stops_answering_gives_prompt_503(
    stalling_pg: tuple[str, StallingProxy],
) -> None:
    """PostgreSQL that stops answering on a pooled connection (no error, no reset) costs
    a request BASTION_STORES_STATEMENT_TIMEOUT seconds plus one, and a 503 with
    Retry-After; once it answers again, sessions work as before."""
    url, proxy = stalling_pg
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=url,
        BASTION_STORES_STATEMENT_TIMEOUT=1,
        BASTION_STORES_CONNECT_TIMEOUT=2,
    )
    client = login(app)
    assert client.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}
    proxy.flowing.clear()
    response, _ = timed(
        lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    )
    assert_prompt_503(response)
    proxy.flowing.set()
    assert client.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}


def test_application_engine_is_cut_off_too(stalling_pg: tuple[str, StallingProxy]) -> None:
    """The client-side deadline also bounds an engine the application passes in."""
    import sqlalchemy as sa

    from flask_bastion.sessions import SessionRecord, StoreError
    from flask_bastion.sessions.sql_store import SQLStore

    url, proxy = stalling_pg
    store = SQLStore(sa.create_engine(url), statement_timeout=1)
    try:
        record = SessionRecord(
            key="k" * 64, data={}, user_id="u", created_at=1.0, last_seen=1.0, expires_at=9e9
        )
        store.create(record)
        proxy.flowing.clear()
        outcome, _ = timed(lambda: store.get("k" * 64))
        assert isinstance(outcome, StoreError)
    finally:
        proxy.flowing.set()
        store.close()


def test_slow_statement_gives_503(pg_url: str) -> None:
    """A statement that outlasts BASTION_STORES_STATEMENT_TIMEOUT (here: waiting for a
    table another transaction has locked) is cancelled by PostgreSQL: a 503 with
    Retry-After, and the next request works once the lock is gone."""
    import sqlalchemy as sa

    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=pg_url,
        BASTION_STORES_STATEMENT_TIMEOUT=1,
    )
    client = login(app)
    locker = sa.create_engine(pg_url)
    try:
        with locker.connect() as connection:
            connection.execute(sa.text("LOCK TABLE bastion_sessions IN ACCESS EXCLUSIVE MODE"))
            response, _ = timed(
                lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
            )
            connection.rollback()
        assert_prompt_503(response)
        assert client.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}
    finally:
        locker.dispose()


def test_locked_sqlite_gives_503_after_statement_timeout(tmp_path: t.Any) -> None:
    """SQLite waits BASTION_STORES_STATEMENT_TIMEOUT seconds for a lock held by another
    connection (not sqlite3's default of five), then the request gets a 503."""
    import sqlite3

    path = tmp_path / "s.db"
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=f"sqlite:///{path}",
        BASTION_STORES_STATEMENT_TIMEOUT=1,
    )
    client = login(app)
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        response, elapsed = timed(
            lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
        )
    finally:
        locker.close()
    assert_prompt_503(response)
    assert elapsed < 4  # sqlite3 would have waited 5 seconds by default


def test_postgresql_connections_carry_the_timeouts(pg_url: str) -> None:
    """The store's PostgreSQL sessions run with the configured statement_timeout, and
    options already in the URL (here a search_path) are kept."""
    import sqlalchemy as sa

    from flask_bastion.sessions.sql_store import SQLStore

    store = SQLStore(pg_url, statement_timeout=3)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(sa.text("SHOW statement_timeout")).scalar() == "3s"
            schema = sa.make_url(pg_url).query["options"].removeprefix("-csearch_path=")
            assert connection.execute(sa.text("SHOW search_path")).scalar() == schema
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///s.db", {"timeout": 4.0}),
        ("sqlite:///s.db?timeout=9", {}),
        (
            "postgresql+psycopg://h/db",
            {"connect_timeout": 3, "options": "-c statement_timeout=4000"},
        ),
        (
            "postgresql+psycopg2://h/db?connect_timeout=7&options=-c%20work_mem%3D8MB",
            {"options": "-c statement_timeout=4000 -c work_mem=8MB"},
        ),
        ("postgresql+pg8000://h/db", {}),
        ("mysql+pymysql://h/db", {}),
    ],
    ids=["sqlite", "sqlite-url-wins", "psycopg", "url-wins-options-kept", "pg8000", "mysql"],
)
def test_timeout_connection_arguments(url: str, expected: dict[str, t.Any]) -> None:
    """Timeouts become the driver's connection arguments; the URL's own values win."""
    import sqlalchemy as sa

    from flask_bastion.stores.sql import _timeouts

    assert _timeouts(sa.make_url(url), connect_timeout=3, statement_timeout=4) == expected


@pytest.mark.parametrize(
    "key", ["BASTION_STORES_CONNECT_TIMEOUT", "BASTION_STORES_STATEMENT_TIMEOUT"]
)
@pytest.mark.parametrize("value", [0, -1, "soon"], ids=["zero", "negative", "text"])
def test_timeouts_must_be_positive(key: str, value: object) -> None:
    """A store timeout of zero (no limit), below zero or not a number is refused."""
    from flask_bastion import ConfigurationError

    from .conftest import make_app

    with pytest.raises(ConfigurationError, match=key):
        make_app(**{key: value})


def test_failed_purge_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    """A purge of expired sessions that fails (a statement timeout on a large backlog) is
    logged and retried later; the login that triggered it still succeeds."""
    from flask_bastion.sessions import StoreError

    from .test_sessions import interface

    app = session_app()
    store = interface(app).store

    def purge(now: float) -> int:
        raise StoreError("session store: OperationalError")

    store.purge = purge  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="flask_bastion.security"):
        client = login(app)
    assert cookie_of(client) is not None
    assert client.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}
    assert any(getattr(r, "event", "") == "session.purge_failed" for r in caplog.records)


def test_watchdog_cuts_a_shorter_deadline_registered_later() -> None:
    """A statement with a short deadline is cut on time even while the watchdog already
    sleeps until a longer one (two stores with different timeouts in one process)."""
    from flask_bastion.stores.sql import _Watchdog

    class Observed(threading.Condition):
        """Tells the test when the watcher goes to sleep for longer than the test lasts."""

        def __init__(self) -> None:
            super().__init__()
            self.sleeping_long = threading.Event()

        def wait(self, timeout: float | None = None) -> bool:
            if timeout is not None and timeout > BOUND:
                self.sleeping_long.set()
            return super().wait(timeout)

    watchdog = _Watchdog()
    watchdog._cond = observed = Observed()
    long_pair, short_pair = socket.socketpair(), socket.socketpair()
    try:
        with watchdog.limit(long_pair[0].fileno(), 60) as patient:
            assert observed.sleeping_long.wait(BOUND)
            with watchdog.limit(short_pair[0].fileno(), 0.5) as hasty:
                short_pair[0].settimeout(BOUND)
                assert short_pair[0].recv(1) == b""  # shut down after ~0.5 s, not 60
            assert (hasty.cut, patient.cut) == (True, False)
    finally:
        for sock in (*long_pair, *short_pair):
            sock.close()
