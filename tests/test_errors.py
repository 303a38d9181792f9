"""Safe errors: error pages and problem documents, request IDs, log scrubbing, request
limits and the rejection of malformed requests."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import time
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
from flask_bastion.config import DEVELOPMENT, ErrorsConfig
from flask_bastion.exceptions import SessionStoreUnavailable
from flask_bastion.sessions.interface import REASON_READ_FAILED
from flask_bastion.sessions.store import StoreError

from .conftest import HTTPS, make_app

#: Limits of the test app, small enough to exceed in a test and large enough to leave
#: room for the JSON nesting cases (60 KB).
MAX_BODY = 64 * 1024
MAX_FORM_MEMORY = 8 * 1024
MAX_PARTS = 10

#: Words that give away the stack; none may appear in any error body.
INTERNALS = ("werkzeug", "flask", "traceback", "python/")
GENERATED_ID = re.compile(r"[0-9a-f]{24}")
FORWARDED_ID = "edge-7f3a.req:42_x"
SECURITY_LOGGER = errors.security_log.name
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
    """The test app, with request limits small enough to exceed in a test."""
    return make_error_app(
        BASTION_ERRORS_MAX_CONTENT_LENGTH=MAX_BODY,
        BASTION_ERRORS_MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY,
        BASTION_ERRORS_MAX_FORM_PARTS=MAX_PARTS,
    )


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
    (record,) = [r for r in records_of(caplog, app.logger.name) if r.exc_info]
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


def test_app_log_lines_carry_request_id(
    client: t.Any, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """A line logged on the app logger during a request has the request's ID."""
    response = client.get("/log", base_url=HTTPS)
    (record,) = records_of(caplog, app.logger.name)
    assert record.request_id == response.headers["X-Request-ID"]


def test_rejection_log_line_carries_request_id(
    client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The security log line of a rejection has the ID shown on the 400 page."""
    response = client.get("/", base_url=HTTPS, environ_overrides={"PATH_INFO": "/\xff"})
    (record,) = records_of(caplog, SECURITY_LOGGER)
    assert record.request_id == response.headers["X-Request-ID"]
    assert record.request_id in response.get_data(as_text=True)


def test_log_filter_on_a_handler_tags_every_logger(
    client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """LogFilter on a handler tags lines from any logger with the request ID."""
    caplog.handler.addFilter(errors.LogFilter())
    response = client.get("/log", base_url=HTTPS)
    (record,) = records_of(caplog, VIEW_LOGGER)
    assert record.request_id == response.headers["X-Request-ID"]


def test_log_filter_outside_a_request_uses_dash() -> None:
    """Outside a request the request ID is '-'."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert errors.LogFilter().filter(record) is True
    assert record.request_id == "-"


def test_log_filter_scrubs_message_arguments() -> None:
    """Secrets passed as %-arguments are redacted in the final message."""
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "login with %s", ("password=hunter2",), None
    )
    errors.LogFilter().filter(record)
    assert record.getMessage() == "login with password=[redacted]"


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


# -- log scrubbing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.e30.c2ln", "Authorization: [redacted]"),
        ("authorization: Basic dXNlcjpodW50ZXIy", "authorization: [redacted]"),
        ("Proxy-Authorization: Basic dXNlcjpodW50ZXIy", "Proxy-Authorization: [redacted]"),
        ("sent Bearer eyJhbGciOi.e30.c2ln upstream", "sent Bearer [redacted] upstream"),
        ("Cookie: session=abc123; theme=dark", "Cookie: [redacted]"),
        ("Set-Cookie: session=abc123; HttpOnly; Secure", "Set-Cookie: [redacted]"),
        ("headers={'Cookie': 'session=abc123'}", "headers={'Cookie': '[redacted]'}"),
        ("[('Authorization', 'Bearer abc123')]", "[('Authorization', '[redacted]')]"),
        ("X-API-Key: k-12345", "X-API-Key: [redacted]"),
        ("X-CSRF-Token: abc123", "X-CSRF-Token: [redacted]"),
        ("password=hunter2", "password=[redacted]"),
        ("login failed password=hunter2 user=bob", "login failed password=[redacted] user=bob"),
        ("/login?user=bob&password=hunter2&next=/", "/login?user=bob&password=[redacted]&next=/"),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '[redacted]', 'user': 'bob'}"),
        ('{"password": "hunter2"}', '{"password": "[redacted]"}'),
        ("passwd=hunter2 pwd=hunter2", "passwd=[redacted] pwd=[redacted]"),
        ("api_key=AKIA1234", "api_key=[redacted]"),
        ("apikey=AKIA1234", "apikey=[redacted]"),
        ("token: abc123", "token: [redacted]"),
        ("access_token=abc123", "access_token=[redacted]"),
        ("session_id=abc123", "session_id=[redacted]"),
        ("client_secret=s3cr3t", "client_secret=[redacted]"),
    ],
    ids=[
        "authorization-bearer",
        "authorization-basic",
        "proxy-authorization",
        "bare-bearer-token",
        "cookie-header",
        "set-cookie-header",
        "cookie-repr",
        "authorization-pair-repr",
        "x-api-key-header",
        "x-csrf-token-header",
        "password",
        "password-mid-line",
        "password-in-query",
        "password-dict-repr",
        "password-json",
        "passwd-and-pwd",
        "api-key",
        "apikey",
        "token-colon",
        "access-token",
        "session-id",
        "client-secret",
    ],
)
def test_scrub_redacts_secrets(text: str, expected: str) -> None:
    """scrub() replaces secret values with [redacted] and keeps the key."""
    assert errors.scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "GET /orders/42 200 in 12ms",
        "user bob logged in from 192.0.2.1",
        "passwords must be at least 12 characters",
        "the tokenizer produced 42 tokens",
        "session expired, please log in again",
        "Content-Type: application/json",
    ],
    ids=["access-line", "login", "password-word", "token-word", "session-word", "header"],
)
def test_scrub_keeps_ordinary_text(text: str) -> None:
    """Text without secrets is unchanged."""
    assert errors.scrub(text) == text


def leak(text: str, removed: tuple[str, ...], kept: tuple[str, ...], id: str) -> t.Any:
    """A scrubbing case: ``removed`` must be gone from ``text``, ``kept`` must remain."""
    return pytest.param(text, removed, kept, id=id)


DIGEST = 'Digest username="bob", realm="vault", nonce="dcd98b7102dd", response="6629fae4"'
DIGEST_SECRETS = ("dcd98b7102dd", "6629fae4")

SCRUB_LEAKS = [
    # WSGI environ spellings, as in a logged repr of request.environ.
    leak(
        "{'HTTP_COOKIE': '__Host-session=Zq8kR2vX; theme=dark', 'HTTP_HOST': 'localhost'}",
        ("Zq8kR2vX", "theme=dark"),
        ("'HTTP_COOKIE': '[redacted]'", "'HTTP_HOST': 'localhost'"),
        id="environ-cookie",
    ),
    leak(
        "{'HTTP_AUTHORIZATION': 'Bearer eyJhbGciOi.e30.c2ln', 'PATH_INFO': '/notes'}",
        ("eyJhbGciOi", "c2ln"),
        ("'PATH_INFO': '/notes'",),
        id="environ-authorization",
    ),
    leak(
        "'HTTP_PROXY_AUTHORIZATION': 'Basic dXNlcjpodW50ZXIy', 'REMOTE_ADDR': '10.0.0.1'",
        ("dXNlcjpodW50ZXIy",),
        ("'REMOTE_ADDR': '10.0.0.1'",),
        id="environ-proxy-authorization",
    ),
    leak("'HTTP_X_API_KEY': 'k-12345'", ("k-12345",), ("HTTP_X_API_KEY",), id="environ-x-api-key"),
    leak(
        "'HTTP_X_CSRF_TOKEN': 'Yk3Wq9pL'", ("Yk3Wq9pL",), ("HTTP_X_CSRF_TOKEN",), id="environ-csrf"
    ),
    leak("HTTP_COOKIE=session=Zq8kR2vX", ("Zq8kR2vX",), ("HTTP_COOKIE=",), id="environ-unquoted"),
    leak(
        r"b'GET / HTTP/1.1\r\nCookie: s=Zq8kR2vX\r\nHost: vault.example\r\n'",
        ("Zq8kR2vX",),
        (r"\r\nHost: vault.example\r\n",),
        id="raw-request-repr",
    ),
    # Digest: the whole value, with its quotes and commas.
    leak(f"Authorization: {DIGEST}", (*DIGEST_SECRETS, "bob"), (), id="digest-header"),
    leak(
        f"{{'HTTP_AUTHORIZATION': '{DIGEST}', 'PATH_INFO': '/notes'}}",
        DIGEST_SECRETS,
        ("'PATH_INFO': '/notes'",),
        id="digest-environ-repr",
    ),
    leak(
        json.dumps({"Authorization": DIGEST, "path": "/notes"}),
        DIGEST_SECRETS,
        ('"path": "/notes"',),
        id="digest-json",
    ),
    leak(
        f"retrying with {DIGEST} now", DIGEST_SECRETS, ("retrying with", " now"), id="digest-bare"
    ),
    # Other schemes and cookies with attributes.
    leak(
        "Authorization: Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1",
        ("YIIGhgYJKoZIhvcSAQICAQBuggZ1",),
        (),
        id="negotiate-header",
    ),
    leak(
        "sent NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw== to the proxy",
        ("TlRMTVNTUAAB",),
        ("sent NTLM", "to the proxy"),
        id="ntlm-bare",
    ),
    leak(
        "proxy answered Negotiate oYH1MIHyoAMKAQChCwYJKoZIgvcSAQIC",
        ("oYH1MIHy",),
        ("proxy answered Negotiate",),
        id="negotiate-bare",
    ),
    leak(
        "Set-Cookie: __Host-session=Zq8kR2vX; Path=/; Secure; HttpOnly; SameSite=Lax",
        ("Zq8kR2vX",),
        ("Set-Cookie: ",),
        id="set-cookie-attributes",
    ),
    leak(
        "[('Set-Cookie', '__Host-session=Zq8kR2vX; Path=/; Secure'), ('Vary', 'Cookie')]",
        ("Zq8kR2vX",),
        ("('Vary', 'Cookie')",),
        id="set-cookie-header-list",
    ),
    # Quoted values with escaped quotes: JSON, reprs, JSON inside JSON.
    leak(
        json.dumps({"password": 'hun"ter2', "user": "bob"}),
        ("hun", "ter2"),
        ('"user": "bob"',),
        id="json-escaped-quote",
    ),
    leak(
        r'{"token":"a\\\"b-s3cr3t","user":"bob"}', ("s3cr3t",), ('"user":"bob"',), id="json-escapes"
    ),
    leak(
        json.dumps({"password": "hunter2\\", "user": "bob"}),
        ("hunter2",),
        ('"user": "bob"',),
        id="json-trailing-backslash",
    ),
    leak(
        repr(json.dumps({"password": 'hun"ter2', "user": "bob"}).encode()),
        ("hun", "ter2"),
        ('"user": "bob"',),
        id="json-bytes-repr",
    ),
    leak(
        json.dumps({"body": json.dumps({"password": 'hun"ter2', "user": "bob"})}),
        ("hun", "ter2"),
        (r"\"user\": \"bob\"",),
        id="json-in-json",
    ),
    leak(
        repr({"password": 'it\'s "hunter2"', "user": "bob"}),
        ("hunter2", "it\\'s"),
        ("'user': 'bob'",),
        id="repr-both-quotes",
    ),
    leak(
        "ImmutableMultiDict([('user', 'bob'), ('password', 'hunter2')])",
        ("hunter2",),
        ("('user', 'bob')", "('password', '[redacted]')"),
        id="form-repr",
    ),
    leak(
        '    connect(password="s3cret", host="db")',
        ("s3cret",),
        ('host="db")',),
        id="traceback-source-line",
    ),
    # URLs: userinfo and secret parameters, in any logged text.
    leak(
        "cannot reach postgresql+psycopg://app:s3cret@db.internal/prod now",
        ("s3cret",),
        ("postgresql+psycopg://app:***@db.internal/prod now",),
        id="url-userinfo",
    ),
    leak(
        "redis://:s3cret@cache:6379/0", ("s3cret",), ("redis://:***@cache:6379/0",), id="redis-url"
    ),
    leak(
        "rediss://default:s3cret@cache:6380/0",
        ("s3cret",),
        ("rediss://default:***@cache:6380/0",),
        id="rediss-url",
    ),
    leak(
        "postgresql://app:p@ss@db/prod",
        ("p@ss",),
        ("postgresql://app:***@db/prod",),
        id="url-raw-at",
    ),
    leak(
        "GET https://vault.example/reset?user=bob&token=Zq8kR2vX&next=/ 200",
        ("Zq8kR2vX",),
        ("?user=bob&token=***&next=/ 200",),
        id="url-token-parameter",
    ),
    leak(
        "postgresql://db/prod?sslmode=require&password=s3cret",
        ("s3cret",),
        ("?sslmode=require&password=***",),
        id="url-password-parameter",
    ),
    leak(
        "'QUERY_STRING': 'token=Zq8kR2vX&password=s3cret&page=2'",
        ("Zq8kR2vX", "s3cret"),
        ("&page=2",),
        id="query-string",
    ),
]


@pytest.mark.parametrize(("text", "removed", "kept"), SCRUB_LEAKS)
def test_scrub_removes_secret_and_keeps_the_rest(
    text: str, removed: tuple[str, ...], kept: tuple[str, ...]
) -> None:
    """scrub() removes every secret of the case and leaves the text around it."""
    scrubbed = errors.scrub(text)
    for secret in removed:
        assert secret not in scrubbed
    for part in kept:
        assert part in scrubbed


def test_scrubbed_json_is_still_json() -> None:
    """A redacted JSON value keeps its quotes, so the document still parses."""
    text = json.dumps({"password": 'hun"ter2', "token": "a\\b", "user": "bob"})
    assert json.loads(errors.scrub(text)) == {
        "password": "[redacted]",
        "token": "[redacted]",
        "user": "bob",
    }


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://app@db.internal/prod",
        "https://example.org:8443/docs?page=2#top",
        "http://[::1]:8080/health",
        "mail bob@example.org about https://example.org/a",
        "Basic usage of the API",
        "NTLM authentication failed for bob",
        "Negotiate proceeds in two rounds",
        "the digest of the file is sha256",
        "Cookie consent banner shown",
        "response=200 bytes=512",
    ],
    ids=[
        "url-without-password",
        "url-with-port",
        "url-ipv6",
        "email-address",
        "basic-prose",
        "ntlm-prose",
        "negotiate-prose",
        "digest-prose",
        "cookie-prose",
        "digest-like-pairs",
    ],
)
def test_scrub_keeps_innocent_text(text: str) -> None:
    """Text that only looks like a credential is unchanged."""
    assert errors.scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "-a" * 10_000,
        base64.urlsafe_b64encode(bytes(range(256)) * 60).decode(),
        'password="a ' * 2_000,
        "password" * 2_000,
        "Authorization: '" + "a'b" * 5_000,
    ],
    ids=["hyphen-run", "base64url", "unclosed-quotes", "keyword-run", "header-quotes"],
)
def test_scrub_takes_linear_time(text: str) -> None:
    """Hostile 15-25 KB lines are scrubbed in well under a second (a log line must never
    stall the request that writes it)."""
    started = time.perf_counter()
    errors.scrub(text)
    assert time.perf_counter() - started < 0.5


def environ_app() -> Flask:
    """An app whose views log request.environ and fail with a password in a traceback."""
    app = make_error_app()

    @app.get("/log-environ")
    def log_environ() -> str:
        app.logger.info("request environ: %r", request.environ)
        return "logged"

    @app.get("/db")
    def db() -> str:
        raise ConnectionError("cannot reach postgresql://app:s3cret@db.internal/prod")

    return app


#: Credentials a client sends, each of which must stay out of the log.
CLIENT_HEADERS = {
    "Authorization": 'Digest username="bob", nonce="n0nceV4lue", response="r3sp0nseV4lue"',
    "X-API-Key": "ApiK3yV4lue",
    "X-CSRF-Token": "CsrfT0kenV4lue",
}
SESSION_COOKIE = "Zq8kR2vXc0oKieVaLue"
CLIENT_SECRETS = (SESSION_COOKIE, "n0nceV4lue", "r3sp0nseV4lue", "ApiK3yV4lue", "CsrfT0kenV4lue")


def credentialed_client(app: Flask) -> t.Any:
    """A client sending a session cookie and every credential header."""
    client = app.test_client()
    client.set_cookie("__Host-session", SESSION_COOKIE, domain="localhost")
    client.environ_base.update(
        {"HTTP_" + name.upper().replace("-", "_"): value for name, value in CLIENT_HEADERS.items()}
    )
    return client


def test_logged_environ_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    """A view logging request.environ leaves no cookie, credential or token in the log."""
    app = environ_app()
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        credentialed_client(app).get("/log-environ?token=Qu3ryT0kenV4lue&page=2", base_url=HTTPS)
    (record,) = records_of(caplog, app.logger.name)
    message = record.getMessage()
    assert "'HTTP_COOKIE': '[redacted]'" in message
    assert "'HTTP_AUTHORIZATION': '[redacted]'" in message
    assert "'QUERY_STRING': 'token=[redacted]&page=2'" in message
    for secret in (*CLIENT_SECRETS, "Qu3ryT0kenV4lue"):
        assert secret not in caplog.text


def test_logged_environ_is_scrubbed_in_handler_output() -> None:
    """A handler of the operator's own, with LogFilter, writes no secret either."""
    app = environ_app()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(errors.LogFilter())
    logger = logging.getLogger("tests.operator")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/log-elsewhere")
    def log_elsewhere() -> str:
        logger.info("environ %s", request.environ)
        return "logged"

    try:
        credentialed_client(app).get("/log-elsewhere", base_url=HTTPS)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "'HTTP_COOKIE': '[redacted]'" in output
    for secret in CLIENT_SECRETS:
        assert secret not in output


def test_logged_traceback_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    """The traceback of an unhandled exception has the URL's password masked."""
    app = environ_app()
    response = app.test_client().get("/db", base_url=HTTPS)
    (record,) = [r for r in records_of(caplog, app.logger.name) if r.exc_info]
    assert record.request_id == response.headers["X-Request-ID"]
    assert "postgresql://app:***@db.internal/prod" in caplog.text
    assert "s3cret" not in caplog.text


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


LIMITS = [
    ("MAX_CONTENT_LENGTH", "BASTION_ERRORS_MAX_CONTENT_LENGTH", "max_content_length"),
    ("MAX_FORM_MEMORY_SIZE", "BASTION_ERRORS_MAX_FORM_MEMORY_SIZE", "max_form_memory_size"),
    ("MAX_FORM_PARTS", "BASTION_ERRORS_MAX_FORM_PARTS", "max_form_parts"),
]
LIMIT_IDS = [flask_key for flask_key, _, _ in LIMITS]


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_default_limit_is_set_when_app_has_none(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """With the app's limit None, Bastion's default limit is applied."""
    app = make_app(**{flask_key: None})
    assert app.config[flask_key] == getattr(ErrorsConfig(), field)


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_configured_limit_is_set_when_app_has_none(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """With the app's limit None, the configured BASTION_ERRORS_ limit is applied."""
    app = make_app(**{flask_key: None, bastion_key: 1234})
    assert app.config[flask_key] == 1234


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_configured_limit_replaces_flask_default(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """A configured BASTION_ERRORS_ limit replaces Flask's own default value."""
    app = make_app(**{bastion_key: 1234})
    assert app.config[flask_key] == 1234


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_app_limit_is_kept(flask_key: str, bastion_key: str, field: str) -> None:
    """A limit the application set itself is kept."""
    app = make_app(**{flask_key: 777, bastion_key: 1234})
    assert app.config[flask_key] == 777


# -- malformed requests ----------------------------------------------------------------

JSON = {"content_type": "application/json"}
FORM = {"content_type": "application/x-www-form-urlencoded"}
MULTIPART_X = "multipart/form-data; boundary=x"
PART = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nbob\r\n'


def json_body(data: bytes, **options: t.Any) -> dict[str, t.Any]:
    return {"data": data, **JSON, **options}


def form_body(data: bytes) -> dict[str, t.Any]:
    return {"data": data, **FORM}


def raw_path(path: str) -> dict[str, t.Any]:
    """Options setting PATH_INFO as the server would: bytes decoded as latin-1."""
    return {"environ_overrides": {"PATH_INFO": path}}


def raw_query(query: str) -> dict[str, t.Any]:
    return {"environ_overrides": {"QUERY_STRING": query}}


def host(value: str) -> dict[str, t.Any]:
    return {"environ_overrides": {"HTTP_HOST": value}}


def content_length(value: str) -> dict[str, t.Any]:
    return json_body(b"[1]", environ_overrides={"CONTENT_LENGTH": value})


def multipart(data: bytes, content_type: str = MULTIPART_X) -> dict[str, t.Any]:
    return {"data": data, "content_type": content_type}


PATH_ENCODING = errors.REASON_PATH_ENCODING
PATH_CONTROL = errors.REASON_PATH_CONTROL
QUERY_ENCODING = errors.REASON_QUERY_ENCODING
FORM_ENCODING = errors.REASON_FORM_ENCODING
HEADERS_TOO_LARGE = errors.REASON_HEADERS_TOO_LARGE
CONTENT_LENGTH = errors.REASON_CONTENT_LENGTH
FORM_TOO_LARGE = errors.REASON_FORM_TOO_LARGE

#: (method, path, request options, expected status, Bastion's reason or None when the
#: request is refused by werkzeug, Flask or the view instead).
MALFORMED = [
    # JSON bodies for a view calling request.get_json().
    pytest.param("POST", "/json", json_body(b'{"a": 1'), 400, None, id="json-truncated"),
    pytest.param("POST", "/json", json_body(b'{"a": 1} xx'), 400, None, id="json-trailing-garbage"),
    pytest.param("POST", "/json", json_body(b'{"amount": NaN}'), 400, None, id="json-nan"),
    pytest.param("POST", "/json", json_body(b"[Infinity]"), 400, None, id="json-infinity"),
    pytest.param("POST", "/json", json_body(b"-Infinity"), 400, None, id="json-minus-infinity"),
    pytest.param("POST", "/json", json_body(b""), 400, None, id="json-empty-body"),
    pytest.param("POST", "/json", json_body(b"{'a': 1}"), 400, None, id="json-single-quotes"),
    pytest.param("POST", "/json", json_body(b"[1, 2,]"), 400, None, id="json-trailing-comma"),
    pytest.param("POST", "/json", json_body(b"{a: 1}"), 400, None, id="json-unquoted-key"),
    pytest.param(
        "POST",
        "/json",
        json_body(b"[" * 10_000 + b"]" * 10_000),
        400,
        None,
        id="json-10000-nested-arrays",
    ),
    pytest.param(
        "POST",
        "/json",
        json_body(b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
        400,
        None,
        id="json-10000-nested-objects",
    ),
    pytest.param(
        "POST", "/json", json_body(b"[" * 10_000), 400, None, id="json-10000-unclosed-arrays"
    ),
    pytest.param(
        "POST", "/json", json_body(b'{"a": "\xff\xfe"}'), 400, None, id="json-invalid-utf8"
    ),
    pytest.param(
        "POST", "/json", json_body(b'{"a": "\xc0\xaf"}'), 400, None, id="json-overlong-utf8"
    ),
    pytest.param("POST", "/json", json_body(b"1" * 5_000), 400, None, id="json-5000-digit-int"),
    pytest.param(
        "POST",
        "/json",
        {"data": b'{"a": 1}', "content_type": "text/plain"},
        415,
        None,
        id="json-as-text-plain",
    ),
    pytest.param("POST", "/json", {"data": b'{"a": 1}'}, 415, None, id="json-no-content-type"),
    pytest.param("POST", "/json", form_body(b'{"a": 1}'), 415, None, id="json-as-form"),
    # The path, as the server hands it over: bytes decoded as latin-1.
    pytest.param("GET", "/", raw_path("/\xff\xfe"), 400, PATH_ENCODING, id="path-invalid-utf8"),
    pytest.param("GET", "/", raw_path("/\xc0\xaf"), 400, PATH_ENCODING, id="path-overlong-utf8"),
    pytest.param("GET", "/", raw_path("/caf\xc3"), 400, PATH_ENCODING, id="path-truncated-utf8"),
    pytest.param(
        "GET", "/", raw_path("/\xed\xa0\x80"), 400, PATH_ENCODING, id="path-utf8-surrogate"
    ),
    pytest.param("GET", "/", raw_path("/a\x00b"), 400, PATH_CONTROL, id="path-nul"),
    pytest.param("GET", "/a%00b", {}, 400, PATH_CONTROL, id="path-percent-encoded-nul"),
    pytest.param("GET", "/", raw_path("/a\x1b[31m"), 400, PATH_CONTROL, id="path-escape"),
    pytest.param("GET", "/", raw_path("/a\nSet-Cookie:x"), 400, PATH_CONTROL, id="path-newline"),
    pytest.param("GET", "/", raw_path("/a\rb"), 400, PATH_CONTROL, id="path-carriage-return"),
    pytest.param("GET", "/", raw_path("/a\tb"), 400, PATH_CONTROL, id="path-tab"),
    pytest.param("GET", "/", raw_path("/a\x7f"), 400, PATH_CONTROL, id="path-del"),
    # The query string.
    pytest.param("GET", "/form", raw_query("a=%ff"), 400, QUERY_ENCODING, id="query-percent-ff"),
    pytest.param("GET", "/form", raw_query("a=%zz"), 400, QUERY_ENCODING, id="query-bad-escape"),
    pytest.param("GET", "/form", raw_query("a=%"), 400, QUERY_ENCODING, id="query-lone-percent"),
    pytest.param("GET", "/form", raw_query("a=%4"), 400, QUERY_ENCODING, id="query-short-escape"),
    pytest.param("GET", "/form", raw_query("a=%e9"), 400, QUERY_ENCODING, id="query-lone-e9"),
    pytest.param(
        "GET", "/form", raw_query("a=%c0%af"), 400, QUERY_ENCODING, id="query-overlong-utf8"
    ),
    pytest.param(
        "GET", "/form", raw_query("%zz=1"), 400, QUERY_ENCODING, id="query-bad-escape-in-key"
    ),
    pytest.param(
        "GET", "/form", raw_query("a=\xff"), 400, QUERY_ENCODING, id="query-raw-invalid-utf8"
    ),
    # An urlencoded form body.
    pytest.param("POST", "/form", form_body(b"a=%ff"), 400, FORM_ENCODING, id="form-percent-ff"),
    pytest.param("POST", "/form", form_body(b"a=%zz"), 400, FORM_ENCODING, id="form-bad-escape"),
    pytest.param("POST", "/form", form_body(b"a=%"), 400, FORM_ENCODING, id="form-lone-percent"),
    pytest.param("POST", "/form", form_body(b"a=%e9"), 400, FORM_ENCODING, id="form-lone-e9"),
    pytest.param(
        "POST", "/form", form_body(b"a=%c0%af"), 400, FORM_ENCODING, id="form-overlong-utf8"
    ),
    pytest.param(
        "POST", "/form", form_body(b"a=\xff"), 400, FORM_ENCODING, id="form-raw-invalid-utf8"
    ),
    pytest.param(
        "POST", "/form", form_body(b"a=1&b=%G1"), 400, FORM_ENCODING, id="form-bad-second-field"
    ),
    # Sizes.
    pytest.param(
        "POST",
        "/json",
        json_body(b"[" + b"0," * MAX_BODY + b"0]"),
        413,
        None,
        id="body-over-max-content-length",
    ),
    pytest.param(
        "POST",
        "/form",
        form_body(b"a=" + b"x" * MAX_FORM_MEMORY),
        413,
        FORM_TOO_LARGE,
        id="form-over-max-form-memory-size",
    ),
    pytest.param(
        "POST",
        "/form",
        {
            "data": {f"f{i}": "x" for i in range(MAX_PARTS + 1)},
            "content_type": "multipart/form-data",
        },
        413,
        None,
        id="multipart-too-many-parts",
    ),
    pytest.param(
        "GET",
        "/",
        {"headers": {"X-Padding": "a" * 20_000}},
        431,
        HEADERS_TOO_LARGE,
        id="header-20kb",
    ),
    pytest.param(
        "GET",
        "/",
        {"headers": [(f"X-Padding-{i}", "a" * 200) for i in range(100)]},
        431,
        HEADERS_TOO_LARGE,
        id="100-headers-of-200-bytes",
    ),
    # Methods the view does not accept, standard or not.
    pytest.param("TRACE", "/", {}, 405, None, id="method-trace"),
    pytest.param("PROPFIND", "/", {}, 405, None, id="method-propfind"),
    pytest.param("CONNECT", "/", {}, 405, None, id="method-connect"),
    pytest.param("FOO", "/", {}, 405, None, id="method-foo"),
    pytest.param("DELETE", "/", {}, 405, None, id="method-delete"),
    # Content-Length: anything but digits is refused (RFC 9112 6.3), a huge one too.
    pytest.param(
        "POST", "/json", content_length("abc"), 400, CONTENT_LENGTH, id="content-length-text"
    ),
    pytest.param(
        "POST", "/form", content_length("-1"), 400, CONTENT_LENGTH, id="content-length-negative"
    ),
    pytest.param(
        "POST", "/form", content_length("1e3"), 400, CONTENT_LENGTH, id="content-length-float"
    ),
    pytest.param("POST", "/json", content_length("9" * 20), 413, None, id="content-length-huge"),
    # Host, checked against TRUSTED_HOSTS by Flask.
    pytest.param("GET", "/", host("evil com"), 400, None, id="host-space"),
    pytest.param("GET", "/", host("l\xf3calhost"), 400, None, id="host-non-ascii"),
    pytest.param("GET", "/", host("evil.com:99999"), 400, None, id="host-port-out-of-range"),
    pytest.param("GET", "/", host("localhost:99999"), 400, None, id="host-known-bad-port"),
    pytest.param("GET", "/", host("localhost:abc"), 400, None, id="host-port-not-a-number"),
    pytest.param("GET", "/", host(""), 400, None, id="host-empty"),
    pytest.param("GET", "/", host("[::1"), 400, None, id="host-unclosed-ipv6"),
    pytest.param("GET", "/", host("<script>"), 400, None, id="host-markup"),
    # Broken multipart bodies yield no fields, so a view needing one answers 400.
    pytest.param(
        "POST",
        "/upload",
        multipart(PART + b"--x--\r\n", "multipart/form-data"),
        400,
        None,
        id="multipart-no-boundary",
    ),
    pytest.param(
        "POST",
        "/upload",
        multipart(PART + b"--x--\r\n", "multipart/form-data; boundary="),
        400,
        None,
        id="multipart-empty-boundary",
    ),
    pytest.param(
        "POST",
        "/upload",
        multipart(PART.replace(b"--x", b"--y") + b"--y--\r\n"),
        400,
        None,
        id="multipart-wrong-boundary",
    ),
    pytest.param("POST", "/upload", multipart(PART), 400, None, id="multipart-unterminated"),
    pytest.param(
        "POST",
        "/upload",
        multipart(b"--x\r\n\r\nbob\r\n--x--\r\n"),
        400,
        None,
        id="multipart-part-without-headers",
    ),
    pytest.param(
        "POST", "/upload", multipart(b"\x00\xff" * 100), 400, None, id="multipart-garbage"
    ),
    pytest.param(
        "POST",
        "/upload",
        multipart(PART + b"--x--\r\n", "multipart/form-data; boundary=" + "x" * 300),
        400,
        None,
        id="multipart-overlong-boundary",
    ),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "reason"), MALFORMED)
def test_malformed_request_gets_clean_4xx(
    client: t.Any,
    method: str,
    path: str,
    options: dict[str, t.Any],
    status: int,
    reason: str | None,
) -> None:
    """A malformed request gets a clean 4xx page with a request ID, never a 500."""
    response = client.open(path, method=method, base_url=HTTPS, **options)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.headers["X-Request-ID"] in body
    assert_no_internals(body)


@pytest.mark.parametrize(("method", "path", "options", "status", "reason"), MALFORMED)
def test_malformed_request_rejection_is_signalled_and_logged(
    app: Flask,
    client: t.Any,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    options: dict[str, t.Any],
    status: int,
    reason: str | None,
) -> None:
    """Bastion's own rejections, and only those, send request_rejected and log a warning."""
    with received(signals.request_rejected, app) as calls:
        client.open(path, method=method, base_url=HTTPS, **options)
    expected = [] if reason is None else [reason]
    assert calls == [{"reason": r, "status": status} for r in expected]
    warnings = records_of(caplog, SECURITY_LOGGER)
    assert [(w.levelno, w.reason) for w in warnings] == [(logging.WARNING, r) for r in expected]


@pytest.mark.parametrize(
    ("method", "path", "options", "expected"),
    [
        ("GET", "/echo/%C3%A9t%C3%A9", {}, {"name": "été"}),
        ("GET", "/", raw_path("/echo/\xc3\xa9t\xc3\xa9"), {"name": "été"}),
        ("GET", "/form", raw_query("a=%C3%A9"), {"args": {"a": "é"}, "form": {}}),
        ("GET", "/form", raw_query("a=\xc3\xa9"), {"args": {"a": "é"}, "form": {}}),
        ("GET", "/form", raw_query("a=x+y%20z"), {"args": {"a": "x y z"}, "form": {}}),
        ("POST", "/form", form_body(b"a=%C3%A9"), {"args": {}, "form": {"a": "é"}}),
        ("POST", "/form", form_body(b"a=\xc3\xa9"), {"args": {}, "form": {"a": "é"}}),
        (
            "POST",
            "/upload",
            {"data": {"name": "é"}, "content_type": "multipart/form-data"},
            {"name": "é"},
        ),
        ("POST", "/json", json_body('{"a": "é"}'.encode()), {"json": {"a": "é"}}),
        ("GET", "/api/ping", {"headers": {"X-Padding": "a" * 8_000}}, {"ok": True}),
    ],
    ids=[
        "path-percent-encoded-utf8",
        "path-raw-utf8",
        "query-percent-encoded-utf8",
        "query-raw-utf8",
        "query-plus-and-space",
        "form-percent-encoded-utf8",
        "form-raw-utf8",
        "multipart-utf8",
        "json-utf8",
        "header-under-limit",
    ],
)
def test_well_formed_request_is_accepted(
    app: Flask,
    client: t.Any,
    method: str,
    path: str,
    options: dict[str, t.Any],
    expected: dict[str, t.Any],
) -> None:
    """Valid UTF-8 in path, query, form and body passes the checks untouched."""
    with received(signals.request_rejected, app) as calls:
        response = client.open(path, method=method, base_url=HTTPS, **options)
    assert response.status_code == 200
    assert response.get_json() == expected
    assert calls == []
