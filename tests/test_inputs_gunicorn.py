"""Malformed requests over a real socket to gunicorn: a clean 4xx, never a 500.

The test client builds a WSGI environ itself; a real server parses the bytes, decodes the
chunked framing and raises its own exceptions from ``wsgi.input``. One gunicorn (one sync
worker, on a free loopback port) serves the whole module; each test writes raw bytes to a
fresh connection and reads the answer until gunicorn closes it.

Some malformed requests never reach the application: gunicorn refuses raw non-ASCII or
control bytes in the request line, a ``Content-Length`` that is not a number, a single
header over 8190 bytes and ``Content-Length`` together with ``Transfer-Encoding`` with
its own 4xx. They are here too, so a change in gunicorn that lets one through shows up.
"""

from __future__ import annotations

import re
import socket
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask, request

from flask_bastion import inputs

from .conftest import make_app
from .servers import Gunicorn as Server
from .servers import gunicorn

pytestmark = pytest.mark.slow

#: Seconds gunicorn may take to listen and to answer; generous for a loaded machine.
TIMEOUT = 30.0
REQUEST_ID = re.compile(r"[0-9a-f]{24}")
#: The served app's form limit, small enough to exceed with a short body.
MAX_FORM_MEMORY = 1024

HEAD = b"Host: localhost\r\nConnection: close\r\nSec-Fetch-Site: same-origin\r\n"
FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"
JSON = b"Content-Type: application/json\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"


def served_app() -> Flask:
    """The app gunicorn serves: the test app under the development profile (plain HTTP
    on loopback is not redirected), plus a JSON view and a view that logs a password."""
    app = make_app(
        BASTION_PROFILE="development", BASTION_INPUTS_MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY
    )

    @app.post("/json")
    def parse_json() -> dict[str, t.Any]:
        return {"json": request.get_json()}

    @app.get("/log")
    def log() -> str:
        app.logger.warning("login password=hunter2")
        return "logged"

    return app


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def send(server: Server, raw: bytes, *, end: bool = False) -> Answer:
    """Write ``raw`` to a new connection and read the answer until gunicorn closes it;
    ``end`` also ends the sending side, as a client that stops sending mid-body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
        connection.sendall(raw)
        if end:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Answer(int(status_line.split()[1]), headers, body.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One gunicorn serving :func:`served_app` for the module, stopped afterwards."""
    with gunicorn(f"{__name__}:served_app()") as running:
        yield running


def post(path: str, kind: bytes, body: bytes, length: int | None = None) -> bytes:
    """A POST of ``body``, with a Content-Length (``length`` if given, else the real one)."""
    declared = len(body) if length is None else length
    return b"POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n%s" % (
        path.encode(),
        HEAD,
        kind,
        declared,
        body,
    )


def post_chunked(path: str, kind: bytes, body: bytes) -> bytes:
    """A chunked POST whose framing is ``body`` as written."""
    return b"POST %s HTTP/1.1\r\n%s%s%s\r\n%s" % (path.encode(), HEAD, kind, CHUNKED, body)


def chunks(data: bytes) -> bytes:
    """``data`` as one chunk and the last chunk."""
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


def get(target: bytes, headers: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\n%s%s\r\n" % (target, HEAD, headers)


UNREADABLE = inputs.REASON_BODY_UNREADABLE
TRUNCATED = inputs.REASON_BODY_TRUNCATED
PATH_ENCODING = inputs.REASON_PATH_ENCODING
PATH_CONTROL = inputs.REASON_PATH_CONTROL
QUERY_ENCODING = inputs.REASON_QUERY_ENCODING
FORM_ENCODING = inputs.REASON_FORM_ENCODING
FORM_TOO_LARGE = inputs.REASON_FORM_TOO_LARGE
HEADERS_TOO_LARGE = inputs.REASON_HEADERS_TOO_LARGE

#: (raw request, end the sending side after it, status, Bastion's reason).
REJECTED_BY_BASTION = [
    # Bodies that cannot be read: gunicorn raises from wsgi.input.
    pytest.param(
        post_chunked("/form", FORM, b"zz\r\n"), False, 400, UNREADABLE, id="form-chunk-size-zz"
    ),
    pytest.param(
        post_chunked("/json", JSON, b"zz\r\n"), False, 400, UNREADABLE, id="json-chunk-size-zz"
    ),
    pytest.param(
        post_chunked("/form", FORM, b"-5\r\na=1\r\n0\r\n\r\n"),
        False,
        400,
        UNREADABLE,
        id="form-chunk-size-negative",
    ),
    pytest.param(
        post_chunked("/form", FORM, b"5\r\na=1"), True, 400, UNREADABLE, id="form-chunk-cut-short"
    ),
    pytest.param(
        post_chunked("/json", JSON, b"3\r\n[1]\r\n0\r\n"),
        True,
        400,
        UNREADABLE,
        id="json-last-chunk-unterminated",
    ),
    pytest.param(
        post_chunked("/form", FORM, b"1\r\na=1\r\n0\r\n\r\n"),
        False,
        400,
        UNREADABLE,
        id="form-chunk-longer-than-its-size",
    ),
    pytest.param(post("/form", FORM, b"a=1", 100), True, 400, TRUNCATED, id="form-body-short"),
    pytest.param(post("/json", JSON, b"[1]", 100), True, 400, TRUNCATED, id="json-body-short"),
    # Undecodable input.
    pytest.param(get(b"/%ff%fe"), False, 400, PATH_ENCODING, id="path-percent-invalid-utf8"),
    pytest.param(get(b"/%c0%af"), False, 400, PATH_ENCODING, id="path-percent-overlong-utf8"),
    pytest.param(get(b"/a%00b"), False, 400, PATH_CONTROL, id="path-percent-nul"),
    pytest.param(get(b"/a%1b%5b31m"), False, 400, PATH_CONTROL, id="path-percent-escape"),
    pytest.param(get(b"/a%0d%0aSet-Cookie:x"), False, 400, PATH_CONTROL, id="path-percent-newline"),
    pytest.param(get(b"/form?a=%zz"), False, 400, QUERY_ENCODING, id="query-bad-escape"),
    pytest.param(get(b"/form?a=%ff"), False, 400, QUERY_ENCODING, id="query-percent-ff"),
    pytest.param(get(b"/form?a=%"), False, 400, QUERY_ENCODING, id="query-lone-percent"),
    pytest.param(post("/form", FORM, b"a=%ff"), False, 400, FORM_ENCODING, id="form-percent-ff"),
    pytest.param(
        post("/form", FORM, b"a=1&b=%G1"), False, 400, FORM_ENCODING, id="form-bad-escape"
    ),
    pytest.param(
        post("/form", FORM, b"a=\xff"), False, 400, FORM_ENCODING, id="form-raw-invalid-utf8"
    ),
    pytest.param(
        post_chunked("/form", FORM, chunks(b"a=%ff")),
        False,
        400,
        FORM_ENCODING,
        id="form-chunked-percent-ff",
    ),
    # Sizes.
    pytest.param(
        get(b"/", b"".join(b"X-Padding-%d: %s\r\n" % (i, b"a" * 5000) for i in range(4))),
        False,
        431,
        HEADERS_TOO_LARGE,
        id="headers-4-of-5000-bytes",
    ),
    pytest.param(
        post("/form", FORM, b"a=" + b"x" * MAX_FORM_MEMORY),
        False,
        413,
        FORM_TOO_LARGE,
        id="form-over-max-form-memory-size",
    ),
    pytest.param(
        post_chunked("/form", FORM, chunks(b"a=" + b"x" * MAX_FORM_MEMORY)),
        False,
        413,
        FORM_TOO_LARGE,
        id="form-chunked-over-max-form-memory-size",
    ),
]


@pytest.mark.parametrize(("raw", "end", "status", "reason"), REJECTED_BY_BASTION)
def test_malformed_request_gets_bastion_4xx(
    server: Server, raw: bytes, end: bool, status: int, reason: str
) -> None:
    """Over the wire, a malformed request gets Flask-Bastion's 4xx page with its reason and
    request ID, never a 500."""
    answer = send(server, raw, end=end)
    assert answer.status == status
    request_id = answer.headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    assert request_id in answer.body
    assert reason in answer.body


REFUSED_BY_GUNICORN = [
    pytest.param(get(b"/\xff\xfe"), 400, id="path-raw-invalid-utf8"),
    pytest.param(get(b"/a\x01b"), 400, id="path-raw-control"),
    pytest.param(get(b"/form?a=\xff"), 400, id="query-raw-invalid-utf8"),
    pytest.param(get(b"/", b"X-Padding: " + b"a" * 20_000 + b"\r\n"), 431, id="header-20kb"),
    pytest.param(get(b"/", b"X-Control: a\x01b\r\n"), 400, id="header-control"),
    pytest.param(
        post("/form", FORM, b"a=1").replace(b"Content-Length: 3", b"Content-Length: abc"),
        400,
        id="content-length-text",
    ),
    pytest.param(
        post("/form", FORM, b"a=1").replace(b"Content-Length: 3", b"Content-Length: -1"),
        400,
        id="content-length-negative",
    ),
    pytest.param(
        post_chunked("/form", FORM + b"Content-Length: 3\r\n", chunks(b"a=1")),
        400,
        id="content-length-and-chunked",
    ),
]


@pytest.mark.parametrize(("raw", "status"), REFUSED_BY_GUNICORN)
def test_request_gunicorn_refuses_gets_4xx(server: Server, raw: bytes, status: int) -> None:
    """What gunicorn refuses before the application gets its 4xx, never a 500."""
    assert send(server, raw).status == status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (post("/form", FORM, b"a=%C3%A9&b=2"), '"form":{"a":"\\u00e9","b":"2"}'),
        (post_chunked("/form", FORM, chunks(b"a=%C3%A9&b=2")), '"form":{"a":"\\u00e9","b":"2"}'),
        (post("/json", JSON, b'{"a": [1, 2]}'), '{"json":{"a":[1,2]}}'),
        (post_chunked("/json", JSON, chunks(b'{"a": [1, 2]}')), '{"json":{"a":[1,2]}}'),
    ],
    ids=["form", "form-chunked", "json", "json-chunked"],
)
def test_well_formed_body_is_served(server: Server, raw: bytes, expected: str) -> None:
    """A complete body, chunked or with a Content-Length, reaches the view whole."""
    answer = send(server, raw)
    assert answer.status == 200
    assert expected in answer.body


def test_log_line_carries_request_id(server: Server) -> None:
    """Under gunicorn, the app's log line carries the request ID and no password."""
    answer = send(server, get(b"/log"))
    line = server.output.wait_for(f"[{answer.headers['X-Request-ID']}]: login password=")
    assert line.endswith("login password=[redacted]\n")
