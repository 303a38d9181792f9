"""Safe errors: error pages and problem documents, and request IDs."""

from __future__ import annotations

import logging
import re
import secrets
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from blinker import Signal
from flask import Flask, Response, abort, request
from jinja2 import DictLoader
from markupsafe import escape
from werkzeug.exceptions import HTTPException, ServiceUnavailable, Unauthorized, default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from flask_bastion import ConfigurationError, errors, signals
from flask_bastion.config import DEVELOPMENT
from flask_bastion.exceptions import SessionStoreUnavailable
from flask_bastion.sessions.interface import REASON_READ_FAILED
from flask_bastion.sessions.store import StoreError

from .conftest import HTTPS, make_app

#: Words that give away the stack; none may appear in any error body.
INTERNALS = ("werkzeug", "flask", "traceback", "python/")
GENERATED_ID = re.compile(r"[0-9a-f]{24}")
FORWARDED_ID = "edge-7f3a.req:42_x"
VIEW_LOGGER = "tests.view"


def make_error_app(*, bastion: dict[str, t.Any] | None = None, **config: t.Any) -> Flask:
    """``make_app()`` plus routes that abort, parse JSON, need a form field, echo a path
    segment and log."""
    app = make_app(bastion=bastion, **config)

    @app.get("/abort/<int:code>")
    def abort_with(code: int) -> t.NoReturn:
        abort(code)

    @app.post("/json")
    def parse_json() -> dict[str, t.Any]:
        return {"json": request.get_json()}

    @app.post("/upload")
    def upload() -> dict[str, str]:
        return {"name": request.form["name"]}

    @app.get("/echo/<name>")
    def echo(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/log")
    def log() -> str:
        app.logger.warning("from the app logger")
        logging.getLogger(VIEW_LOGGER).warning("from another logger")
        return "logged"

    return app


@pytest.fixture
def app() -> Flask:
    return make_error_app()


@contextmanager
def received(signal: Signal, app: Flask) -> Iterator[list[dict[str, t.Any]]]:
    """The keyword arguments of every ``signal`` that ``app`` sends inside the block."""
    calls: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **kwargs: t.Any) -> None:
        calls.append(kwargs)

    with signal.connected_to(receiver, sender=app):
        yield calls


def assert_no_internals(body: str) -> None:
    lowered = body.lower()
    for word in INTERNALS:
        assert word not in lowered, f"{word!r} in error body"


def with_error_template(app: Flask, source: str) -> Flask:
    """``app`` with its own ``bastion/error.html``."""
    app.jinja_loader = DictLoader({"bastion/error.html": source})
    return app


def records_of(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


# -- error pages -----------------------------------------------------------------------

ERROR_CODES = [400, 401, 403, 404, 405, 409, 410, 413, 415, 418, 422, 429, 431]
ERROR_CODES += [500, 501, 502, 503, 504, 505]


@pytest.mark.parametrize("code", ERROR_CODES, ids=str)
def test_error_page_is_safe_html(client: t.Any, code: int) -> None:
    """Every 4xx/5xx is an HTML page with status, title and request ID, and no internals."""
    response = client.get(f"/abort/{code}", base_url=HTTPS)
    body = response.get_data(as_text=True)
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert f"{code} {escape(HTTP_STATUS_CODES[code])}" in body
    assert response.headers["X-Request-ID"] in body
    assert_no_internals(body)


@pytest.mark.parametrize("code", ERROR_CODES, ids=str)
def test_error_is_problem_json_for_json_clients(client: t.Any, code: int) -> None:
    """Every 4xx/5xx is an RFC 9457 problem document when the client asks for JSON."""
    response = client.get(f"/abort/{code}", base_url=HTTPS, headers={"Accept": "application/json"})
    assert response.status_code == code
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["type"] == "about:blank"
    assert problem["title"] == HTTP_STATUS_CODES[code]
    assert problem["status"] == code
    assert isinstance(problem["detail"], str)
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert_no_internals(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("headers", "json_body", "mimetype"),
    [
        ({}, None, "text/html"),
        ({"Accept": "text/html"}, None, "text/html"),
        ({"Accept": "*/*"}, None, "text/html"),
        ({"Accept": "text/html, application/json"}, None, "text/html"),
        ({"Accept": "application/json"}, None, "application/problem+json"),
        ({"Accept": "application/problem+json"}, None, "application/problem+json"),
        ({"Accept": "text/html;q=0.5, application/json"}, None, "application/problem+json"),
        ({}, {"a": 1}, "application/problem+json"),
        ({"Accept": "text/html"}, {"a": 1}, "text/html"),
    ],
    ids=[
        "no-accept",
        "html",
        "anything",
        "html-first",
        "json",
        "problem-json",
        "json-preferred",
        "json-request-no-accept",
        "json-request-accepts-html",
    ],
)
def test_error_format_follows_accept(
    client: t.Any, headers: dict[str, str], json_body: t.Any, mimetype: str
) -> None:
    """HTML or problem JSON is chosen by Accept; a JSON request defaults to JSON."""
    response = client.get("/missing", base_url=HTTPS, headers=headers, json=json_body)
    assert response.status_code == 404
    assert response.mimetype == mimetype


@pytest.mark.parametrize("accept", ["text/html", "application/json"], ids=["html", "json"])
def test_405_keeps_allow_header(client: t.Any, accept: str) -> None:
    """The 405 page keeps the Allow header that lists the view's methods."""
    response = client.put("/", base_url=HTTPS, headers={"Accept": accept})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    ("path", "options", "status"),
    [
        ("/missing", {}, 404),
        ("/boom", {}, 500),
        ("/abort/503", {}, 503),
        ("/", {"environ_overrides": {"PATH_INFO": "/\xff"}}, 400),
        ("/", {"headers": {"X-Padding": "a" * 20_000}}, 431),
    ],
    ids=["404", "500", "503", "rejected-400", "rejected-431"],
)
def test_error_responses_carry_security_headers(
    client: t.Any, path: str, options: dict[str, t.Any], status: int
) -> None:
    """Error responses, 500s and rejections included, get the security headers and CSP."""
    response = client.get(path, base_url=HTTPS, **options)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_custom_error_template_is_used() -> None:
    """An application's own bastion/error.html replaces the built-in page."""
    app = with_error_template(make_error_app(), "custom {{ code }} {{ title }} {{ request_id }}")
    response = app.test_client().get("/missing", base_url=HTTPS)
    assert response.status_code == 404
    assert response.get_data(as_text=True) == (
        f"custom 404 Not Found {response.headers['X-Request-ID']}"
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [("/missing", 404), ("/boom", 500), ("/abort/503", 503)],
    ids=["404", "500", "503"],
)
@pytest.mark.parametrize(
    "source",
    ["{{ 1 / 0 }}", "{% if %}", "{% extends 'missing.html' %}"],
    ids=["raises", "syntax-error", "missing-parent"],
)
def test_broken_error_template_falls_back_with_status_kept(
    path: str, status: int, source: str
) -> None:
    """A broken override falls back to the built-in page; the status is not changed."""
    app = with_error_template(make_error_app(), source)
    response = app.test_client().get(path, base_url=HTTPS)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert f"<h1>{status} {HTTP_STATUS_CODES[status]}</h1>" in body
    assert response.headers["X-Request-ID"] in body
    assert_no_internals(body)


def test_broken_error_template_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The failure of an override is logged with its traceback, under the request ID."""
    app = with_error_template(make_error_app(), "{{ 1 / 0 }}")
    response = app.test_client().get("/missing", base_url=HTTPS)
    (record,) = records_of(caplog, app.logger.name)
    assert record.levelno == logging.ERROR
    assert "error template failed" in record.getMessage()
    assert "ZeroDivisionError" in (record.exc_text or "")
    assert record.request_id == response.headers["X-Request-ID"]


def test_app_error_handler_wins() -> None:
    """An application's own @app.errorhandler(404) wins over Bastion's page."""
    app = make_error_app()

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return "our own not found page", 404

    response = app.test_client().get("/missing", base_url=HTTPS)
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "our own not found page"


def test_http_exception_with_its_own_response_keeps_it() -> None:
    """An HTTPException carrying a response is sent as is, not as Bastion's page."""
    app = make_error_app()

    @app.get("/private")
    def private() -> t.NoReturn:
        raise Unauthorized(response=Response("log in first", 401))

    response = app.test_client().get("/private", base_url=HTTPS)
    assert response.status_code == 401
    assert response.get_data(as_text=True) == "log in first"


# -- unhandled exceptions --------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/html", "application/json"], ids=["html", "json"])
def test_unhandled_exception_is_500_without_exception_text(client: t.Any, accept: str) -> None:
    """An unhandled exception is a 500 with the request ID, never the exception text."""
    response = client.get("/boom", base_url=HTTPS, headers={"Accept": accept})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] in body
    for leak in ("RuntimeError", "password", "hunter2", "exploded"):
        assert leak not in body
    assert_no_internals(body)


def test_unhandled_exception_traceback_is_logged_with_request_id(
    client: t.Any, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The traceback goes to the app logger, tagged with the response's request ID."""
    response = client.get("/boom", base_url=HTTPS)
    (record,) = [r for r in records_of(caplog, app.logger.name) if r.exc_text]
    assert record.levelno == logging.ERROR
    assert record.request_id == response.headers["X-Request-ID"]
    assert "Traceback" in caplog.text
    assert "RuntimeError" in caplog.text


def test_unhandled_exception_log_is_scrubbed(
    client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The logged traceback has the password redacted."""
    client.get("/boom", base_url=HTTPS)
    assert "password=[redacted]" in caplog.text
    assert "hunter2" not in caplog.text


def test_unhandled_exception_sends_server_error(app: Flask, client: t.Any) -> None:
    """signals.server_error is sent with the exception and the request ID."""
    with received(signals.server_error, app) as calls:
        response = client.get("/boom", base_url=HTTPS)
    (call,) = calls
    assert isinstance(call["exception"], RuntimeError)
    assert call["request_id"] == response.headers["X-Request-ID"]


def test_abort_500_sends_no_server_error(app: Flask, client: t.Any) -> None:
    """An explicit abort(500) is the view's choice, not an unhandled exception."""
    with received(signals.server_error, app) as calls:
        response = client.get("/abort/500", base_url=HTTPS)
    assert response.status_code == 500
    assert calls == []


# -- application text on 5xx pages -------------------------------------------------------

#: What a view might pass to abort(): a developer's message naming a database URL.
APP_TEXT = "cannot reach postgresql://app:s3cret@db.internal:5432/prod"
APP_TEXT_PARTS = ("cannot reach", "postgresql", "s3cret", "db.internal")
PUBLIC_TEXT = "Down for maintenance until 14:00 UTC."
SERVER_CODES = list(range(500, 512))
ACCEPTS = pytest.mark.parametrize("accept", ["text/html", "application/json"], ids=["html", "json"])


class StatusError(HTTPException):
    """An error with any status, as an application defines one for 507 or 511."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code


class Maintenance(ServiceUnavailable):
    """An application's own 503 whose text is written for users."""

    description = errors.PublicText(PUBLIC_TEXT)


def fail_with(code: int, description: str, **kwargs: t.Any) -> t.NoReturn:
    """abort() for the statuses werkzeug knows, an HTTPException subclass for the rest."""
    if code in default_exceptions:
        abort(code, description, **kwargs)
    raise StatusError(code, description)


def server_error_app() -> Flask:
    """An app whose views end in 5xx responses with application text, marked or not."""
    app = make_error_app()

    @app.get("/fail/<int:code>")
    def fail(code: int) -> t.NoReturn:
        fail_with(code, APP_TEXT)

    @app.get("/public/<int:code>")
    def public(code: int) -> t.NoReturn:
        fail_with(code, errors.PublicText(PUBLIC_TEXT))

    @app.get("/retry/<kind>")
    def retry(kind: str) -> t.NoReturn:
        text = errors.PublicText(PUBLIC_TEXT) if kind == "public" else APP_TEXT
        abort(503, text, retry_after=120)

    @app.get("/maintenance")
    def maintenance() -> t.NoReturn:
        raise Maintenance()

    @app.get("/markup")
    def markup() -> t.NoReturn:
        abort(503, errors.PublicText("<b>back soon</b>"))

    @app.get("/store-down")
    def store_down() -> t.NoReturn:
        raise SessionStoreUnavailable()

    @app.get("/conflict")
    def conflict() -> t.NoReturn:
        abort(409, "The note was changed in another tab.")

    return app


def detail_of(response: t.Any) -> str:
    """The problem document's detail, or the HTML body."""
    if response.mimetype == "application/problem+json":
        return str(response.json["detail"])
    return str(response.get_data(as_text=True))


@ACCEPTS
@pytest.mark.parametrize("code", SERVER_CODES, ids=str)
def test_server_error_hides_application_text(code: int, accept: str) -> None:
    """No 5xx, from 500 to 511, shows the text the view passed with it."""
    response = (
        server_error_app()
        .test_client()
        .get(f"/fail/{code}", base_url=HTTPS, headers={"Accept": accept})
    )
    assert response.status_code == code
    body = response.get_data(as_text=True)
    for part in APP_TEXT_PARTS:
        assert part not in body
    assert response.headers["X-Request-ID"] in body


@ACCEPTS
@pytest.mark.parametrize("code", SERVER_CODES, ids=str)
def test_server_error_shows_public_text(code: int, accept: str) -> None:
    """Text marked PublicText is shown on every 5xx."""
    response = (
        server_error_app()
        .test_client()
        .get(f"/public/{code}", base_url=HTTPS, headers={"Accept": accept})
    )
    assert response.status_code == code
    assert PUBLIC_TEXT in detail_of(response)


@pytest.mark.parametrize("code", [500, 503, 507], ids=str)
def test_hidden_server_error_text_is_logged_scrubbed(
    caplog: pytest.LogCaptureFixture, code: int
) -> None:
    """The withheld text reaches the server log, with the request ID and the URL's
    password masked."""
    app = server_error_app()
    response = app.test_client().get(f"/fail/{code}", base_url=HTTPS)
    (record,) = records_of(caplog, app.logger.name)
    assert record.levelno == logging.ERROR
    assert record.request_id == response.headers["X-Request-ID"]
    assert "postgresql://app:***@db.internal:5432/prod" in record.getMessage()
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("kind", ["hidden", "public"])
def test_server_error_keeps_retry_after(kind: str) -> None:
    """Retry-After from abort(503, ..., retry_after=...) is sent, text shown or not."""
    response = server_error_app().test_client().get(f"/retry/{kind}", base_url=HTTPS)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "120"
    assert (PUBLIC_TEXT in response.get_data(as_text=True)) is (kind == "public")
    assert "s3cret" not in response.get_data(as_text=True)


@ACCEPTS
def test_exception_class_with_public_description_is_shown(accept: str) -> None:
    """An exception class whose description is PublicText shows it."""
    response = (
        server_error_app()
        .test_client()
        .get("/maintenance", base_url=HTTPS, headers={"Accept": accept})
    )
    assert response.status_code == 503
    assert PUBLIC_TEXT in detail_of(response)


def test_public_text_is_escaped() -> None:
    """Public text is text, not markup: the HTML page escapes it."""
    response = server_error_app().test_client().get("/markup", base_url=HTTPS)
    body = response.get_data(as_text=True)
    assert "&lt;b&gt;back soon&lt;/b&gt;" in body
    assert "<b>back soon" not in body


@ACCEPTS
def test_bastion_rejection_5xx_shows_its_reason(accept: str) -> None:
    """Flask-Bastion's own 503 (session store down) shows its reason: the text is ours."""
    response = (
        server_error_app()
        .test_client()
        .get("/store-down", base_url=HTTPS, headers={"Accept": accept})
    )
    assert response.status_code == 503
    assert SessionStoreUnavailable().reason in detail_of(response)


def test_abort_5xx_without_text_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """abort(503) without text shows werkzeug's description and logs no withheld text."""
    app = server_error_app()
    response = app.test_client().get("/abort/503", base_url=HTTPS)
    assert str(ServiceUnavailable.description) in response.get_data(as_text=True)
    assert records_of(caplog, app.logger.name) == []


def test_client_error_text_is_shown() -> None:
    """A 4xx keeps the view's text: it describes the client's request."""
    response = (
        server_error_app()
        .test_client()
        .get("/conflict", base_url=HTTPS, headers={"Accept": "application/json"})
    )
    assert response.status_code == 409
    assert response.json["detail"] == "The note was changed in another tab."


# -- session store outages -------------------------------------------------------------

UNREACHABLE_STORES = [
    pytest.param(
        "sql",
        "postgresql+psycopg://app:s3cret@127.0.0.1:1/prod?connect_timeout=2",
        "OperationalError",
        id="sql",
    ),
    pytest.param("redis", "redis://:s3cret@127.0.0.1:1/0", "ConnectionError", id="redis"),
]


@pytest.mark.parametrize(("store", "url", "error"), UNREACHABLE_STORES)
def test_store_outage_shows_and_logs_no_store_url(
    caplog: pytest.LogCaptureFixture, store: str, url: str, error: str
) -> None:
    """An unreachable session store gives a 503 whose page and log lines name neither
    the store's address nor its password."""
    app = make_error_app(BASTION_SESSIONS_STORE=store, BASTION_SESSIONS_URL=url)
    client = app.test_client()
    client.set_cookie("__Host-session", secrets.token_urlsafe(32), domain="localhost")
    response = client.get("/", base_url=HTTPS, headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.json["detail"] == REASON_READ_FAILED
    assert any(getattr(r, "event", "") == "session.store_unavailable" for r in caplog.records)
    for part in ("s3cret", "127.0.0.1:1", "Connection refused"):
        assert part not in response.get_data(as_text=True)
        assert part not in caplog.text


@pytest.mark.parametrize(("store", "url", "error"), UNREACHABLE_STORES)
def test_store_error_names_only_the_exception_type(store: str, url: str, error: str) -> None:
    """A store error says which kind of failure it was and nothing else: the driver's
    message (hosts, ports, URLs) is neither in it nor chained to it."""
    app = make_error_app(BASTION_SESSIONS_STORE=store, BASTION_SESSIONS_URL=url)
    with pytest.raises(StoreError) as info:
        app.session_interface.store.get("0" * 64)
    assert str(info.value) == f"session store: {error}"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


# -- request IDs -----------------------------------------------------------------------


def test_request_id_is_generated(client: t.Any) -> None:
    """Each response carries a generated request ID of 24 hex characters."""
    response = client.get("/", base_url=HTTPS)
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


def test_request_ids_are_unique(client: t.Any) -> None:
    """Two requests get two different IDs."""
    first = client.get("/", base_url=HTTPS).headers["X-Request-ID"]
    second = client.get("/", base_url=HTTPS).headers["X-Request-ID"]
    assert first != second


def forwarded(value: str) -> dict[str, t.Any]:
    """Request options sending ``value`` as X-Request-ID (raw, so newlines get through)."""
    return {"environ_overrides": {"HTTP_X_REQUEST_ID": value}}


@pytest.mark.parametrize(
    ("bastion", "config", "peer"),
    [
        ({"proxy_trusted_hops": 1}, {}, "192.0.2.1"),
        ({}, {"BASTION_PROXY_TRUSTED_CIDRS": ["10.0.0.0/8"]}, "10.1.2.3"),
    ],
    ids=["trusted-hops", "trusted-cidr-peer"],
)
def test_request_id_from_trusted_proxy_is_used(
    bastion: dict[str, t.Any], config: dict[str, t.Any], peer: str
) -> None:
    """A well-formed X-Request-ID from a trusted proxy is reused everywhere."""
    client = make_error_app(bastion=bastion, **config).test_client()
    response = client.get(
        "/missing",
        base_url=HTTPS,
        environ_base={"REMOTE_ADDR": peer},
        headers={"Accept": "application/json"},
        **forwarded(FORWARDED_ID),
    )
    assert response.headers["X-Request-ID"] == FORWARDED_ID
    assert response.json["request_id"] == FORWARDED_ID


@pytest.mark.parametrize(
    "value",
    ["abcdefgh", "a" * 128, "A-Z.a-z:0_9"],
    ids=["8-chars", "128-chars", "every-allowed-punctuation"],
)
def test_well_formed_request_ids_are_accepted(value: str) -> None:
    """IDs of 8 to 128 characters of [A-Za-z0-9._:-] are taken from a trusted proxy."""
    client = make_error_app(bastion={"proxy_trusted_hops": 1}).test_client()
    response = client.get("/", base_url=HTTPS, **forwarded(value))
    assert response.headers["X-Request-ID"] == value


@pytest.mark.parametrize(
    ("bastion", "config", "peer"),
    [
        ({}, {}, "10.1.2.3"),
        ({}, {"BASTION_PROXY_TRUSTED_CIDRS": ["10.0.0.0/8"]}, "192.0.2.1"),
    ],
    ids=["no-proxy-trust", "peer-outside-trusted-cidr"],
)
def test_request_id_from_untrusted_peer_is_ignored(
    bastion: dict[str, t.Any], config: dict[str, t.Any], peer: str
) -> None:
    """X-Request-ID from a peer that is not a trusted proxy is replaced."""
    client = make_error_app(bastion=bastion, **config).test_client()
    response = client.get(
        "/", base_url=HTTPS, environ_base={"REMOTE_ADDR": peer}, **forwarded(FORWARDED_ID)
    )
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abcdefg",
        "a" * 129,
        "has space 1234",
        "abcd\nefgh",
        "abcdefgh-1234\n",
        "abcdefgh\r\nSet-Cookie: x=1",
        "abc/def/ghi",
        "\xe9" * 10,
        "<script>alert(1)</script>",
    ],
    ids=[
        "empty",
        "too-short",
        "too-long",
        "space",
        "newline",
        "trailing-newline",
        "header-injection",
        "slash",
        "non-ascii",
        "markup",
    ],
)
def test_malformed_request_id_is_ignored(value: str) -> None:
    """A malformed X-Request-ID is replaced even from a trusted proxy."""
    client = make_error_app(bastion={"proxy_trusted_hops": 1}).test_client()
    response = client.get("/", base_url=HTTPS, **forwarded(value))
    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


# -- configuration ---------------------------------------------------------------------


def test_production_profile_refuses_debug() -> None:
    """DEBUG under the production profile raises ConfigurationError naming DEBUG."""
    with pytest.raises(ConfigurationError, match="DEBUG") as info:
        make_app(DEBUG=True)
    assert info.value.key == "DEBUG"


def test_development_profile_allows_debug() -> None:
    """The development profile allows DEBUG."""
    app = make_app(DEBUG=True, BASTION_PROFILE=DEVELOPMENT)
    assert app.debug is True


@pytest.mark.parametrize("accept", [None, "*/*", "text/html"], ids=["none", "any", "html"])
def test_problem_json_views_answer_json_whatever_the_accept(accept: str | None) -> None:
    """@problem_json on a view or a blueprint: its errors are problem documents for any
    Accept; the other views still answer a browser with a page."""
    from flask import Blueprint

    from flask_bastion import Bastion, problem_json

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 32, TRUSTED_HOSTS=["localhost"])
    app.config["BASTION_SESSIONS_STORE"] = "memory"
    api = problem_json(Blueprint("api", __name__, url_prefix="/api"))

    @api.get("/missing")
    def missing() -> t.Any:
        abort(404)

    @app.get("/one")
    @problem_json
    def one() -> t.Any:
        abort(422)

    @app.get("/page")
    def page() -> t.Any:
        abort(404)

    app.register_blueprint(api)
    Bastion(app)
    client = app.test_client()
    headers = {"Accept": accept} if accept else {}
    for path, code in (("/api/missing", 404), ("/one", 422)):
        response = client.get(path, base_url=HTTPS, headers=headers)
        assert response.status_code == code
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == code
    html = client.get("/page", base_url=HTTPS, headers={"Accept": "text/html"})
    assert html.mimetype == "text/html"
