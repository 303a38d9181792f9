"""Input limits: request-size limits and the rejection of malformed requests, including
bodies that cannot be read."""

from __future__ import annotations

import io
import logging
import typing as t

import pytest
from flask import Flask, request
from werkzeug.wsgi import LimitedStream

from flask_bastion import inputs, signals
from flask_bastion.config import InputsConfig
from flask_bastion.errors import REASON_UNTRUSTED_HOST
from flask_bastion.logs import security_log

from .conftest import HTTPS, make_app
from .test_errors import assert_no_internals, make_error_app, received, records_of

#: Limits of the test app, small enough to exceed in a test and large enough to leave
#: room for the JSON nesting cases (60 KB).
MAX_BODY = 64 * 1024
MAX_FORM_MEMORY = 8 * 1024
MAX_PARTS = 10
SECURITY_LOGGER = security_log.name


@pytest.fixture
def app() -> Flask:
    """The test app, with request limits small enough to exceed in a test."""
    return make_error_app(
        BASTION_INPUTS_MAX_CONTENT_LENGTH=MAX_BODY,
        BASTION_INPUTS_MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY,
        BASTION_INPUTS_MAX_FORM_PARTS=MAX_PARTS,
    )


# -- limits ----------------------------------------------------------------------------


LIMITS = [
    ("MAX_CONTENT_LENGTH", "BASTION_INPUTS_MAX_CONTENT_LENGTH", "max_content_length"),
    ("MAX_FORM_MEMORY_SIZE", "BASTION_INPUTS_MAX_FORM_MEMORY_SIZE", "max_form_memory_size"),
    ("MAX_FORM_PARTS", "BASTION_INPUTS_MAX_FORM_PARTS", "max_form_parts"),
]
LIMIT_IDS = [flask_key for flask_key, _, _ in LIMITS]


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_default_limit_is_set_when_app_has_none(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """With the app's limit None, Bastion's default limit is applied."""
    app = make_app(**{flask_key: None})
    assert app.config[flask_key] == getattr(InputsConfig(), field)


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_configured_limit_is_set_when_app_has_none(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """With the app's limit None, the configured BASTION_INPUTS_ limit is applied."""
    app = make_app(**{flask_key: None, bastion_key: 1234})
    assert app.config[flask_key] == 1234


@pytest.mark.parametrize(("flask_key", "bastion_key", "field"), LIMITS, ids=LIMIT_IDS)
def test_configured_limit_replaces_flask_default(
    flask_key: str, bastion_key: str, field: str
) -> None:
    """A configured BASTION_INPUTS_ limit replaces Flask's own default value."""
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


PATH_ENCODING = inputs.REASON_PATH_ENCODING
PATH_CONTROL = inputs.REASON_PATH_CONTROL
QUERY_ENCODING = inputs.REASON_QUERY_ENCODING
FORM_ENCODING = inputs.REASON_FORM_ENCODING
HEADERS_TOO_LARGE = inputs.REASON_HEADERS_TOO_LARGE
CONTENT_LENGTH = inputs.REASON_CONTENT_LENGTH
FORM_TOO_LARGE = inputs.REASON_FORM_TOO_LARGE

#: (method, path, request options, expected status, Bastion's reason or None when the
#: request is refused by werkzeug, Flask or the view instead).
UNTRUSTED = REASON_UNTRUSTED_HOST

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
    # Host, checked against TRUSTED_HOSTS by Flask; its refusal goes the same way.
    pytest.param("GET", "/", host("evil com"), 400, UNTRUSTED, id="host-space"),
    pytest.param("GET", "/", host("l\xf3calhost"), 400, UNTRUSTED, id="host-non-ascii"),
    pytest.param("GET", "/", host("evil.com:99999"), 400, UNTRUSTED, id="host-port-out-of-range"),
    pytest.param("GET", "/", host("localhost:99999"), 400, UNTRUSTED, id="host-known-bad-port"),
    pytest.param("GET", "/", host("localhost:abc"), 400, UNTRUSTED, id="host-port-not-a-number"),
    pytest.param("GET", "/", host(""), 400, UNTRUSTED, id="host-empty"),
    pytest.param("GET", "/", host("[::1"), 400, UNTRUSTED, id="host-unclosed-ipv6"),
    pytest.param("GET", "/", host("<script>"), 400, UNTRUSTED, id="host-markup"),
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
    """Bastion's rejections (and Flask's refusal of an untrusted Host), and only those,
    send request_rejected and log a warning."""
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


# -- header sizes of a remembered header set -------------------------------------------


def test_header_set_seen_before_is_measured_again(app: Flask, client: t.Any) -> None:
    """The names of a header set are remembered, never its size: the same names with a
    value grown past the limit are refused on the next request."""
    names = {"X-Padding": "a" * 100, "X-Other": "b"}
    for _ in range(2):
        assert client.get("/", base_url=HTTPS, headers=names).status_code == 200
    with received(signals.request_rejected, app) as calls:
        response = client.get("/", base_url=HTTPS, headers=names | {"X-Padding": "a" * 20_000})
    assert response.status_code == 431
    assert [c["reason"] for c in calls] == [HEADERS_TOO_LARGE]


def test_header_sets_are_bounded() -> None:
    """Invented header names fill at most ``_HEADER_SETS`` entries, and names longer than
    ``_HEADER_SET_NAMES`` are measured without being kept; both are measured exactly."""
    measure = inputs._HeaderBytes()
    for n in range(inputs._HEADER_SETS + 10):
        environ = {"PATH_INFO": "/", f"HTTP_X_{n}": "v" * n}
        assert measure(environ) == len(f"HTTP_X_{n}") + n
        assert len(measure._sets) <= inputs._HEADER_SETS
    measure._sets.clear()
    long_name = "HTTP_" + "N" * inputs._HEADER_SET_NAMES
    assert measure({long_name: "v", "HTTP_HOST": "h"}) == len(long_name) + 1 + 9 + 1
    assert measure._sets == {}


@pytest.mark.parametrize(
    ("environ", "size"),
    [
        ({"PATH_INFO": "/", "wsgi.input": io.BytesIO()}, 0),
        ({"HTTP_HOST": "localhost"}, 9 + 9),
        ({"HTTP_HOST": "localhost", "SERVER_NAME": "x" * 99, "HTTP_A": "1"}, 9 + 9 + 6 + 1),
        ({"HTTP_HOST": b"localhost", "HTTP_A": "1"}, 9 + 9 + 6 + 1),
    ],
    ids=["no-headers", "one-header", "only-http-keys-count", "bytes-value"],
)
def test_header_bytes_counts_http_keys_and_values(environ: dict[str, t.Any], size: int) -> None:
    """Only ``HTTP_*`` keys and their values count, the first time and from memory; a
    server handing over bytes (outside PEP 3333) is measured too."""
    measure = inputs._HeaderBytes()
    assert measure(environ) == size
    assert measure(environ) == size


# -- bodies that cannot be read --------------------------------------------------------


class ServerParseError(Exception):
    """What a WSGI server raises from ``wsgi.input`` for a broken body: its own type (such
    as gunicorn's ``InvalidChunkSize``), neither an ``OSError`` nor a ``ValueError``."""


class BrokenBody:
    """``wsgi.input`` of a body whose framing breaks after ``good`` bytes; like gunicorn's,
    it has only the methods WSGI requires."""

    def __init__(self, good: bytes, error: Exception) -> None:
        self.good = io.BytesIO(good)
        self.error = error

    def read(self, size: int | None = -1) -> bytes:
        data = self.good.read(size)
        if not data and size != 0:
            raise self.error
        return data

    def readline(self, size: int | None = -1) -> bytes:
        return self.read(size)


#: The environ of a server that decodes the framing itself and hands the application the
#: decoded body (gunicorn, werkzeug's server for a chunked body).
TERMINATED = {"wsgi.input_terminated": True}
CHUNKED = {**TERMINATED, "HTTP_TRANSFER_ENCODING": "chunked"}


def body(
    stream: t.Any, length: int | None, environ: dict[str, t.Any], content_type: str = ""
) -> dict[str, t.Any]:
    """Request options sending ``stream`` as the body with a Content-Length of ``length``
    (``None``: an empty one, as a server passes a chunked body), set in the environ as a
    server sets them (the test client would measure the stream and pick a boundary)."""
    declared = "" if length is None else str(length)
    overrides = {"wsgi.input": stream, "CONTENT_LENGTH": declared, **environ}
    return {"environ_overrides": {**overrides, "CONTENT_TYPE": content_type}}


UNREADABLE = inputs.REASON_BODY_UNREADABLE
TRUNCATED = inputs.REASON_BODY_TRUNCATED
PARSE_ERROR = ServerParseError("Invalid chunk size: b'zz'")

#: (path, request options, expected status, Bastion's reason).
BROKEN_BODIES = [
    pytest.param(
        "/form",
        body(BrokenBody(b"a=", PARSE_ERROR), None, CHUNKED, **FORM),
        400,
        UNREADABLE,
        id="form-chunked-server-error",
    ),
    pytest.param(
        "/json",
        body(BrokenBody(b"[1", PARSE_ERROR), None, CHUNKED, **JSON),
        400,
        UNREADABLE,
        id="json-chunked-server-error",
    ),
    pytest.param(
        "/upload",
        body(BrokenBody(PART, PARSE_ERROR), None, CHUNKED, content_type=MULTIPART_X),
        400,
        UNREADABLE,
        id="multipart-chunked-server-error",
    ),
    pytest.param(
        "/form",
        body(BrokenBody(b"a=", OSError("Invalid chunk header")), None, CHUNKED, **FORM),
        400,
        UNREADABLE,
        id="form-chunked-os-error",
    ),
    pytest.param(
        "/json",
        body(BrokenBody(b"[1", OSError("Invalid chunk header")), None, CHUNKED, **JSON),
        400,
        UNREADABLE,
        id="json-chunked-os-error",
    ),
    pytest.param(
        "/form",
        body(io.BytesIO(b"a=1"), 100, TERMINATED, **FORM),
        400,
        TRUNCATED,
        id="form-short-terminated",
    ),
    pytest.param(
        "/json",
        body(io.BytesIO(b"[1]"), 100, TERMINATED, **JSON),
        400,
        TRUNCATED,
        id="json-short-terminated",
    ),
    pytest.param(
        "/upload",
        body(io.BytesIO(PART + b"--x--\r\n"), 500, TERMINATED, content_type=MULTIPART_X),
        400,
        TRUNCATED,
        id="multipart-short-terminated",
    ),
    pytest.param(
        "/form", body(io.BytesIO(b"a=1"), 100, {}, **FORM), 400, TRUNCATED, id="form-short"
    ),
    pytest.param(
        "/json", body(io.BytesIO(b"[1]"), 100, {}, **JSON), 400, TRUNCATED, id="json-short"
    ),
    pytest.param(
        "/form",
        body(io.BytesIO(b"a=" + b"x" * MAX_FORM_MEMORY), None, CHUNKED, **FORM),
        413,
        FORM_TOO_LARGE,
        id="form-chunked-over-max-form-memory-size",
    ),
]


@pytest.mark.parametrize(("path", "options", "status", "reason"), BROKEN_BODIES)
def test_unreadable_body_is_rejected(
    app: Flask,
    client: t.Any,
    caplog: pytest.LogCaptureFixture,
    path: str,
    options: dict[str, t.Any],
    status: int,
    reason: str,
) -> None:
    """A body that breaks or ends early, whoever reads it, is a clean Bastion rejection
    with a signal and a log line, never a 500 and never a truncated body for the view."""
    with received(signals.request_rejected, app) as calls:
        response = client.post(path, base_url=HTTPS, **options)
    assert response.status_code == status
    assert reason in response.get_data(as_text=True)
    assert calls == [{"reason": reason, "status": status}]
    assert [w.reason for w in records_of(caplog, SECURITY_LOGGER)] == [reason]


def test_body_read_whole_is_checked_without_max_content_length() -> None:
    """With MAX_CONTENT_LENGTH reset to None, werkzeug reads the server's stream whole, in
    one read; a body shorter than its Content-Length is still refused."""
    app = make_error_app()
    app.config["MAX_CONTENT_LENGTH"] = None
    response = app.test_client().post(
        "/json", base_url=HTTPS, **body(io.BytesIO(b"[1]"), 100, TERMINATED, **JSON)
    )
    assert response.status_code == 400
    assert TRUNCATED in response.get_data(as_text=True)


def test_werkzeug_answer_from_the_input_stream_stands(app: Flask, client: t.Any) -> None:
    """An HTTP error raised by the stream itself (werkzeug's LimitedStream put there by a
    middleware, here at 16 bytes) keeps its status: 413, not a 400."""
    stream = LimitedStream(io.BytesIO(b"a=" + b"x" * 100), 16, is_max=True)
    with received(signals.request_rejected, app) as calls:
        response = client.post("/form", base_url=HTTPS, **body(stream, None, CHUNKED, **FORM))
    assert response.status_code == 413
    assert calls == []


def lines_app() -> Flask:
    """The test app plus views reading the body line by line."""
    app = make_error_app()

    @app.post("/lines")
    def lines() -> dict[str, list[str]]:
        return {"lines": [line.decode() for line in request.input_stream]}

    @app.post("/readlines")
    def readlines() -> dict[str, list[str]]:
        return {"lines": [line.decode() for line in request.input_stream.readlines()]}

    return app


@pytest.mark.parametrize("path", ["/lines", "/readlines"])
@pytest.mark.parametrize(
    ("length", "status", "expected"),
    [(8, 200, {"lines": ["a\n", "b\n", "c\n", "d\n"]}), (100, 400, None)],
    ids=["complete", "short"],
)
def test_body_read_by_lines(path: str, length: int, status: int, expected: t.Any) -> None:
    """Reading the body line by line gets every line, or a 400 when the body ends early."""
    response = (
        lines_app()
        .test_client()
        .post(path, base_url=HTTPS, **body(io.BytesIO(b"a\nb\nc\nd\n"), length, TERMINATED))
    )
    assert response.status_code == status
    assert expected is None or response.get_json() == expected


@pytest.mark.parametrize(
    ("path", "data", "content_type", "expected"),
    [
        ("/form", b"a=%C3%A9&b=2", FORM, {"args": {}, "form": {"a": "é", "b": "2"}}),
        ("/json", b'{"a": [1, 2]}', JSON, {"json": {"a": [1, 2]}}),
        ("/upload", PART + b"--x--\r\n", {"content_type": MULTIPART_X}, {"name": "bob"}),
    ],
    ids=["form", "json", "multipart"],
)
@pytest.mark.parametrize(
    "framing",
    [CHUNKED, TERMINATED, {}],
    ids=["chunked", "length-terminated", "length"],
)
def test_complete_body_is_accepted(
    app: Flask,
    client: t.Any,
    path: str,
    data: bytes,
    content_type: dict[str, str],
    expected: dict[str, t.Any],
    framing: dict[str, t.Any],
) -> None:
    """A complete body, chunked or with a Content-Length, reaches the view whole."""
    length = None if framing is CHUNKED else len(data)
    with received(signals.request_rejected, app) as calls:
        response = client.post(
            path, base_url=HTTPS, **body(io.BytesIO(data), length, framing, **content_type)
        )
    assert response.status_code == 200
    assert response.get_json() == expected
    assert calls == []
