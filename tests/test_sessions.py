"""Server-side sessions on every store: cookies, hashing, timeouts, rotation, revocation."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string, session
from flask.testing import FlaskClient

from flask_bastion import ConfigurationError, get_state, no_store
from flask_bastion.csrf import REASON_TOKEN_INVALID
from flask_bastion.sessions import (
    CLEAR_SITE_DATA,
    PRIVATE,
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
from flask_bastion.sessions.interface import ServerSession
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

    @app.route("/form-page", methods=["GET", "HEAD"])
    def form_page() -> str:
        return render_template_string(FORM_PAGE)

    return app


#: A page with a form, as any site's contact or login page.
FORM_PAGE = '<form method="post" action="/form">{{ csrf_field() }}<input name="q"></form>'
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


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


def test_flags_of_one_session_never_reach_another(store_config: dict[str, t.Any]) -> None:
    """A login (rotate), a logout (end) and a stale cookie set flags on their own
    request's session only: the next visitor's session is neither rotated, ended,
    stored nor marked stale, and a new session object starts with every flag unset."""
    app = session_app(**store_config)
    member = login(app, user="carol")
    kept = cookie_of(member)
    login(app).post("/logout", base_url=HTTPS)
    stale = app.test_client()
    stale.set_cookie(COOKIE, secrets.token_urlsafe(32), domain="localhost")
    stale.get("/read", base_url=HTTPS)
    anonymous = app.test_client().get("/read", base_url=HTTPS)
    assert "Set-Cookie" not in anonymous.headers
    assert "Clear-Site-Data" not in anonymous.headers
    response = member.get("/read", base_url=HTTPS)
    assert response.get_json() == {"data": {"_user_id": "carol"}}
    assert "Clear-Site-Data" not in response.headers
    assert cookie_of(member) == kept
    flags = ("modified", "accessed", "rotate", "ended", "unavailable", "stale_cookie")
    fresh = ServerSession()
    assert not any(getattr(fresh, flag) for flag in (*flags, "stateless"))
    assert fresh.record is None


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


# -- anonymous visitors never fill the store ---------------------------------------------------


def stored_rows(app: Flask) -> int:
    """Sessions the app's store holds, counted in the store itself."""
    store = interface(app).store
    if isinstance(store, MemoryStore):
        return len(store._records)
    if isinstance(store, RedisStore):
        return len(list(store.client.scan_iter(match=store.prefix + "*")))
    assert isinstance(store, SQLStore)
    if not sa.inspect(store.engine).has_table(store.table.name):
        return 0
    with store.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(store.table)).scalar())


def old_browser(app: Flask) -> FlaskClient:
    """A client that sends neither Sec-Fetch-Site nor Origin, as browsers before 2020."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def test_anonymous_forms_store_nothing(store_config: dict[str, t.Any]) -> None:
    """Cookieless GETs and HEADs of a page with a form write no session: any client
    could otherwise fill the store. The form's token still works for a browser that
    needs it, and a forged one still fails."""
    app = session_app(**store_config)
    cookies = []
    for method in ["GET", "HEAD"] * 5:
        response = app.test_client().open("/form-page", method=method, base_url=HTTPS)
        assert response.status_code == 200
        cookies += [h.split("=")[0] for h in response.headers.getlist("Set-Cookie")]
    assert stored_rows(app) == 0
    assert cookies == ["__Host-csrf"] * 10
    browser = old_browser(app)
    html = browser.get("/form-page", base_url=HTTPS).get_data(as_text=True)
    match = TOKEN.search(html)
    assert match is not None
    response = browser.post("/form", data={"csrf_token": match.group(1)}, base_url=HTTPS)
    assert response.status_code == 200
    forger = old_browser(app)
    forger.get("/form-page", base_url=HTTPS)
    token = match.group(1)
    # Two changed characters, whatever the token ended with.
    tail = "AA" if token[-2:] != "AA" else "BB"
    forged = browser.post(
        "/form",
        data={"csrf_token": token[:-2] + tail},
        headers={"Accept": "application/json"},
        base_url=HTTPS,
    )
    assert forged.status_code == 403
    assert forged.get_json(force=True)["detail"] == REASON_TOKEN_INVALID
    stolen = forger.post(
        "/form",
        data={"csrf_token": match.group(1)},
        headers={"Accept": "application/json"},
        base_url=HTTPS,
    )
    assert stolen.get_json(force=True)["detail"] == REASON_TOKEN_INVALID
    assert stored_rows(app) == 0


def test_a_session_is_created_by_a_write(store_config: dict[str, t.Any]) -> None:
    """The first write to the session creates it, with the anonymous token accepted."""
    app = session_app(**store_config)
    browser = old_browser(app)
    match = TOKEN.search(browser.get("/form-page", base_url=HTTPS).get_data(as_text=True))
    assert match is not None
    response = browser.post("/write/a/b", data={"csrf_token": match.group(1)}, base_url=HTTPS)
    assert response.status_code == 200
    assert stored_rows(app) == 1


# -- the cookie --------------------------------------------------------------------------------


def cookie_header(app: Flask, base_url: str = HTTPS) -> str:
    """The session's Set-Cookie header when a visitor first writes to it."""
    response = app.test_client().post("/write/a/b", base_url=base_url)
    (header,) = response.headers.getlist("Set-Cookie")
    return header


def attributes(header: str) -> set[str]:
    return set(header.split("; ")[1:])


@pytest.mark.parametrize("value", ["Strict", "strict"])
def test_samesite_strict_is_sent(value: str) -> None:
    """SESSION_COOKIE_SAMESITE = 'Strict' makes the cookie SameSite=Strict, when it is
    set and when logout expires it."""
    app = session_app(SESSION_COOKIE_SAMESITE=value)
    assert "SameSite=Strict" in attributes(cookie_header(app))
    client = login(app)
    (cleared,) = client.post("/logout", base_url=HTTPS).headers.getlist("Set-Cookie")
    assert "SameSite=Strict" in attributes(cleared)


@pytest.mark.parametrize("value", ["None", "none", "", "Lax; Secure", False, 1])
@pytest.mark.parametrize("enabled", [True, False], ids=["server-side", "flask-session"])
def test_samesite_other_than_lax_or_strict_is_refused(value: object, enabled: bool) -> None:
    """Any SameSite but Lax or Strict is a configuration error, never silently replaced."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(SESSION_COOKIE_SAMESITE=value, BASTION_SESSIONS_ENABLED=enabled)
    assert caught.value.key == "SESSION_COOKIE_SAMESITE"


@pytest.mark.parametrize("enabled", [True, False], ids=["server-side", "flask-session"])
def test_httponly_off_is_refused(enabled: bool) -> None:
    """SESSION_COOKIE_HTTPONLY = False is refused: no script needs the session cookie."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(SESSION_COOKIE_HTTPONLY=False, BASTION_SESSIONS_ENABLED=enabled)
    assert caught.value.key == "SESSION_COOKIE_HTTPONLY"


@pytest.mark.parametrize(
    ("config", "name"),
    [
        pytest.param({}, "__Host-session", id="default"),
        pytest.param({"SESSION_COOKIE_NAME": "vault"}, "__Host-vault", id="flask-name"),
        pytest.param({"SESSION_COOKIE_NAME": "__Host-v"}, "__Host-v", id="flask-name-prefixed"),
        pytest.param(
            {"SESSION_COOKIE_NAME": "vault", "BASTION_SESSIONS_COOKIE_NAME": "__Host-sid"},
            "__Host-sid",
            id="bastion-name-wins",
        ),
        pytest.param({"BASTION_SESSIONS_COOKIE_NAME": "sid"}, "sid", id="bastion-plain-name"),
    ],
)
def test_cookie_name(config: dict[str, str], name: str) -> None:
    """BASTION_SESSIONS_COOKIE_NAME when set, else __Host- and Flask's SESSION_COOKIE_NAME."""
    app = session_app(**config)
    assert cookie_header(app).startswith(f"{name}=")
    assert interface(app).get_cookie_name(app) == name


def test_cookie_name_in_development_drops_the_prefix() -> None:
    """The development profile drops __Host- from the derived name too."""
    app = session_app(SESSION_COOKIE_NAME="vault", BASTION_PROFILE="development")
    assert cookie_header(app, "http://localhost").startswith("vault=")


def test_development_profile_keeps_the_prefix_when_secure_is_asked() -> None:
    """SESSION_COOKIE_SECURE = True under the development profile keeps Secure, and
    with it the prefix."""
    app = session_app(SESSION_COOKIE_SECURE=True, BASTION_PROFILE="development")
    header = cookie_header(app)
    assert header.startswith("__Host-session=")
    assert "Secure" in attributes(header)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"SESSION_COOKIE_NAME": "my session"}, id="space"),
        pytest.param({"SESSION_COOKIE_NAME": "a;b"}, id="semicolon"),
    ],
)
def test_invalid_flask_cookie_name_is_refused(config: dict[str, str]) -> None:
    """A SESSION_COOKIE_NAME that is not a cookie-name token is refused at init_app."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(**config)
    assert caught.value.key == "SESSION_COOKIE_NAME"


@pytest.mark.parametrize(
    ("key", "value"),
    [("SESSION_COOKIE_DOMAIN", "example.org"), ("SESSION_COOKIE_PATH", "/app")],
)
def test_host_prefix_refuses_domain_and_path(key: str, value: str) -> None:
    """Browsers drop a __Host- cookie with a Domain or a Path other than /: refused."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(**{key: value})
    assert caught.value.key == key


def test_plain_cookie_name_takes_domain_and_path() -> None:
    """A cookie named without the prefix takes Flask's Domain and Path settings."""
    app = session_app(
        BASTION_SESSIONS_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="localhost.localdomain",
        SESSION_COOKIE_PATH="/app",
    )
    assert {"Domain=localhost.localdomain", "Path=/app"} <= attributes(cookie_header(app))


@pytest.mark.parametrize(
    ("config", "base_url"),
    [
        pytest.param({}, HTTPS, id="default"),
        pytest.param({"SESSION_COOKIE_SAMESITE": "Strict"}, HTTPS, id="strict"),
        pytest.param({"BASTION_PROFILE": "development"}, "http://localhost", id="development"),
        pytest.param({"SESSION_COOKIE_PARTITIONED": True}, HTTPS, id="partitioned"),
        pytest.param(
            {"BASTION_SESSIONS_COOKIE_NAME": "sid", "SESSION_COOKIE_DOMAIN": "localhost"},
            HTTPS,
            id="plain-with-domain",
        ),
    ],
)
def test_cookie_hooks_answer_with_the_cookie_sent(config: dict[str, t.Any], base_url: str) -> None:
    """Flask's get_cookie_* hooks describe exactly the cookie the interface sends, even
    when app.config is changed afterwards."""
    app = session_app(**config)
    app.config.update(
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_NAME="other",
        SESSION_COOKIE_DOMAIN="evil.example",
    )
    header = cookie_header(app, base_url)
    hooks = interface(app)
    expected = {f"Path={hooks.get_cookie_path(app)}", f"SameSite={hooks.get_cookie_samesite(app)}"}
    if hooks.get_cookie_secure(app):
        expected.add("Secure")
    if hooks.get_cookie_httponly(app):
        expected.add("HttpOnly")
    if hooks.get_cookie_partitioned(app):
        expected.add("Partitioned")
    if hooks.get_cookie_domain(app):
        expected.add(f"Domain={hooks.get_cookie_domain(app)}")
    assert header.startswith(f"{hooks.get_cookie_name(app)}=")
    assert attributes(header) == expected


@pytest.mark.parametrize(
    ("config", "flags"),
    [
        pytest.param({}, {"Secure", "HttpOnly", "SameSite=Lax"}, id="production"),
        pytest.param(
            {"SESSION_COOKIE_SAMESITE": "Strict"},
            {"Secure", "HttpOnly", "SameSite=Strict"},
            id="strict",
        ),
        pytest.param(
            {"BASTION_PROFILE": "development"}, {"HttpOnly", "SameSite=Lax"}, id="development"
        ),
    ],
)
def test_flask_session_cookie_flags(config: dict[str, t.Any], flags: set[str]) -> None:
    """With server-side sessions off, Flask's own session cookie gets the same flags
    (Flask keeps its name, Domain and Path)."""
    app = session_app(BASTION_SESSIONS_ENABLED=False, **config)
    header = cookie_header(app, HTTPS)
    assert header.startswith("session=")
    assert attributes(header) & {"Secure", "HttpOnly", "SameSite=Lax", "SameSite=Strict"} == flags


# -- caching -----------------------------------------------------------------------------------


def assert_private(response: t.Any) -> None:
    assert response.headers.getlist("Cache-Control") == [PRIVATE]
    assert "cookie" in {v.lower() for v in response.vary}


def assert_shared(response: t.Any) -> None:
    assert "Cache-Control" not in response.headers
    assert "cookie" not in {v.lower() for v in response.vary}


@pytest.mark.parametrize("enabled", [True, False], ids=["server-side", "flask-session"])
def test_response_that_read_the_session_is_private(enabled: bool) -> None:
    """A page that read the session, even an empty one, depends on who asked: it must
    not be stored by a shared cache or served to another visitor."""
    app = session_app(BASTION_SESSIONS_ENABLED=enabled)
    client = app.test_client()
    assert_private(client.get("/read", base_url=HTTPS))
    client.post("/write/a/b", base_url=HTTPS)
    assert_private(client.get("/read", base_url=HTTPS))


@pytest.mark.parametrize("enabled", [True, False], ids=["server-side", "flask-session"])
def test_response_that_set_the_session_is_private(enabled: bool) -> None:
    """A response that writes the session (and sets its cookie) is private."""
    app = session_app(BASTION_SESSIONS_ENABLED=enabled)
    assert_private(app.test_client().post("/write/a/b", base_url=HTTPS))


def test_login_and_logout_responses_are_private() -> None:
    """Rotation and logout set or expire the cookie: private responses."""
    app = session_app()
    client = app.test_client()
    assert_private(client.post("/login/alice", base_url=HTTPS))
    assert_private(client.post("/logout", base_url=HTTPS))


@pytest.mark.parametrize("enabled", [True, False], ids=["server-side", "flask-session"])
def test_response_that_did_not_touch_the_session_stays_cacheable(enabled: bool) -> None:
    """A page that never looked at the session is the same for everyone, with or without
    a session cookie: nothing is added."""
    app = session_app(BASTION_SESSIONS_ENABLED=enabled)
    client = app.test_client()
    assert_shared(client.get("/api/ping", base_url=HTTPS))
    client.post("/write/a/b", base_url=HTTPS)
    assert_shared(client.get("/api/ping", base_url=HTTPS))


def test_view_cache_control_wins() -> None:
    """A view that sets its own Cache-Control keeps it; Vary: Cookie is still added."""
    app = session_app()

    @app.get("/cached")
    def cached() -> tuple[str, dict[str, str]]:
        return str(session.get("a")), {"Cache-Control": "private, max-age=60"}

    response = app.test_client().get("/cached", base_url=HTTPS)
    assert response.headers.getlist("Cache-Control") == ["private, max-age=60"]
    assert "Cookie" in response.vary


def test_no_store_view_that_reads_the_session_is_not_stored() -> None:
    """A @no_store view that reads the session sends one Cache-Control, with no-store."""
    app = session_app()

    @app.get("/account")
    @no_store
    def account() -> str:
        return str(session.get("a"))

    response = app.test_client().get("/account", base_url=HTTPS)
    (value,) = response.headers.getlist("Cache-Control")
    assert "no-store" in value


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


def test_decoded_data_is_never_shared_between_requests() -> None:
    """Data decoded once and reused is a copy each time: changing what one request got
    (the dict, or a nested list, which is never reused) changes nothing for the next."""
    sessions = interface(make_app())
    flat = '{"flat":"a","n":1}'
    first = sessions.load(flat)
    first["flat"] = "changed"
    assert sessions.load(flat) == {"flat": "a", "n": 1}
    assert sessions.load(flat) is not sessions.load(flat)
    nested = '{"nested":["x"]}'
    sessions.load(nested)["nested"].append("y")
    assert sessions.load(nested) == {"nested": ["x"]}
    assert nested not in sessions._parsed


def test_reused_data_reaches_the_view() -> None:
    """A returning visitor whose data is reused from the table sees it unchanged."""
    app = make_app()

    @app.post("/put")
    def put() -> str:
        session["flat"] = "a"
        return "ok"

    @app.get("/show")
    def show() -> dict[str, t.Any]:
        return dict(session)

    client = app.test_client()
    client.post("/put", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    for _ in range(3):
        assert client.get("/show", base_url=HTTPS).get_json() == {"flat": "a"}


def test_decoded_data_table_is_bounded() -> None:
    """The table of decoded data never grows past its bound."""
    from flask_bastion.sessions import interface as module

    app = make_app()
    sessions = app.session_interface
    assert isinstance(sessions, BastionSessionInterface)
    for i in range(module._PARSED_MAX + 10):
        assert sessions.load(f'{{"n": {i}}}') == {"n": i}
    assert len(sessions._parsed) <= module._PARSED_MAX
