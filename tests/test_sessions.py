"""Server-side sessions on every store: cookies, hashing, timeouts, rotation, revocation."""

from __future__ import annotations

import hashlib
import secrets
import time
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask, session

from flask_bastion import get_state
from flask_bastion.sessions import (
    CLEAR_SITE_DATA,
    BastionSessionInterface,
    MemoryStore,
    SessionStore,
    describe_user_agent,
    end_session,
    list_sessions,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
    rotate_session,
)
from flask_bastion.sessions.redis_store import RedisStore
from flask_bastion.sessions.sql_store import SQLStore

from .conftest import HTTPS, OPEN_APPS, BrowserClient, make_app

COOKIE = "__Host-session"
#: The tests' clock starts now: Redis expires keys by the real clock (EXPIREAT), so a
#: fixed date would make every Redis session vanish at once after that date.
T0 = float(int(time.time()))


class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """Wraps a real store and counts calls, to prove the hot-path budget."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> t.Any:
        method = getattr(self.inner, name)

        def counted(*args: t.Any) -> t.Any:
            self.calls.append(name)
            return method(*args)

        return counted


def session_app(**config: t.Any) -> Flask:
    """An app with routes that read, write, rotate and end sessions."""
    app = make_app(**config)
    app.test_client_class = BrowserClient

    @app.get("/read")
    def read() -> dict[str, t.Any]:
        return {"data": dict(session)}

    @app.post("/write/<key>/<value>")
    def write(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.post("/login/<user>")
    def login(user: str) -> str:
        rotate_session()
        session["_user_id"] = user
        return "ok"

    @app.post("/logout")
    def logout() -> str:
        end_session()
        return "bye"

    @app.get("/devices")
    def devices() -> dict[str, t.Any]:
        return {"sessions": [s.__dict__ for s in list_sessions(session["_user_id"])]}

    @app.post("/revoke-others")
    def revoke_others() -> dict[str, int]:
        return {"revoked": revoke_other_sessions(session["_user_id"])}

    return app


def interface(app: Flask) -> BastionSessionInterface:
    result = app.session_interface
    assert isinstance(result, BastionSessionInterface)
    return result


def cookie_of(client: t.Any) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return None if cookie is None else t.cast(str, cookie.value)


def login(app: Flask, user: str = "alice", **environ: t.Any) -> t.Any:
    client = app.test_client()
    response = client.post(f"/login/{user}", base_url=HTTPS, environ_base=environ)
    assert response.status_code == 200
    return client


# -- every store -----------------------------------------------------------------------------


def test_anonymous_visitor_gets_no_cookie_and_no_row(store_config: dict[str, t.Any]) -> None:
    """A visitor who stores nothing gets no cookie and costs no store call."""
    app = session_app(**store_config)
    spy = CountingStore(interface(app).store)
    interface(app).store = spy  # type: ignore[assignment]
    client = app.test_client()
    response = client.get("/read", base_url=HTTPS)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert spy.calls == []


def test_stored_data_round_trips(store_config: dict[str, t.Any]) -> None:
    """Data written in one request is read back by the next, from the store."""
    app = session_app(**store_config)
    client = app.test_client()
    client.post("/write/colour/blue", base_url=HTTPS)
    assert client.get("/read", base_url=HTTPS).get_json() == {"data": {"colour": "blue"}}


def test_cookie_is_host_prefixed_and_hardened(store_config: dict[str, t.Any]) -> None:
    """The cookie is __Host-session: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain."""
    app = session_app(**store_config)
    header = app.test_client().post("/write/a/b", base_url=HTTPS).headers["Set-Cookie"]
    name, _, attributes = header.partition("; ")
    assert name.startswith(f"{COOKIE}=")
    assert len(name.split("=", 1)[1]) == 43  # 256 bits, base64url
    parts = set(attributes.split("; "))
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= parts
    assert not any(p.lower().startswith(("domain=", "expires=", "max-age=")) for p in parts)


def test_store_holds_only_the_hash(store_config: dict[str, t.Any]) -> None:
    """The store is keyed by the ID's SHA-256; the ID itself is stored nowhere."""
    app = session_app(**store_config)
    client = login(app)
    session_id = cookie_of(client)
    assert session_id is not None
    store = interface(app).store
    [record] = store.for_user("alice")
    assert record.key == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in repr(record)
    assert store.get(session_id) is None


def test_idle_timeout(store_config: dict[str, t.Any]) -> None:
    """A session unused for more than 30 minutes is over."""
    app = session_app(**store_config)
    clock = interface(app).clock = Clock()
    client = app.test_client()
    client.post("/write/a/1", base_url=HTTPS)
    clock.now += 29 * 60
    assert client.get("/read", base_url=HTTPS).get_json() == {"data": {"a": "1"}}
    clock.now += 31 * 60
    response = client.get("/read", base_url=HTTPS)
    assert response.get_json() == {"data": {}}
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]  # the stale cookie is cleared


def test_absolute_timeout(store_config: dict[str, t.Any]) -> None:
    """A session ends 12 hours after creation even when used all along."""
    app = session_app(**store_config)
    clock = interface(app).clock = Clock()
    client = app.test_client()
    client.post("/write/a/1", base_url=HTTPS)
    for _ in range(71):  # every 10 minutes for 11h50
        clock.now += 600
        assert client.get("/read", base_url=HTTPS).get_json() == {"data": {"a": "1"}}
    clock.now += 11 * 60
    assert client.get("/read", base_url=HTTPS).get_json() == {"data": {}}


def test_rotation_keeps_data_and_kills_old_id(store_config: dict[str, t.Any]) -> None:
    """rotate_session moves the data to a new ID; the old ID selects nothing."""
    app = session_app(**store_config)
    client = app.test_client()
    client.post("/write/cart/3", base_url=HTTPS)
    before = cookie_of(client)
    client.post("/login/alice", base_url=HTTPS)
    after = cookie_of(client)
    assert before and after and before != after
    assert client.get("/read", base_url=HTTPS).get_json() == {
        "data": {"cart": "3", "_user_id": "alice"}
    }
    thief = app.test_client()
    thief.set_cookie(COOKIE, before, domain="localhost")
    assert thief.get("/read", base_url=HTTPS).get_json() == {"data": {}}


def test_fixation_planted_id_is_worthless_after_login(store_config: dict[str, t.Any]) -> None:
    """An attacker's valid ID planted in the victim's browser is dead once they log in."""
    app = session_app(**store_config)
    attacker = app.test_client()
    attacker.post("/write/x/1", base_url=HTTPS)
    planted = cookie_of(attacker)
    assert planted is not None
    victim = app.test_client()
    victim.set_cookie(COOKIE, planted, domain="localhost")
    victim.post("/login/victim", base_url=HTTPS)
    assert cookie_of(victim) != planted
    assert attacker.get("/read", base_url=HTTPS).get_json() == {"data": {}}


def test_unknown_id_is_never_adopted(store_config: dict[str, t.Any]) -> None:
    """A well-formed ID the server never issued selects nothing and is replaced."""
    app = session_app(**store_config)
    client = app.test_client()
    invented = secrets.token_urlsafe(32)
    client.set_cookie(COOKIE, invented, domain="localhost")
    client.post("/write/a/1", base_url=HTTPS)
    assert cookie_of(client) != invented


def test_devices_list_and_revoke_others(store_config: dict[str, t.Any]) -> None:
    """A user's sessions are listed with IP and browser, and others can be revoked."""
    app = session_app(**store_config)
    laptop = login(
        app,
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        REMOTE_ADDR="198.51.100.1",
    )
    phone = login(
        app, HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Safari/605.1", REMOTE_ADDR="198.51.100.2"
    )
    login(app, user="bob")
    listed = laptop.get("/devices", base_url=HTTPS).get_json()["sessions"]
    assert len(listed) == 2
    assert {s["ip"] for s in listed} == {"198.51.100.1", "198.51.100.2"}
    assert sum(s["current"] for s in listed) == 1
    assert laptop.post("/revoke-others", base_url=HTTPS).get_json() == {"revoked": 1}
    assert phone.get("/read", base_url=HTTPS).get_json() == {"data": {}}
    assert laptop.get("/read", base_url=HTTPS).get_json()["data"]["_user_id"] == "alice"
    assert len(interface(app).store.for_user("bob")) == 1


def test_revoke_all_and_ownership(store_config: dict[str, t.Any]) -> None:
    """revoke_all_sessions ends every session; revoke_session refuses others' sessions."""
    app = session_app(**store_config)
    alice = login(app)
    login(app)
    login(app, user="bob")
    [bob_record] = interface(app).store.for_user("bob")
    with app.test_request_context(base_url=HTTPS):
        assert revoke_session("alice", bob_record.key) is False
        assert revoke_all_sessions("alice") == 2
        assert revoke_session("bob", bob_record.key) is True
    assert alice.get("/read", base_url=HTTPS).get_json() == {"data": {}}
    assert interface(app).store.for_user("bob") == []


def test_logout_deletes_row_and_clears_site_data(store_config: dict[str, t.Any]) -> None:
    """Logout deletes the row, expires the cookie and sends Clear-Site-Data."""
    app = session_app(**store_config)
    client = login(app)
    response = client.post("/logout", base_url=HTTPS)
    assert response.headers["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]
    assert interface(app).store.for_user("alice") == []


def test_returning_visitor_budget(store_config: dict[str, t.Any]) -> None:
    """A returning visitor costs one read and no write until touch_interval passes."""
    app = session_app(**store_config)
    clock = interface(app).clock = Clock()
    client = app.test_client()
    client.post("/write/a/1", base_url=HTTPS)
    spy = CountingStore(interface(app).store)
    interface(app).store = spy  # type: ignore[assignment]
    for _ in range(5):
        clock.now += 10
        assert client.get("/read", base_url=HTTPS).status_code == 200
    assert spy.calls == ["get"] * 5
    clock.now += 60
    client.get("/read", base_url=HTTPS)
    assert spy.calls[-2:] == ["get", "touch"]


def test_purge_without_cron(store_config: dict[str, t.Any]) -> None:
    """Expired sessions are deleted by ordinary traffic, with no scheduled job."""
    app = session_app(**store_config)
    clock = interface(app).clock = Clock()
    old = login(app, user="old")
    interface(app)._next_purge = 0.0
    clock.now += 13 * 3600
    login(app, user="new")
    store = interface(app).store
    if isinstance(store, RedisStore):  # Redis expires keys itself, at expires_at
        assert store.client.ttl(store.prefix + store.for_user("new")[0].key) > 0
    else:
        assert store.for_user("old") == []
    assert old.get("/read", base_url=HTTPS).get_json() == {"data": {}}


@pytest.mark.parametrize(
    "value",
    [
        "x",
        secrets.token_urlsafe(32)[:42],
        secrets.token_urlsafe(32) + "A",
        "A" * 4000,
        "é" * 43,
        "../../etc/passwd",
        "' OR 1=1 --" + "A" * 32,
        "",
    ],
    ids=["short", "truncated", "long", "oversized", "non-ascii", "path", "sqli", "empty"],
)
def test_forged_cookies_get_a_clean_new_session(store_config: dict[str, t.Any], value: str) -> None:
    """Forged, truncated, oversized and non-ASCII cookies get a fresh session, never a 500."""
    app = session_app(**store_config)
    client = app.test_client()
    client.set_cookie(COOKIE, value, domain="localhost")
    assert client.get("/read", base_url=HTTPS).get_json() == {"data": {}}
    response = client.post("/write/a/1", base_url=HTTPS)
    assert response.status_code == 200
    assert cookie_of(client) not in (value, None)


# -- store specifics ---------------------------------------------------------------------------


def test_data_is_json_not_pickle(tmp_path: t.Any) -> None:
    """The SQL row holds readable JSON of the data."""
    url = f"sqlite:///{tmp_path}/s.db"
    app = session_app(BASTION_SESSIONS_STORE="sql", BASTION_SESSIONS_URL=url)
    login(app)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        [raw] = connection.execute(sa.text("SELECT data FROM bastion_sessions")).scalars()
    engine.dispose()
    assert raw == '{"_user_id":"alice"}'


def test_sql_store_defaults_to_the_apps_database(tmp_path: t.Any) -> None:
    """With no URL the SQL store uses the app's DATABASE_URL."""
    url = f"sqlite:///{tmp_path}/app.db"
    app = session_app(BASTION_SESSIONS_STORE="sql", DATABASE_URL=url)
    login(app)
    engine = sa.create_engine(url)
    assert "bastion_sessions" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_sql_store_falls_back_to_instance_folder(tmp_path: t.Any) -> None:
    """With no URL at all, sessions go to SQLite in the instance folder."""
    app = Flask("fallback", instance_path=str(tmp_path / "instance"))
    app.config["SECRET_KEY"] = "k" * 64
    from flask_bastion import Bastion

    Bastion(app)
    OPEN_APPS.append(app)
    store = interface(app).store
    assert isinstance(store, SQLStore)
    assert str(store.engine.url) == f"sqlite:///{tmp_path}/instance/bastion.sqlite3"


def test_redis_store_requires_url() -> None:
    """The redis store without any URL is a configuration error."""
    from flask_bastion import ConfigurationError

    with pytest.raises(ConfigurationError, match="BASTION_SESSIONS_URL"):
        make_app(BASTION_SESSIONS_STORE="redis")


def test_development_profile_cookie() -> None:
    """In development the cookie drops __Host- and Secure (plain HTTP on loopback)."""
    app = session_app(BASTION_PROFILE="development")
    header = app.test_client().post("/write/a/b", base_url="http://localhost").headers["Set-Cookie"]
    assert header.startswith("session=")
    assert "Secure" not in header
    assert "HttpOnly" in header


def test_sessions_can_be_disabled() -> None:
    """BASTION_SESSIONS_ENABLED=False keeps Flask's own session interface."""
    app = make_app(BASTION_SESSIONS_ENABLED=False)
    assert not isinstance(app.session_interface, BastionSessionInterface)
    assert get_state(app).component("sessions").interface is None


def test_api_without_bastion_sessions_explains() -> None:
    """The session API on an app without server-side sessions raises a clear error."""
    app = make_app(BASTION_SESSIONS_ENABLED=False)
    with app.test_request_context(), pytest.raises(RuntimeError, match="not enabled"):
        rotate_session()


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on Linux",
        ),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", "Safari on iOS"),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36 Edg/131.0", "Edge on Windows"),
        ("curl/8.5.0", "Unknown browser"),
    ],
    ids=["chrome", "firefox", "iphone", "edge", "curl"],
)
def test_describe_user_agent(agent: str, expected: str) -> None:
    """User-Agent strings become short device descriptions."""
    assert describe_user_agent(agent) == expected


def test_memory_store_is_isolated_per_app() -> None:
    """Two apps with memory stores do not share sessions."""
    first, second = session_app(), session_app()
    client = login(first)
    assert isinstance(interface(second).store, MemoryStore)
    cookie = cookie_of(client)
    assert cookie is not None
    other = second.test_client()
    other.set_cookie(COOKIE, cookie, domain="localhost")
    assert other.get("/read", base_url=HTTPS).get_json() == {"data": {}}
