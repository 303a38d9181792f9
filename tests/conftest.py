"""Shared fixtures: a ``make_app(**config)`` factory and the Pallets-style trio."""

from __future__ import annotations

import os
import secrets
import typing as t
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from flask_bastion import Bastion

from .clamav import PrivateClamd, clamd_available, start_private_clamd
from .smtp import Mode, SMTPServer, TestCA
from .smtp import smtp_server as run_smtp_server

SECRET = "3f9a1c7e5b2d8f4a6c0e9b7d5f3a1c8e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"
HTTPS = "https://localhost"

PAGE = """<!doctype html><title>t</title>
<script nonce="{{ csp_nonce() }}">document.title = "ok";</script>
<form method="post"><input name="q"></form>"""


def make_app(
    *, bastion: dict[str, t.Any] | None = None, default_store: bool = False, **config: t.Any
) -> Flask:
    """A small app with a page, a JSON route, a form route and a failing route.

    ``config`` goes to ``app.config`` (upper-case keys); ``bastion`` to the constructor.
    Unit tests keep sessions in memory (tests/test_sessions.py runs the real stores);
    ``default_store=True`` leaves ``BASTION_SESSIONS_STORE`` at its default, the SQL store,
    on an in-memory SQLite database, as a deployment with every default would run.
    """
    app = Flask(__name__)
    defaults: dict[str, t.Any] = {"SECRET_KEY": SECRET, "TRUSTED_HOSTS": ["localhost"]}
    if default_store:
        defaults["DATABASE_URL"] = "sqlite://"
    else:
        defaults["BASTION_SESSIONS_STORE"] = "memory"
    app.config.update({**defaults, **config})

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE)

    @app.get("/api/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.route("/form", methods=["GET", "POST"])
    def form() -> dict[str, t.Any]:
        from flask import request

        return {"form": request.form.to_dict(), "args": request.args.to_dict()}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("database password=hunter2 exploded")

    Bastion(app, **(bastion or {}))
    OPEN_APPS.append(app)
    return app


class BrowserClient(FlaskClient):
    """A test client that sends what a current browser sends on same-origin requests."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"


#: Apps whose session stores are closed after each test (pooled connections, sockets).
OPEN_APPS: list[Flask] = []


@pytest.fixture(autouse=True)
def _close_session_stores() -> Iterator[None]:
    yield
    while OPEN_APPS:
        app = OPEN_APPS.pop()
        store = getattr(app.session_interface, "store", None)
        close = getattr(getattr(store, "inner", store), "close", None)
        if close is not None:
            close()
        state = app.extensions.get("bastion")
        if state is not None:
            state.stores.close()


@pytest.fixture
def app_factory() -> Callable[..., Flask]:
    return make_app


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> t.Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> t.Any:
    return app.test_cli_runner()


def service_url(name: str) -> str:
    """``DATABASE_URL`` / ``REDIS_URL``, skipping the test when unset, failing instead
    under ``BASTION_REQUIRE_SERVICES=1`` (CI), so a service test never silently skips."""
    url = os.environ.get(name)
    if url:
        return url
    message = f"{name} is not set"
    if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} but BASTION_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a private schema, dropped afterwards."""
    url = service_url("DATABASE_URL")
    schema = f"bastion_test_{secrets.token_hex(6)}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    try:
        yield (
            sa.make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with engine.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        engine.dispose()


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """The shared Redis URL and a private key prefix, whose keys are deleted afterwards."""
    import redis

    url = service_url("REDIS_URL")
    prefix = f"bastion-test:{secrets.token_hex(6)}:"
    yield url, prefix
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def store_config(request: pytest.FixtureRequest, tmp_path: t.Any) -> dict[str, t.Any]:
    """App config selecting each store in turn."""
    return _store_config(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def shared_store_config(request: pytest.FixtureRequest, tmp_path: t.Any) -> dict[str, t.Any]:
    """App config selecting each store that several processes can share."""
    return _store_config(request, tmp_path)


def _store_config(request: pytest.FixtureRequest, tmp_path: t.Any) -> dict[str, t.Any]:
    if request.param == "memory":
        return {"BASTION_SESSIONS_STORE": "memory"}
    if request.param == "sqlite":
        return {
            "BASTION_SESSIONS_STORE": "sql",
            "BASTION_SESSIONS_URL": f"sqlite:///{tmp_path}/s.db",
        }
    if request.param == "postgresql":
        return {
            "BASTION_SESSIONS_STORE": "sql",
            "BASTION_SESSIONS_URL": request.getfixturevalue("pg_url"),
        }
    url, prefix = request.getfixturevalue("redis_prefix")
    return {
        "BASTION_SESSIONS_STORE": "redis",
        "BASTION_SESSIONS_URL": url,
        "BASTION_SESSIONS_KEY_PREFIX": prefix,
    }


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A certificate authority and the certificate it issued for 127.0.0.1 and
    localhost; ``smtp_ca.ca_file`` is what a client trusts."""
    return TestCA(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, plain, without AUTH:
    ``smtp_server.url`` is ``smtp://127.0.0.1:PORT``, ``smtp_server.messages`` the
    :class:`email.message.EmailMessage` objects it accepted, ``smtp_server.clear()``
    forgets them."""
    with run_smtp_server() as server:
        yield server


SMTPFactory = Callable[..., SMTPServer]


@pytest.fixture
def smtp_factory(smtp_ca: TestCA) -> Iterator[SMTPFactory]:
    """Start SMTP servers for this test: ``smtp_factory("starttls", credentials=("u",
    "p"))``; modes ``"plain"``, ``"starttls"`` and ``"smtps"``, TLS certificates from
    :func:`smtp_ca` (``server.ca_file``). Each stops when the test ends."""
    with ExitStack() as stack:

        def start(
            mode: Mode = "plain", *, credentials: tuple[str, str] | None = None
        ) -> SMTPServer:
            return stack.enter_context(run_smtp_server(mode, ca=smtp_ca, credentials=credentials))

        yield start


@pytest.fixture(scope="session")
def clamd() -> Iterator[PrivateClamd]:
    """A private clamd on the test signature database (:mod:`tests.clamav`), for the
    whole session. Skips without Debian's clamav-daemon, failing instead under
    ``BASTION_REQUIRE_SERVICES=1``."""
    require_clamd()
    yield from start_private_clamd()


@pytest.fixture
def own_clamd() -> Iterator[PrivateClamd]:
    """A private clamd of the test's own, which the test may stop."""
    require_clamd()
    yield from start_private_clamd()


def require_clamd() -> None:
    """Skip (or fail under ``BASTION_REQUIRE_SERVICES=1``) when clamd is not installed."""
    if clamd_available():
        return
    message = "clamd is not installed (Debian's clamav-daemon; make test installs it)"
    if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} but BASTION_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)
