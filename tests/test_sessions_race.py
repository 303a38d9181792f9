"""Revocation is final: a request already running for a session cannot bring it back.

An attacker with a stolen cookie keeps a request open (a slow body, a slow view) while the
owner revokes the session, logs out or rotates it. When that request ends, the session
interface saves the session it read at the start. These tests hold such a request at a
known point, perform the owner's action, release it, and check that the stolen cookie
selects nothing: on every store, at the store level, through the Flask app, across two
processes, and over real HTTP under gunicorn.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import typing as t
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from flask import Flask, session

from flask_bastion.sessions import (
    SessionRecord,
    SessionStore,
    hash_id,
    revoke_all_sessions,
    rotate_session,
)
from flask_bastion.sessions.redis_store import RedisStore

from .conftest import HTTPS, SECRET
from .servers import gunicorn as start_gunicorn
from .test_sessions import COOKIE, T0, Clock, cookie_of, interface, login, session_app

#: Seconds any wait in these tests may last before the test fails instead of hanging.
WAIT = 30.0


class Gate:
    """Where a held view stops: it sets ``entered`` and waits for ``release``."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def hold(self) -> None:
        self.entered.set()
        if not self.release.wait(WAIT):
            raise RuntimeError("the test never released the held request")


def race_app(gate: Gate, **config: t.Any) -> Flask:
    """``session_app`` plus a view that holds, then writes, reads or rotates the session,
    and a view that revokes every session of the current user."""
    app = session_app(**config)

    @app.post("/held/<action>")
    def held(action: str) -> str:
        gate.hold()
        if action == "write":
            session["seen"] = "yes"
        elif action == "rotate":  # e.g. switching organisation: a privilege change
            rotate_session()
            session["role"] = "admin"
        return "done"

    @app.post("/revoke-all")
    def revoke_all() -> dict[str, int]:
        return {"revoked": revoke_all_sessions(session["_user_id"])}

    return app


@contextmanager
def held_request(client: t.Any, gate: Gate, action: str) -> Iterator[dict[str, t.Any]]:
    """Run ``POST /held/<action>`` in a thread, yield once the view holds (the session
    is read by then), release it on exit and put its response in the yielded dict."""
    result: dict[str, t.Any] = {}

    def run() -> None:
        result["response"] = client.post(f"/held/{action}", base_url=HTTPS)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert gate.entered.wait(WAIT), "the held request never reached its view"
        yield result
    finally:
        gate.release.set()
        thread.join(WAIT)
    assert not thread.is_alive(), "the held request did not finish"


def thief_of(app: Flask, cookie: str) -> t.Any:
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie, domain="localhost")
    return thief


def read(client: t.Any) -> dict[str, t.Any]:
    response = client.get("/read", base_url=HTTPS)
    assert response.status_code == 200
    return t.cast(dict[str, t.Any], response.get_json()["data"])


def cleared(response: t.Any) -> bool:
    """Whether ``response`` expires the session cookie (and sets no live one)."""
    values = response.headers.getlist("Set-Cookie")
    return bool(values) and all(v.startswith(f"{COOKIE}=;") for v in values)


def index_members(store: SessionStore, user: str) -> set[str]:
    """The Redis store's index set of ``user``, read raw (no pruning); empty elsewhere."""
    if not isinstance(store, RedisStore):
        return set()
    return {m.decode() for m in store.client.smembers(store._user_key(user))}


# -- store level -------------------------------------------------------------------------------


def new_record(
    key: str = "a" * 64, user: str = "alice", raw: str = '{"_user_id":"alice"}'
) -> SessionRecord:
    return SessionRecord(
        key=key,
        data={},
        user_id=user,
        created_at=T0,
        last_seen=T0,
        expires_at=T0 + 1800,
        raw=raw,
    )


@pytest.fixture
def store(store_config: dict[str, t.Any]) -> SessionStore:
    return interface(session_app(**store_config)).store


def write_back(store: SessionStore, method: str, record: SessionRecord) -> bool:
    """What the interface does at the end of a request that read ``record``."""
    later = replace(record, last_seen=T0 + 120, expires_at=T0 + 1920, ip="203.0.113.9")
    if method == "update":
        later.raw = '{"_user_id":"alice","seen":"yes"}'
    return t.cast(bool, getattr(store, method)(later))


@pytest.mark.parametrize("method", ["update", "touch"])
def test_write_after_delete_recreates_nothing(store: SessionStore, method: str) -> None:
    """update/touch of a deleted record write nothing, not even into the user's index."""
    store.create(new_record())
    record = store.get("a" * 64)
    assert record is not None
    deleted = store.delete(record.key)
    assert store.for_user("alice") == []  # prunes the Redis index of the vanished key
    written = write_back(store, method, record)
    assert store.get(record.key) is None
    assert store.for_user("alice") == []
    assert record.key not in index_members(store, "alice")
    assert (deleted, written) == (1, False)


@pytest.mark.parametrize("method", ["update", "touch"])
def test_write_to_live_record_reports_it(store: SessionStore, method: str) -> None:
    """update/touch of a live record write it and say so."""
    store.create(new_record())
    record = store.get("a" * 64)
    assert record is not None
    assert write_back(store, method, record) is True
    stored = store.get(record.key)
    assert stored is not None and stored.last_seen == T0 + 120 and stored.ip == "203.0.113.9"


@pytest.mark.parametrize("method", ["update", "touch"])
def test_concurrent_writers_cannot_outlive_a_delete(store: SessionStore, method: str) -> None:
    """Eight threads that read the session before it was deleted and write it back
    during and after the delete leave it deleted."""
    store.create(new_record())
    writers = 8
    barrier = threading.Barrier(writers + 1, timeout=WAIT)
    deleted = threading.Event()
    results: list[bool] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            record = store.get("a" * 64)  # the request's read, before the delete
            assert record is not None
            barrier.wait()
            while not deleted.is_set():  # writes racing the delete
                write_back(store, method, record)
            results.append(write_back(store, method, record))  # one surely after it
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    count = store.delete("a" * 64)
    deleted.set()
    for thread in threads:
        thread.join(WAIT)
    assert errors == []
    assert store.get("a" * 64) is None
    assert store.for_user("alice") == []
    assert "a" * 64 not in index_members(store, "alice")
    assert (count, results) == (1, [False] * writers)


def test_touch_keeps_a_newer_write(store: SessionStore) -> None:
    """A request that only read the session does not undo a change another request made
    meanwhile (a privilege dropped without rotating the session)."""
    store.create(new_record(raw='{"_user_id":"alice","role":"admin"}'))
    reader = store.get("a" * 64)
    writer = store.get("a" * 64)
    assert reader is not None and writer is not None
    writer.raw = '{"_user_id":"alice"}'
    updated = store.update(writer)
    touched = write_back(store, "touch", reader)
    stored = store.get("a" * 64)
    assert stored is not None and stored.raw == '{"_user_id":"alice"}'
    assert (updated, touched) == (True, True)


# -- through the Flask app ----------------------------------------------------------------------

OPERATIONS = ["revoke_all", "logout", "rotate"]
ACTIONS = ["write", "read", "rotate"]


def owner_acts(app: Flask, operation: str, victim: t.Any, other_device: t.Any) -> None:
    """The owner revokes every session (from another device), logs out, or rotates."""
    if operation == "revoke_all":
        response = other_device.post("/revoke-all", base_url=HTTPS)
        assert response.get_json() == {"revoked": 2}
    elif operation == "logout":
        assert victim.post("/logout", base_url=HTTPS).status_code == 200
    else:
        before = cookie_of(victim)
        assert victim.post("/login/alice", base_url=HTTPS).status_code == 200
        assert cookie_of(victim) not in (None, before)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_held_request_cannot_undo_the_owner(
    store_config: dict[str, t.Any], operation: str, action: str
) -> None:
    """A stolen cookie's request held open while the owner revokes all sessions, logs out
    or rotates the session gets no session when it ends, and neither does the cookie."""
    gate = Gate()
    app = race_app(gate, **store_config)
    clock = interface(app).clock = Clock()
    victim = login(app)
    other_device = login(app)
    stolen = cookie_of(victim)
    assert stolen is not None
    clock.now += 120  # past the touch interval: a read-only request writes last-seen
    thief = thief_of(app, stolen)
    with held_request(thief, gate, action) as held:
        owner_acts(app, operation, victim, other_device)
    assert read(thief) == {}  # whatever cookie the held request left the thief
    assert read(thief_of(app, stolen)) == {}
    response = held["response"]
    assert response.status_code == 200
    assert cleared(response)  # the dead cookie is expired, no new one is issued
    store = interface(app).store
    assert store.get(hash_id(stolen)) is None
    alive = {r.key for r in store.for_user("alice")}
    expected = {"revoke_all": set(), "logout": {hash_id(cookie_of(other_device) or "")}}
    if operation == "rotate":
        expected["rotate"] = {
            hash_id(cookie_of(victim) or ""),
            hash_id(cookie_of(other_device) or ""),
        }
        assert read(victim) == {"_user_id": "alice"}  # the owner's new ID works
    assert alive == expected[operation]
    assert hash_id(stolen) not in index_members(store, "alice")


class PausingStore:
    """A store whose next deletion from the test's thread first runs ``before``."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.before: Callable[[], None] | None = None
        self.thread = threading.get_ident()

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self.inner, name)

    def _pause(self) -> None:
        if self.before is not None and threading.get_ident() == self.thread:
            before, self.before = self.before, None
            before()

    def delete(self, *keys: str) -> int:
        self._pause()
        return self.inner.delete(*keys)

    def delete_user(self, user_id: str, **options: t.Any) -> int:
        self._pause()
        return t.cast(int, self.inner.delete_user(user_id, **options))


def test_rotation_between_listing_and_deleting_is_revoked(store_config: dict[str, t.Any]) -> None:
    """A rotation that runs entirely just before the revocation's deletion moves the
    session to a new ID; the revocation deletes by user in one atomic step, so it takes
    that ID too."""
    gate = Gate()
    gate.release.set()  # the rotation runs straight through
    app = race_app(gate, **store_config)
    stolen = cookie_of(login(app))
    assert stolen is not None
    thief = thief_of(app, stolen)
    store = PausingStore(interface(app).store)
    interface(app).store = store  # type: ignore[assignment]
    rotated: dict[str, t.Any] = {}

    def rotate_now() -> None:  # in another thread, as another request would
        def run() -> None:
            rotated["response"] = thief.post("/held/rotate", base_url=HTTPS)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(WAIT)

    store.before = rotate_now
    with app.test_request_context(base_url=HTTPS):
        revoked = revoke_all_sessions("alice")
    assert rotated["response"].status_code == 200
    new_id = cookie_of(thief)
    assert new_id not in (None, stolen)  # the rotation did happen, before the deletion
    assert read(thief) == {}
    assert store.inner.for_user("alice") == []
    assert revoked == 1  # the ID the stolen one was rotated to


def test_held_request_cannot_refill_the_redis_cache(redis_prefix: tuple[str, str]) -> None:
    """With the Redis store's local cache on, a session revoked through another
    process's connection while a request of this process holds it is not served again,
    from Redis or from the cache."""
    url, prefix = redis_prefix
    config = {
        "BASTION_SESSIONS_STORE": "redis",
        "BASTION_SESSIONS_URL": url,
        "BASTION_SESSIONS_KEY_PREFIX": prefix,
        "BASTION_SESSIONS_REDIS_CACHE": 60,
    }
    gate = Gate()
    app, elsewhere = race_app(gate, **config), session_app(**config)
    victim = login(app)
    stolen = cookie_of(victim) or ""
    assert read(victim) == {"_user_id": "alice"}  # cached in this process now
    store = interface(app).store
    assert isinstance(store, RedisStore) and store.tracker is not None
    assert store.tracker.lookup(store._key(hash_id(stolen))) is not None
    with (
        held_request(thief_of(app, stolen), gate, "write"),
        elsewhere.test_request_context(base_url=HTTPS),
    ):
        assert revoke_all_sessions("alice") == 1
    assert read(thief_of(app, stolen)) == {}
    assert read(thief_of(app, stolen)) == {}  # and not cached since
    assert store.client.exists(store._key(hash_id(stolen))) == 0


# -- two processes -----------------------------------------------------------------------------

OTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    from flask import Flask, session
    from flask_bastion import Bastion
    from flask_bastion.sessions import revoke_all_sessions

    app = Flask("other-process")
    app.config.update(json.loads(sys.argv[1]))

    @app.get("/read")
    def read():
        return {"data": dict(session)}

    Bastion(app)
    if sys.argv[2] == "revoke":
        with app.test_request_context():
            print(json.dumps({"revoked": revoke_all_sessions("alice")}))
    else:
        client = app.test_client()
        client.set_cookie("__Host-session", sys.argv[3], domain="localhost")
        print(client.get("/read", base_url="https://localhost").get_data(as_text=True))
    app.session_interface.store.close()
    """
)


def other_process(config: dict[str, t.Any], *args: str) -> dict[str, t.Any]:
    full = {"SECRET_KEY": SECRET, "TRUSTED_HOSTS": ["localhost"], **config}
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, json.dumps(full), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return t.cast(dict[str, t.Any], json.loads(result.stdout))


def test_revocation_by_another_process_is_final(shared_store_config: dict[str, t.Any]) -> None:
    """A session revoked by another process while a request of this one holds it stays
    revoked for both processes once that request ends."""
    gate = Gate()
    app = race_app(gate, **shared_store_config)
    stolen = cookie_of(login(app)) or ""
    assert read(thief_of(app, stolen)) == {"_user_id": "alice"}  # warms any cache
    with held_request(thief_of(app, stolen), gate, "write") as held:
        assert other_process(shared_store_config, "revoke") == {"revoked": 1}
    assert read(thief_of(app, stolen)) == {}
    assert other_process(shared_store_config, "read", stolen) == {"data": {}}
    assert cleared(held["response"])


# -- real HTTP under gunicorn -------------------------------------------------------------------

GUNICORN_APP = textwrap.dedent(
    """
    import json, os, socket
    from flask import Flask, request, session
    from flask_bastion import Bastion
    from flask_bastion.sessions import end_session, revoke_all_sessions, rotate_session

    app = Flask("race")
    app.config.update(json.loads(os.environ["RACE_CONFIG"]))
    SIGNAL = ("127.0.0.1", int(os.environ["RACE_SIGNAL_PORT"]))

    @app.post("/login/<user>")
    def login(user):
        rotate_session()
        session["_user_id"] = user
        return "ok"

    @app.get("/read")
    def read():
        return {"data": dict(session), "pid": os.getpid()}

    @app.post("/held")
    def held():
        # The session was read before this view ran: say so, then read the body, which
        # the client sends only after the owner's action.
        socket.create_connection(SIGNAL, timeout=5).close()
        session["seen"] = request.get_data(as_text=True)
        return "held"

    @app.post("/revoke-all")
    def revoke_all():
        return {"revoked": revoke_all_sessions(session["_user_id"])}

    @app.post("/logout")
    def logout():
        end_session()
        return "bye"

    Bastion(app)
    """
)


class Server(t.NamedTuple):
    port: int
    signal: socket.socket


def _listener() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(WAIT)
    return listener


@pytest.fixture
def gunicorn(tmp_path: t.Any, shared_store_config: dict[str, t.Any]) -> Iterator[Server]:
    """Two sync gunicorn workers (gunicorn's defaults but the count) on a free loopback
    port, serving the race app on each store that workers can share."""
    store_config = shared_store_config
    (tmp_path / "raceapp.py").write_text(GUNICORN_APP)
    signal = _listener()
    config = {
        "SECRET_KEY": SECRET,
        "TRUSTED_HOSTS": ["localhost"],
        "BASTION_HTTPS_REDIRECT": False,  # plain HTTP on loopback
        **store_config,
    }
    env = {
        **os.environ,
        "RACE_CONFIG": json.dumps(config),
        "RACE_SIGNAL_PORT": str(signal.getsockname()[1]),
    }
    try:
        with start_gunicorn("raceapp:app", workers=2, chdir=tmp_path, env=env) as running:
            yield Server(running.port, signal)
    finally:
        signal.close()


def send(
    server: Server, method: str, path: str, cookie: str | None = None
) -> tuple[int, t.Any, str | None]:
    """One request; its status, JSON body (or text) and the session cookie it set."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    headers = {"Host": "localhost", "Sec-Fetch-Site": "same-origin"}
    if cookie:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read().decode()
        set_cookie = response.getheader("Set-Cookie") or ""
    finally:
        connection.close()
    value = None
    if set_cookie.startswith(f"{COOKIE}="):
        value = set_cookie.split(";", 1)[0].split("=", 1)[1]
    try:
        return response.status, json.loads(body), value
    except ValueError:
        return response.status, body, value


@pytest.mark.parametrize("operation", OPERATIONS)
def test_slow_body_cannot_undo_the_owner_over_http(gunicorn: Server, operation: str) -> None:
    """Over real HTTP: a stolen cookie's request whose body trickles in while the owner
    revokes, logs out or rotates leaves the stolen cookie dead."""
    status, _, stolen = send(gunicorn, "POST", "/login/alice")
    assert status == 200 and stolen
    status, _, other_device = send(gunicorn, "POST", "/login/alice")
    assert status == 200 and other_device
    with socket.create_connection(("127.0.0.1", gunicorn.port), timeout=WAIT) as held:
        held.sendall(
            (
                "POST /held HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: same-origin\r\n"
                f"Cookie: {COOKIE}={stolen}\r\nContent-Type: text/plain\r\n"
                "Content-Length: 4\r\nConnection: close\r\n\r\nsl"
            ).encode()
        )
        gunicorn.signal.accept()[0].close()  # the held request has read its session
        if operation == "revoke_all":
            assert send(gunicorn, "POST", "/revoke-all", other_device)[:2] == (200, {"revoked": 2})
        elif operation == "logout":
            assert send(gunicorn, "POST", "/logout", stolen)[0] == 200
        else:
            status, _, rotated = send(gunicorn, "POST", "/login/alice", stolen)
            assert status == 200 and rotated not in (None, stolen)
        held.sendall(b"ow")
        answer = b""
        while chunk := held.recv(65536):
            answer += chunk
    for _ in range(2):  # whichever worker answers
        status, body, _ = send(gunicorn, "GET", "/read", stolen)
        assert (status, body["data"]) == (200, {})
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert f"Set-Cookie: {COOKIE}=;".encode() in answer  # the dead cookie is expired
