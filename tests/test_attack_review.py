"""Attacks from outside on the protections, as an attacker or a confused operator would try
them: forged and malformed input, alternative spellings, races, odd configuration.

Each test performs one attack and asserts that it fails (a refusal, a masked secret, a
session that stays dead). The ones that held when they were written guard against
regressions; the others name the defect in their docstring.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import re
import selectors
import socket
import subprocess
import sys
import textwrap
import threading
import time
import typing as t
from collections.abc import Callable, Iterator

import pytest
from flask import Blueprint, Flask, Request, abort, request
from werkzeug.debug import DebuggedApplication
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Request as WerkzeugRequest

from flask_bastion import Bastion, csrf_exempt, https_exempt, no_store
from flask_bastion.checks import run_checks
from flask_bastion.components import Stage
from flask_bastion.config import load_config
from flask_bastion.config.parsers import Invalid, non_negative_int
from flask_bastion.context import RequestState
from flask_bastion.errors import PublicText
from flask_bastion.exceptions import ConfigurationError
from flask_bastion.logs import LogFilter, scrub
from flask_bastion.proxy import ProxyTrust
from flask_bastion.sessions import (
    SessionStore,
    StoreError,
    revoke_all_sessions,
    revoke_session,
    rotate_session,
)

from .conftest import HTTPS, SECRET, make_app
from .test_sessions import COOKIE, cookie_of, interface, login, session_app
from .test_sessions_faults import BOUND, StallingProxy, timed, wait_for_output

#: Seconds any wait in these tests may last before the test fails instead of hanging.
WAIT = 30.0
PASSWORD = "hunter2-db-secret"


# == 1. Revocation against rotation ==========================================================


def rotating_app(**config: t.Any) -> Flask:
    """``session_app`` plus a view that rotates the session without a password: the
    kind of privilege change (switching organisation) a thief can trigger at will."""
    app = session_app(**config)

    @app.post("/switch")
    def switch() -> str:
        rotate_session()
        return "switched"

    return app


class RotateBeforeDelete:
    """A store whose every ``delete`` from the revoking thread first lets the thief's
    rotation run to its end: the scheduling an attacker hopes for, every time."""

    def __init__(self, inner: SessionStore, rotate: Callable[[], None]) -> None:
        self.inner = inner
        self.rotate = rotate
        self.thread = threading.get_ident()
        self.rotations = 0

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self.inner, name)

    def delete(self, *keys: str) -> int:
        if threading.get_ident() == self.thread:
            self.rotations += 1
            self.rotate()
        return t.cast(int, self.inner.delete(*keys))


def thief_rotator(app: Flask, thief: t.Any) -> Callable[[], None]:
    def rotate() -> None:  # another request, in another thread, run to completion
        done: dict[str, t.Any] = {}
        thread = threading.Thread(
            target=lambda: done.setdefault("r", thief.post("/switch", base_url=HTTPS))
        )
        thread.start()
        thread.join(WAIT)
        assert done["r"].status_code == 200

    return rotate


def test_rotation_storm_cannot_outlast_revoke_all() -> None:
    """DEFECT: a thief who can rotate the stolen session (any view calling
    rotate_session) and does so between each listing and deletion of
    revoke_all_sessions keeps a live session after it returns: the revocation gives up
    after a fixed number of passes and the thief's latest ID survives."""
    app = rotating_app()
    stolen = cookie_of(login(app)) or ""
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen, domain="localhost")
    store = RotateBeforeDelete(interface(app).store, thief_rotator(app, thief))
    interface(app).store = store  # type: ignore[assignment]
    with app.test_request_context(base_url=HTTPS):
        revoke_all_sessions("alice")
    assert store.rotations >= 1  # the thief did rotate while the revocation ran
    assert store.inner.for_user("alice") == []
    assert thief.get("/read", base_url=HTTPS).get_json()["data"] == {}


def test_single_revocation_racing_a_rotation_is_final() -> None:
    """DEFECT: revoke_session (one device, from "your devices") checks the key, then
    deletes it once; a rotation that runs in between moves the stolen session to a new
    ID, the delete finds nothing, and revoke_session still reports success."""
    app = rotating_app()
    owner = login(app)
    stolen = cookie_of(login(app)) or ""
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen, domain="localhost")
    store = RotateBeforeDelete(interface(app).store, thief_rotator(app, thief))
    interface(app).store = store  # type: ignore[assignment]
    from flask_bastion.sessions import hash_id

    with app.test_request_context(base_url=HTTPS):
        assert revoke_session("alice", hash_id(stolen)) is True
    assert thief.get("/read", base_url=HTTPS).get_json()["data"] == {}
    assert owner.get("/read", base_url=HTTPS).get_json()["data"] == {"_user_id": "alice"}


@pytest.fixture
def two_redis_apps(redis_prefix: tuple[str, str]) -> tuple[Flask, Flask]:
    url, prefix = redis_prefix
    config = {
        "BASTION_SESSIONS_STORE": "redis",
        "BASTION_SESSIONS_URL": url,
        "BASTION_SESSIONS_KEY_PREFIX": prefix,
        "BASTION_SESSIONS_REDIS_CACHE": 60,
    }
    return rotating_app(**config), rotating_app(**config)


def test_revoke_rotate_logout_storm_leaves_nothing_alive(
    two_redis_apps: tuple[Flask, Flask],
) -> None:
    """Two "processes" on one Redis (each its own connection and invalidated cache):
    threads holding the stolen cookie rotate and write without pause while the owner
    revokes; once everything stopped, no session of the user is alive anywhere and the
    stolen cookies select nothing from either process's cache."""
    thief_app, owner_app = two_redis_apps
    stolen = cookie_of(login(thief_app)) or ""
    stop = threading.Event()
    seen: list[str] = [stolen]
    lock = threading.Lock()

    def storm(path: str) -> None:
        client = thief_app.test_client()
        cookie = stolen
        while not stop.is_set():
            client.set_cookie(COOKIE, cookie, domain="localhost")
            client.post(path, base_url=HTTPS)
            cookie = cookie_of(client) or cookie
            with lock:
                seen.append(cookie)

    threads = [
        threading.Thread(target=storm, args=(p,)) for p in ("/switch", "/switch", "/write/k/v")
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            with owner_app.test_request_context(base_url=HTTPS):
                revoke_all_sessions("alice")
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
    with owner_app.test_request_context(base_url=HTTPS):
        revoke_all_sessions("alice")  # what was in flight at the last pass
    assert interface(owner_app).store.for_user("alice") == []
    for app in (thief_app, owner_app):
        client = app.test_client()
        for cookie in set(seen):
            client.set_cookie(COOKIE, cookie, domain="localhost")
            # A write with a dead cookie starts a new, anonymous session: never alice's.
            data = client.get("/read", base_url=HTTPS).get_json()["data"]
            assert "_user_id" not in data


# == 2. The debugger under the production profile ==========================================

SECRET_IN_VIEW = "hunter2-view-secret"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, t.Any]]:
    """Calls that reached werkzeug's ``run_simple``: recorded, never serving."""
    calls: list[dict[str, t.Any]] = []

    def fake_run_simple(host: str, port: int, app: t.Any, **options: t.Any) -> None:
        calls.append(options)

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_SKIP_DOTENV", raising=False)
    return calls


@pytest.mark.parametrize("spelling", ["off", " 0", "0 ", "False ", "no\n"])
def test_app_run_refuses_flask_debug_spellings_flask_reads_as_on(
    started: list[dict[str, t.Any]], monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Flask switches debug on for any FLASK_DEBUG but exactly "0", "false" or "no"
    (any case): "off" and " 0" start the debugger, so app.run() must refuse them too."""
    app = make_app()
    monkeypatch.setenv("FLASK_DEBUG", spelling)
    with contextlib.suppress(ConfigurationError):
        app.run()
    assert all(not call.get("use_debugger") for call in started)


def test_app_run_refuses_debug_from_a_dotenv_file(
    started: list[dict[str, t.Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """app.run() loads .env and .flaskenv (python-dotenv) before it decides on debug; a
    FLASK_DEBUG=1 there must not start the debugger."""
    app = make_app()

    def load_dotenv(path: t.Any = None, load_defaults: bool = True) -> bool:
        if "FLASK_DEBUG" not in os.environ:  # what a .flaskenv line does
            monkeypatch.setenv("FLASK_DEBUG", "1")
        return True

    monkeypatch.setattr("flask.cli.load_dotenv", load_dotenv)
    with contextlib.suppress(ConfigurationError):
        app.run()
    assert all(not call.get("use_debugger") for call in started)


def test_console_of_a_debugger_installed_after_bastion_is_not_served() -> None:
    """DEFECT: ``app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=True)`` after
    Bastion(app): werkzeug serves /console itself, without calling the application, so
    the request-time guard never runs; with ``pin_security=False`` it runs any Python
    sent to it (here: reads the process ID). bastion.W005 and bastion.W009 report such a
    wrapper, but nothing refuses it at run time."""
    app = make_app()
    app.wsgi_app = DebuggedApplication(  # type: ignore[method-assign]
        app.wsgi_app, evalex=True, pin_security=False
    )
    assert "bastion.W005" in {m.id for m in run_checks(app, deploy=True)}
    client = Client(app)
    page = client.get("/console", base_url="http://localhost")
    secret = re.search(rb'SECRET = "([^"]+)"', page.data)
    ran = None
    if secret is not None:
        ran = client.get(
            "/console",
            base_url="http://localhost",
            query_string={
                "__debugger__": "yes",
                "cmd": "__import__('os').getpid()",
                "frm": "0",
                "s": secret.group(1).decode(),
            },
        )
    assert page.status_code != 200
    assert ran is None or str(os.getpid()).encode() not in ran.data


@pytest.mark.parametrize(
    "config",
    [{"TESTING": True}, {"PROPAGATE_EXCEPTIONS": True}],
    ids=["testing", "propagate-exceptions"],
)
def test_debugger_without_evalex_never_shows_a_traceback(config: dict[str, t.Any]) -> None:
    """DEFECT: DebuggedApplication(app, evalex=False) sets no environ key for the guard to
    see; with TESTING or PROPAGATE_EXCEPTIONS on (DEBUG off), a view's exception
    propagates out of Flask and the wrapper renders its traceback page: source lines and
    the exception text."""
    app = make_app(**config)

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError(f"cannot connect with password {SECRET_IN_VIEW}")

    response = Client(DebuggedApplication(app, evalex=False)).get("/crash", base_url=HTTPS)
    assert response.status_code == 500
    assert SECRET_IN_VIEW.encode() not in response.data
    assert b"Traceback" not in response.data


@pytest.mark.parametrize("where", ["url_value_preprocessor", "after_request"])
def test_debug_on_after_init_shows_no_traceback_from_hooks(where: str) -> None:
    """DEFECT: with DEBUG switched on after init_app every request is refused before the
    view, but an exception raised before Bastion's before_request (a URL value
    preprocessor, the session's open) or after it (an after_request hook) still
    propagates, since DEBUG makes Flask propagate exceptions, and the debugger renders it
    with its console secret."""
    app = make_app()
    message = f"no such organisation; dsn postgresql://app:{SECRET_IN_VIEW}@db/prod"
    if where == "url_value_preprocessor":

        @app.url_value_preprocessor
        def pull(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
            raise LookupError(message)

    else:

        @app.after_request
        def after(response: t.Any) -> t.Any:
            raise RuntimeError(message)

    app.debug = True  # after init_app: the request-time guard's case
    response = Client(DebuggedApplication(app, evalex=True)).get("/", base_url=HTTPS)
    assert response.status_code == 500
    assert SECRET_IN_VIEW.encode() not in response.data
    assert b"Traceback" not in response.data


# == 3. CSRF: ambient credentials without Sec-Fetch-Site or Origin ===========================


def raw_post(app: Flask, headers: dict[str, str]) -> int:
    """POST /form with exactly these headers (the test client's cookie jar is off, so a
    ``Cookie`` header goes through as written)."""
    client = app.test_client(use_cookies=False)
    return client.post("/form", base_url=HTTPS, headers=headers, data={"q": "1"}).status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "remember=1"},
        {"Cookie": " "},
        {"Cookie": ";"},
        {"Authorization": "BASIC dTpw"},
        {"Authorization": "basic\tdTpw"},
        {"Authorization": "nTlM TlRMTVNTUAAB"},
        {"Authorization": "Negotiate YIIC"},
        {"Authorization": "Digest username=u"},
        {"Authorization": "Bearer abc", "Cookie": "remember=1"},
        {"Cookie": "remember=1", "Sec-Fetch-Site": "Same-Origin"},
        {"Cookie": "remember=1", "Sec-Fetch-Site": " same-origin"},
        {"Cookie": "remember=1", "Sec-Fetch-Site": "same-site"},
        {"Cookie": "remember=1", "Sec-Fetch-Site": ""},
        {"Cookie": "remember=1", "Origin": "https://localhost."},
        {"Cookie": "remember=1", "Origin": "https://localhost/"},
        {"Cookie": "remember=1", "Origin": "http://localhost"},
        {"Cookie": "remember=1", "Origin": "https://x@localhost"},
        {"Cookie": "remember=1", "Origin": "NULL"},
        {"Cookie": "remember=1", "Origin": " null"},
        {"Cookie": "remember=1", "Origin": ""},
        {"Cookie": "remember=1", "X-CSRF-Token": "A" * 86},
    ],
    ids=[
        "cookie",
        "cookie-whitespace",
        "cookie-semicolon",
        "basic-upper",
        "basic-tab",
        "ntlm-mixed-case",
        "negotiate",
        "digest",
        "bearer-plus-cookie",
        "site-capitalised",
        "site-padded",
        "site-same-site",
        "site-empty",
        "origin-trailing-dot",
        "origin-with-path",
        "origin-other-scheme",
        "origin-userinfo",
        "origin-null-upper",
        "origin-null-padded",
        "origin-empty",
        "forged-token",
    ],
)
def test_ambient_credentials_need_proof_of_origin(headers: dict[str, str]) -> None:
    """Any cookie or browser-attached Authorization scheme, however spelt, is refused
    unless Sec-Fetch-Site, Origin or a valid token proves the request is same-origin."""
    assert raw_post(make_app(), headers) == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Cookie": "remember=1", "Origin": "HTTPS://LOCALHOST:443"},
        {"Cookie": "remember=1", "Sec-Fetch-Site": "same-origin"},
    ],
    ids=["no-credential", "bearer-only", "own-origin-spelt-oddly", "same-origin"],
)
def test_requests_without_forgeable_authority_pass(headers: dict[str, str]) -> None:
    """The same check lets through what no other site can forge with the user's
    authority."""
    assert raw_post(make_app(), headers) == 200


# == 4. csrf_exempt on blueprints ============================================================


def blueprint_app() -> Flask:
    app = Flask("bp_attack")
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )
    hooks, inner, other = (
        Blueprint("hooks", __name__),
        Blueprint("inner", __name__),
        Blueprint("other", __name__),
    )

    @hooks.post("/p")
    def p() -> str:
        return "p"

    @inner.post("/c")
    def c() -> str:
        return "c"

    @other.post("/o")
    def o() -> str:
        return "o"

    hooks.register_blueprint(inner, url_prefix="/in")
    csrf_exempt(hooks)
    hooks.add_url_rule("/late", "late", lambda: "late", methods=["POST"])  # after the mark
    other.register_blueprint(inner, url_prefix="/in", name="inner2")  # same child, elsewhere
    app.register_blueprint(hooks, url_prefix="/hooks")
    app.register_blueprint(hooks, url_prefix="/again", name="again")
    app.register_blueprint(other, url_prefix="/other")
    # Application routes named like the exempt blueprint's endpoints.
    app.add_url_rule("/fake", "hooks.fake", lambda: "fake", methods=["POST"])
    app.add_url_rule("/deeper", "hooks.inner.x", lambda: "x", methods=["POST"])
    app.add_url_rule("/hooks/app", "hooks_app", lambda: "app", methods=["POST"])
    Bastion(app)
    return app


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hooks/p", 200),
        ("/hooks/in/c", 200),
        ("/hooks/late", 200),
        ("/again/p", 200),
        ("/again/in/c", 200),
        ("/other/o", 403),
        ("/other/in/c", 403),
        ("/fake", 403),
        ("/deeper", 403),
        ("/hooks/app", 403),
    ],
    ids=[
        "own-route",
        "nested",
        "added-after-mark",
        "registered-twice",
        "nested-registered-twice",
        "other-blueprint",
        "same-child-elsewhere",
        "app-route-named-like-it",
        "app-route-named-like-its-child",
        "app-route-under-its-prefix",
    ],
)
def test_exempt_blueprint_covers_exactly_its_routes(path: str, status: int) -> None:
    """The exemption follows registration, not endpoint names or URL prefixes."""
    client = blueprint_app().test_client(use_cookies=False)
    response = client.post(path, base_url=HTTPS, headers={"Cookie": "remember=1"})
    assert response.status_code == status


# == 5. The HTTPS redirect's host, over real HTTP =============================================

REDIRECT_APP = textwrap.dedent(
    """
    import os
    from flask import Flask
    from flask_bastion import Bastion

    app = Flask("redirect_attack")
    app.config.update(
        SECRET_KEY=os.environ["REDIRECT_SECRET"],
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
    )

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "OPTIONS"])
    def anything(path):
        return "served over plain HTTP"

    Bastion(app)
    """
)


@pytest.fixture(scope="module")
def redirect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One gunicorn worker on a free loopback port, TRUSTED_HOSTS = ["localhost"]."""
    folder = tmp_path_factory.mktemp("redirect")
    (folder / "redirectapp.py").write_text(REDIRECT_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--chdir",
            str(folder),
            "redirectapp:app",
        ],
        env={**os.environ, "REDIRECT_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_for_output(process, b"Booting worker", timeout=WAIT):
            pytest.fail("gunicorn did not start", pytrace=False)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=WAIT)
        assert process.stdout is not None
        process.stdout.close()


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str]]:
    """Send ``raw`` as the whole request; the response's status and headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


@pytest.mark.slow
@pytest.mark.parametrize(
    "raw",
    [
        b"GET http://evil.example/x HTTP/1.1\r\nHost: localhost\r\n",
        b"GET https://evil.example/x HTTP/1.1\r\nHost: localhost\r\n",
        b"GET //evil.example/x HTTP/1.1\r\nHost: localhost\r\n",
        b"GET /\\evil.example/x HTTP/1.1\r\nHost: localhost\r\n",
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n",
        b"GET /x HTTP/1.1\r\nHost: evil.example\r\n",
        b"GET /x HTTP/1.1\r\nHost: localhost.\r\n",
        b"GET /x HTTP/1.1\r\nHost: [::1]\r\n",
        b"GET /x HTTP/1.1\r\nHost: localhost@evil.example\r\n",
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: evil.example\r\n",
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nForwarded: host=evil.example\r\n",
        b"GET /x HTTP/1.0\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n",
    ],
    ids=[
        "absolute-form",
        "absolute-form-https",
        "scheme-relative-path",
        "backslash-path",
        "duplicate-host",
        "untrusted-host",
        "trailing-dot",
        "ipv6-literal",
        "userinfo-host",
        "x-forwarded-host",
        "forwarded",
        "http-1.0-without-host",
        "asterisk-form",
    ],
)
def test_redirect_never_leaves_the_trusted_host(redirect_server: int, raw: bytes) -> None:
    """Whatever the request line and Host headers say, a plain-HTTP request is refused
    (4xx) or redirected to https://localhost/... (never to another authority; the
    asterisk form once made https://localhost*)."""
    status, headers = exchange(redirect_server, raw + b"Connection: close\r\n\r\n")
    assert status < 500
    if status in (301, 302, 303, 307, 308):
        assert headers["location"].startswith("https://localhost/"), headers["location"]
    else:
        assert 400 <= status < 500


def test_path_without_leading_slash_with_server_name_port_is_a_clean_4xx() -> None:
    """A request target that is not an absolute path (``OPTIONS *``, or what a server
    passes through) would make the Location ``https://localhost:8443*``, which werkzeug
    cannot encode (a 500); it gets a 4xx."""
    app = make_app(SERVER_NAME="localhost:8443", TRUSTED_HOSTS=None)
    environ = EnvironBuilder(method="OPTIONS", base_url="http://localhost:8443").get_environ()
    environ["PATH_INFO"] = "*"
    _body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("4"), status


# == 6-8. Logs, error pages and the configuration listing ===================================

_STANDARD_RECORD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """A JSON log formatter as structured-logging libraries write them: the message,
    every ``extra`` field, and the traceback formatted from ``exc_info``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, t.Any] = {"message": record.getMessage()}
        document.update(
            (k, v) for k, v in vars(record).items() if k not in _STANDARD_RECORD and k[0] != "_"
        )
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exc_info"] = record.exc_text
        return json.dumps(document, default=repr)


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines through a handler with Flask-Bastion's LogFilter, as
    the LogFilter's documentation tells applications to set up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogFilter())
    logger = logging.getLogger("attack_review.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    "extra",
    [
        {"password": PASSWORD},
        {"dsn": f"postgresql://app:{PASSWORD}@db/prod"},
        {"headers": {"Authorization": f"Bearer {PASSWORD}X"}},
        {"form": {"user": "alice", "password": PASSWORD}},
    ],
    ids=["secret-key", "url-password", "nested-header", "nested-form"],
)
def test_structured_log_extras_are_scrubbed(
    json_log: tuple[logging.Logger, io.StringIO], extra: dict[str, t.Any]
) -> None:
    """DEFECT: LogFilter scrubs the message and the traceback, but the ``extra`` fields
    of a record, which JSON handlers write out field by field, keep their secrets."""
    logger, stream = json_log
    logger.warning("login failed", extra=extra)
    assert PASSWORD not in stream.getvalue()


def test_traceback_formatted_again_from_exc_info_is_scrubbed(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    """DEFECT: LogFilter scrubs ``record.exc_text`` but leaves ``record.exc_info``, from
    which JSON formatters format the traceback again, secrets and all."""
    logger, stream = json_log
    try:
        raise RuntimeError(f"cannot connect to postgresql://app:{PASSWORD}@db/prod")
    except RuntimeError:
        logger.exception("store failed")
    output = stream.getvalue()
    assert "RuntimeError" in output
    assert PASSWORD not in output


def test_private_key_material_is_scrubbed() -> None:
    """DEFECT: a service-account JSON (Google Cloud's shape) or a PEM block in a log line
    keeps its private key: neither ``private_key`` nor ``-----BEGIN PRIVATE KEY-----``
    is recognised."""
    key = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    document = json.dumps(
        {"type": "service_account", "private_key": f"-----BEGIN PRIVATE KEY-----\n{key}\n"}
    )
    assert key not in scrub(document)
    assert key not in scrub(
        f"-----BEGIN RSA PRIVATE KEY-----\n{key}\n-----END RSA PRIVATE KEY-----"
    )


@pytest.mark.parametrize("password", ["pa/ss", "pa#ss", "pa?ss"], ids=["slash", "hash", "query"])
def test_url_password_with_reserved_characters_is_masked(password: str) -> None:
    """DEFECT: SQLAlchemy accepts a raw ``/``, ``#`` or ``?`` in a URL's password
    (``[^@]*``), but the URL masking stops the password at them and leaves it whole, in
    log lines and in ``flask bastion config``."""
    import sqlalchemy as sa

    url = f"postgresql+psycopg://app:{password}wordX@db.example/prod"
    assert sa.make_url(url).password == f"{password}wordX"  # a working URL
    assert f"{password}wordX" not in scrub(f"cannot connect to {url}")
    app = make_app(BASTION_SESSIONS_STORE="sql", BASTION_SESSIONS_URL=url)
    output = app.test_cli_runner().invoke(args=["bastion", "config"]).output
    assert "BASTION_SESSIONS_URL" in output
    assert f"{password}wordX" not in output


@pytest.mark.parametrize(
    "text",
    [
        "password=" + "a" * 200_000,
        'password="' + '\\"' * 100_000,
        "password='" + "a'" * 100_000,
        "token-" * 40_000,
        "a://" + "b:" * 100_000,
        "Bearer " + "a" * 200_000,
        "Digest " + "a=b," * 50_000,
        "cookie=" + "\\r" * 100_000,
        "https://x/?" + "password=&" * 20_000,
        "http_" * 40_000 + "cookie",
    ],
    ids=[
        "long-value",
        "escaped-quotes",
        "quote-runs",
        "key-words",
        "url-colons",
        "credential",
        "digest-params",
        "escaped-breaks",
        "url-params",
        "header-prefixes",
    ],
)
def test_scrubbing_stays_linear_on_hostile_lines(text: str) -> None:
    """Lines built to make the scrubbing patterns backtrack take milliseconds; a
    quadratic pattern would take minutes on 200 kB."""
    started = time.monotonic()
    scrub(text)
    assert time.monotonic() - started < 5.0


REQUEST_SECRETS = ("TOPSECRET1", "TOPSECRET2", "dXNlcjpUT1BTRUNSRVQz", "TOPSECRET4", "TOPSECRET5")


@pytest.mark.parametrize(
    "part",
    ["request", "headers", "cookies", "form", "args", "authorization", "environ", "values"],
)
@pytest.mark.parametrize("spelling", [repr, str], ids=["repr", "str"])
def test_logged_request_objects_are_scrubbed(part: str, spelling: Callable[[object], str]) -> None:
    """Logging a request, its headers, cookies, form or environ, as repr or str, leaves
    no token, cookie, credential, API key or password in the line."""
    app = make_app()
    with app.test_request_context(
        "/reset?token=TOPSECRET1&next=/x",
        base_url=HTTPS,
        method="POST",
        headers={
            "Cookie": "__Host-session=TOPSECRET2; theme=dark",
            "Authorization": "Basic dXNlcjpUT1BTRUNSRVQz",  # user:TOPSECRET3
            "X-Api-Key": "TOPSECRET4",
        },
        data={"password": "TOPSECRET5", "user": "alice"},
    ):
        target = request if part == "request" else getattr(request, part)
        line = scrub(spelling(target))
    assert [s for s in REQUEST_SECRETS if s in line] == []


def failing_views() -> Flask:
    app = make_app()
    text = f"cannot reach postgresql://app:{PASSWORD}@db/prod"

    class Maintenance(HTTPException):
        code = 503
        description = text

    class Unusual(HTTPException):
        code = 599
        description = text

    views: dict[str, Callable[[], t.Any]] = {
        "abort": lambda: abort(500, text),
        "abort-keyword": lambda: abort(502, description=text),
        "raised": lambda: (_ for _ in ()).throw(InternalServerError(description=text)),
        "subclass": lambda: (_ for _ in ()).throw(Maintenance()),
        "unknown-code": lambda: (_ for _ in ()).throw(Unusual()),
        "public-plus-text": lambda: abort(503, PublicText("down: ") + text),
        "public-format": lambda: abort(503, PublicText("down: {}").format(text)),
        "bytes": lambda: abort(500, text.encode()),
        "exception": lambda: (_ for _ in ()).throw(ValueError(text)),
    }
    for name, view in views.items():
        app.add_url_rule(f"/fail/{name}", name, view)
    return app


@pytest.mark.parametrize(
    "name",
    [
        "abort",
        "abort-keyword",
        "raised",
        "subclass",
        "unknown-code",
        "public-plus-text",
        "public-format",
        "bytes",
        "exception",
    ],
)
@pytest.mark.parametrize("accept", ["text/html", "application/json"], ids=["html", "json"])
def test_5xx_page_never_shows_the_application_text(name: str, accept: str) -> None:
    """However the application builds a 5xx, its text stays in the log."""
    response = (
        failing_views()
        .test_client()
        .get(f"/fail/{name}", base_url=HTTPS, headers={"Accept": accept})
    )
    assert response.status_code >= 500
    assert PASSWORD.encode() not in response.data


# == 9-10. Configuration validation and the checks ==========================================


def test_statement_timeout_postgresql_cannot_take_is_refused() -> None:
    """DEFECT: PostgreSQL's statement_timeout holds at most 2147483647 ms; a larger
    BASTION_STORES_STATEMENT_TIMEOUT is accepted at init_app, then every new
    connection is refused by the server, so every session write answers 503."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_STORES_STATEMENT_TIMEOUT=3_000_000)
    assert info.value.key == "BASTION_STORES_STATEMENT_TIMEOUT"


@pytest.mark.parametrize(
    "name", ["Connection", "Transfer-Encoding", "Content-Length", "Set-Cookie"]
)
def test_request_id_header_cannot_be_a_framing_header(name: str) -> None:
    """DEFECT: BASTION_ERRORS_REQUEST_ID_HEADER takes any header name and the request ID
    is added to every response under it: ``Connection`` is hop-by-hop (WSGI servers
    refuse the response), ``Transfer-Encoding`` and ``Content-Length`` break the
    framing, ``Set-Cookie`` sets a cookie on every response."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_ERRORS_REQUEST_ID_HEADER=name)
    assert info.value.key == "BASTION_ERRORS_REQUEST_ID_HEADER"


@pytest.mark.parametrize(
    "source",
    [
        "'self'\x00",
        "'self'\u00a0",
        "'self'\u2028'unsafe-inline'",
        "'NONCE-abc123'",
        "'nonce-abc123'",
        '"self"',
        "'self",
        "https://cdn.example;script-src",
        "https://cdn.example,",
        "self",
        "UNSAFE-INLINE",
        "https://cdn.exam ple",
    ],
    ids=[
        "nul",
        "nbsp",
        "line-separator",
        "fixed-nonce-upper",
        "fixed-nonce",
        "double-quotes",
        "unclosed-quote",
        "directive-injection",
        "policy-injection",
        "unquoted-keyword",
        "unquoted-keyword-upper",
        "space",
    ],
)
def test_csp_sources_outside_the_grammar_are_refused(source: str) -> None:
    with pytest.raises(ConfigurationError):
        load_config({}, {"csp_policy": {"script-src": [source]}})


def test_csp_keywords_are_normalised() -> None:
    config = load_config({}, {"csp_policy": {"script-src": "'NONCE' 'Strict-Dynamic'"}})
    assert config.csp.policy["script-src"] == ("'nonce'", "'strict-dynamic'")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("headers_permissions_policy", {"camera": ["SELF"]}),
        ("headers_permissions_policy", {"camera": ['"self"']}),
        ("headers_permissions_policy", {"camera": ["https://a.example,b"]}),
        ("headers_permissions_policy", {"cam era": []}),
        ("headers_permissions_policy", {"camera=(*), geolocation": []}),
        ("csp_report_to", 'https://a.example/"x'),
        ("csp_report_to", "https://a.example/;x"),
        ("csp_report_to", "https://a.example/r,x"),
        ("csp_report_to", "javascript:alert(1)"),
        ("csp_report_to", "//evil.example/r"),
        ("csp_report_uri", "https://a.example/r\n"),
        ("csrf_trusted_origins", "https://a.example/path"),
        ("csrf_trusted_origins", ["null"]),
        ("csrf_token_header", "X-CSRF-Token\r\nX"),
        ("sessions_cookie_name", "session; Domain=evil.example"),
    ],
    ids=[
        "pp-upper-self",
        "pp-quoted-self",
        "pp-list-injection",
        "pp-space",
        "pp-feature-injection",
        "report-to-quote",
        "report-to-semicolon",
        "report-to-comma",
        "report-to-javascript",
        "report-to-scheme-relative",
        "report-uri-newline",
        "origin-path",
        "origin-null",
        "token-header-crlf",
        "cookie-attributes",
    ],
)
def test_header_bound_settings_refuse_injection(key: str, value: object) -> None:
    with pytest.raises(ConfigurationError):
        load_config({}, {key: value})


@pytest.mark.parametrize(
    "value",
    ["1_000", "\u0663", "\u00b2", "+5", "5.0", "-0", "9" * 5000, True, 5.0],
    ids=["underscore", "arabic-digit", "superscript", "plus", "float-text", "minus-zero",
         "huge-text", "bool", "float"],
)  # fmt: skip
def test_integer_settings_take_plain_digits_only(value: object) -> None:
    with pytest.raises(Invalid):
        non_negative_int(value)


def test_integer_settings_tolerate_surrounding_whitespace() -> None:
    assert non_negative_int(" 5 ") == 5


@pytest.mark.parametrize(
    "cidrs",
    [
        ["::ffff:0:0/96"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["::/1", "8000::/1"],
        ["::ffff:0.0.0.0/97", "::ffff:128.0.0.0/97"],
        ["::/8"],
        ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
        ["::%eth0/0"],
    ],
    ids=["ipv4-mapped", "two-halves", "ipv6-halves", "mapped-halves", "reserved-block",
         "four-quarters", "zone-id"],
)  # fmt: skip
def test_trusted_networks_covering_everything_are_reported(cidrs: list[str]) -> None:
    app = make_app(BASTION_PROXY_TRUSTED_CIDRS=cidrs)
    assert "bastion.W061" in {m.id for m in run_checks(app)}


# == 11. SQL store against a server that answers byte by byte ================================


class DripProxy(StallingProxy):
    """A proxy to PostgreSQL that, once ``dripping`` is set, passes the server's answer
    on one byte at a time, each a little later: a server (or a network path) slow
    enough that no single read ever waits long."""

    #: Seconds between two bytes: well below every timeout, so a per-read timeout never
    #: fires; a handshake or result of a few hundred bytes then takes a minute.
    GAP = 0.15

    def __init__(self, target: tuple[str, int]) -> None:
        self.dripping = threading.Event()
        super().__init__(target)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        from_server = source.getpeername()[1] == self.target[1]
        with selectors.DefaultSelector() as selector:
            selector.register(source, selectors.EVENT_READ)
            while not self.closed.is_set():
                if not selector.select(timeout=0.2):
                    continue
                try:
                    data = source.recv(65536)
                    if not data:
                        return
                    if not (from_server and self.dripping.is_set()):
                        sink.sendall(data)
                        continue
                    for index in range(len(data)):
                        if self.closed.wait(self.GAP):  # the pace of the slow server
                            return
                        sink.sendall(data[index : index + 1])
                except OSError:
                    return


@pytest.fixture
def dripping_pg(pg_url: str) -> Iterator[tuple[str, DripProxy]]:
    import sqlalchemy as sa

    url = sa.make_url(pg_url)
    proxy = DripProxy((url.host or "127.0.0.1", url.port or 5432))
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


@pytest.mark.slow
def test_handshake_answered_byte_by_byte_is_bounded(dripping_pg: tuple[str, DripProxy]) -> None:
    """A database whose handshake trickles in never waits long for any one byte, but
    the connection is still given up after BASTION_SESSIONS_CONNECT_TIMEOUT in total."""
    url, proxy = dripping_pg
    proxy.dripping.set()
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=url,
        BASTION_SESSIONS_CONNECT_TIMEOUT=2,
        BASTION_SESSIONS_STATEMENT_TIMEOUT=1,
    )
    client = app.test_client()
    client.set_cookie(COOKIE, "A" * 43, domain="localhost")
    response, elapsed = timed(
        lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert elapsed < BOUND / 2


@pytest.mark.slow
def test_result_answered_byte_by_byte_is_bounded(dripping_pg: tuple[str, DripProxy]) -> None:
    """On an established connection, a result that trickles in is cut off by the
    client's deadline (statement timeout plus one second), which is absolute: each byte
    arriving does not extend it."""
    url, proxy = dripping_pg
    app = session_app(
        BASTION_SESSIONS_STORE="sql",
        BASTION_SESSIONS_URL=url,
        BASTION_SESSIONS_CONNECT_TIMEOUT=2,
        BASTION_SESSIONS_STATEMENT_TIMEOUT=1,
    )
    client = login(app)
    proxy.dripping.set()
    response, elapsed = timed(
        lambda: client.get("/read", base_url=HTTPS, headers={"Accept": "application/json"})
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert elapsed < BOUND / 2


# == 12. IPv6 zone IDs in forwarded addresses ================================================


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("FE80::1%en0", "fe80::1"),
        ("fe80::1%eth0%eth1", "192.0.2.1"),
        ("fe80::1%", "192.0.2.1"),
        ("fe80::1%et h0", "192.0.2.1"),
        ("fe80::1%\u0665", "192.0.2.1"),
        ("fe80::1%" + "a" * 16, "192.0.2.1"),
        ("1.2.3.4%eth0", "192.0.2.1"),
        ("[fe80::1%eth0]", "192.0.2.1"),
        ("fe80::1%eth0\x00", "192.0.2.1"),
        ("::ffff:1.2.3.4%eth0", str(ipaddress.ip_address("::ffff:1.2.3.4"))),
    ],
    ids=[
        "interface-name",
        "percent-encoded",
        "upper-case",
        "two-zones",
        "empty-zone",
        "space",
        "non-ascii-digit",
        "too-long",
        "ipv4-with-zone",
        "bracketed",
        "nul",
        "mapped",
    ],
)
def test_forwarded_zone_ids_never_pass_through(forwarded: str, expected: str) -> None:
    """A zone ID is dropped when it is a plain interface name; anything else makes the
    forwarded address malformed, and the peer's own address stays."""
    config = load_config({}, {"proxy_trusted_hops": 1})
    environ = {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": forwarded}
    ProxyTrust(config.proxy).resolve(environ)
    assert environ["REMOTE_ADDR"] == expected


# == 14. Retry-After on the session store's 503 ==============================================


class FailingStore:
    """A store whose every call fails, as an unreachable backend does."""

    def __getattr__(self, name: str) -> t.Any:
        def fail(*args: t.Any) -> t.Any:
            raise StoreError("session store: ConnectionError")

        return fail


@pytest.mark.parametrize(
    ("config", "accept"),
    [
        ({}, "text/html"),
        ({}, "application/json"),
        ({"BASTION_ERRORS_ENABLED": False}, "text/html"),
    ],
    ids=["html", "json", "error-pages-off"],
)
def test_store_read_failure_asks_clients_to_retry(config: dict[str, t.Any], accept: str) -> None:
    app = session_app(**config)
    interface(app).store = FailingStore()  # type: ignore[assignment]
    client = app.test_client()
    client.set_cookie(COOKIE, "A" * 43, domain="localhost")
    response = client.post("/write/k/v", base_url=HTTPS, headers={"Accept": accept})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in response.headers


# == The component pipeline ==================================================================


@pytest.mark.parametrize(
    "again", [Request, WerkzeugRequest], ids=["flask-request", "werkzeug-request"]
)
def test_view_parsing_the_environ_again_keeps_its_header_plan(again: type[t.Any]) -> None:
    """A Request built from the same environ during the view (a library parsing the
    request its own way) replaces ``environ["werkzeug.request"]``; the response layer
    must still find the view: a Flask Request there has no URL rule (the view's
    ``no-store`` would be lost), a werkzeug Request has no ``url_rule`` at all."""
    app = make_app()

    @app.get("/account")
    @no_store
    def account() -> str:
        again(request.environ)
        return "private"

    response = app.test_client().get("/account", base_url=HTTPS)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


class DenyAdmin:
    """An application component written like the built-in ones: a class whose instances
    are made from the configuration."""

    name = "deny_admin"
    stage = Stage.AUTHORIZE

    def __init__(self, config: t.Any) -> None:
        self.config = config

    def init_app(self, app: Flask) -> None:
        pass

    def before_request(self, request: Request, state: RequestState) -> None:
        if request.path.startswith("/admin"):
            raise Forbidden()


def test_component_class_is_a_factory() -> None:
    """A component class passed like the built-ins (a factory taking the configuration)
    is made into a component, not taken for one: as a class it has every attribute
    the protocol asks for, and its methods would be called unbound."""
    app = Flask("component_factory")
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )

    @app.get("/admin")
    def admin() -> str:
        return "admin"

    Bastion(app, components=[DenyAdmin])
    assert app.test_client().get("/admin", base_url=HTTPS).status_code == 403


def test_application_component_cannot_run_before_the_input_stage() -> None:
    """An application component at the first stage runs after the built-in ones of that
    stage (the debugger guard, the input checks), never before them."""

    class Early(DenyAdmin):
        name = "early"
        stage = Stage.INPUT

    app = make_app(bastion={"components": [Early(None)]})
    from flask_bastion import get_state

    names = get_state(app).components.names
    assert names.index("early") > names.index("debugger")
    assert names.index("early") > names.index("errors")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/form", {"Cookie": "remember=1"}),
        ("/nowhere", {}),
    ],
    ids=["csrf-refusal", "not-found"],
)
def test_refusals_carry_the_security_headers(path: str, headers: dict[str, str]) -> None:
    """A refused request's page gets the same headers, CSP and request ID as any page."""
    client = make_app().test_client(use_cookies=False)
    response = client.post(path, base_url=HTTPS, headers=headers)
    assert response.status_code in (403, 404)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "'nonce-" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"]
    assert "Accept" in response.headers["Vary"]


def test_exempt_marks_do_not_leak_through_https_exempt_blueprints() -> None:
    """https_exempt on a health-check blueprint leaves the application's other routes,
    including one named like the blueprint's, redirected to HTTPS."""
    app = Flask("https_exempt_attack")
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )
    health = Blueprint("health", __name__)

    @health.get("/ping")
    def ping() -> str:
        return "pong"

    https_exempt(health)
    app.register_blueprint(health, url_prefix="/health")
    app.add_url_rule("/admin", "health.admin", lambda: "admin")
    Bastion(app)
    client = app.test_client()
    assert client.get("/health/ping", base_url="http://localhost").status_code == 200
    assert client.get("/admin", base_url="http://localhost").status_code == 308


@pytest.mark.parametrize("source", ["*.com", "https://*.com", "*.org:443"])
def test_w055_fires_for_a_wildcard_over_a_whole_top_level_domain(source: str) -> None:
    """DEFECT: ``*.com`` in script-src admits a script from any host anyone can register
    under .com, as good as ``*``, yet bastion.W055 stays silent."""
    app = make_app(BASTION_CSP_POLICY={"script-src": ["'self'", source]})
    assert "bastion.W055" in {m.id for m in run_checks(app)}


def test_checks_see_a_view_that_allows_inline_script() -> None:
    """DEFECT: ``@csp(script_src=[..., "'unsafe-inline'"])`` undoes the CSP for one view,
    but the CSP checks read only the configuration: ``check --deploy`` passes."""
    from flask_bastion import csp

    app = make_app()

    @app.get("/legacy")
    @csp(script_src=["'self'", "'unsafe-inline'"])
    def legacy() -> str:
        return "legacy"

    assert "bastion.W053" in {m.id for m in run_checks(app, deploy=True)}
