"""Log scrubbing: secrets redacted from messages and tracebacks, the request ID on every
line, and nothing changed for other applications in the process."""

from __future__ import annotations

import base64
import datetime
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
from flask import Flask, request
from flask.logging import default_handler as flask_default_handler
from werkzeug.datastructures import MultiDict

from flask_bastion import Bastion, logs
from flask_bastion.logs import security_log

from .conftest import HTTPS, SECRET
from .test_errors import VIEW_LOGGER, make_error_app, records_of

SECURITY_LOGGER = security_log.name


@pytest.fixture
def app() -> Flask:
    return make_error_app()


# -- request IDs in log lines ----------------------------------------------------------


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
    caplog.handler.addFilter(logs.LogFilter())
    response = client.get("/log", base_url=HTTPS)
    (record,) = records_of(caplog, VIEW_LOGGER)
    assert record.request_id == response.headers["X-Request-ID"]


def test_log_filter_outside_a_request_uses_dash() -> None:
    """Outside a request the request ID is '-'."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert logs.LogFilter().filter(record) is True
    assert record.request_id == "-"


def test_log_filter_scrubs_message_arguments() -> None:
    """Secrets passed as %-arguments are redacted in the final message."""
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "login with %s", ("password=hunter2",), None
    )
    logs.LogFilter().filter(record)
    assert record.getMessage() == "login with password=[redacted]"


# -- one application's logging, and no other's -----------------------------------------

FLASK_LINE = re.compile(r"\[[^\]]+\] WARNING in test_logs: (?P<message>.*)\n")
BASTION_LINE = re.compile(r"\[[^\]]+\] WARNING in test_logs \[(?P<rid>[^\]]+)\]: (?P<message>.*)\n")


@pytest.fixture
def logger_names() -> Iterator[list[str]]:
    """Fresh logger names for a test's applications; their handlers and filters are
    removed afterwards, so no other test sees them."""
    names: list[str] = []
    yield names
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.filters.clear()


@contextmanager
def unconfigured_logging() -> Iterator[None]:
    """Logging as in a process that configured none: without pytest's capture handlers on
    the root logger (added for the test's call phase), Flask gives each application logger
    its default handler."""
    handlers = logging.root.handlers
    logging.root.handlers = []
    try:
        yield
    finally:
        logging.root.handlers = handlers


def logging_app(names: list[str], *, bastion: bool) -> Flask:
    """An app under a fresh name whose views log a password on its logger and on a child
    logger; with Flask-Bastion or without."""
    name = f"tests.logs_{secrets.token_hex(4)}"
    names.append(name)
    app = Flask(name)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])

    @app.get("/log")
    def log() -> str:
        app.logger.warning("login password=hunter2")
        return "logged"

    @app.get("/log-child")
    def log_child() -> str:
        logging.getLogger(f"{name}.views").warning("login password=hunter2")
        return "logged"

    if bastion:
        Bastion(app, sessions_store="memory")
    return app


def log_output(app: Flask, path: str = "/log") -> tuple[str, t.Any]:
    """What a request to ``path`` writes to the request's error stream, and the response."""
    stream = io.StringIO()
    response = app.test_client().get(path, base_url=HTTPS, errors_stream=stream)
    assert response.status_code == 200
    return stream.getvalue(), response


@pytest.mark.parametrize("plain_first", [True, False], ids=["plain-app-first", "bastion-first"])
def test_other_app_in_the_process_keeps_flask_logging(
    logger_names: list[str], plain_first: bool
) -> None:
    """An app without Flask-Bastion keeps Flask's handler, format and message, whichever
    app was set up first, while the Bastion app's lines are scrubbed and tagged."""
    with unconfigured_logging():
        if plain_first:
            plain = logging_app(logger_names, bastion=False)
            plain.logger  # noqa: B018 -- Flask sets up the logger on first use
            protected = logging_app(logger_names, bastion=True)
        else:
            protected = logging_app(logger_names, bastion=True)
            plain = logging_app(logger_names, bastion=False)
        plain_output, _ = log_output(plain)
        bastion_output, response = log_output(protected)
    plain_line = FLASK_LINE.fullmatch(plain_output)
    assert plain_line is not None and plain_line["message"] == "login password=hunter2"
    assert plain.logger.handlers == [flask_default_handler]
    assert flask_default_handler.filters == []
    bastion_line = BASTION_LINE.fullmatch(bastion_output)
    assert bastion_line is not None
    assert bastion_line["rid"] == response.headers["X-Request-ID"]
    assert bastion_line["message"] == "login password=[redacted]"
    assert protected.logger.handlers == [logs.default_handler]


def test_child_logger_lines_are_scrubbed_and_tagged(logger_names: list[str]) -> None:
    """A record of a child of the app logger, propagated to Flask-Bastion's handler, is
    scrubbed and carries the request ID too."""
    with unconfigured_logging():
        output, response = log_output(logging_app(logger_names, bastion=True), "/log-child")
    line = BASTION_LINE.fullmatch(output)
    assert line is not None
    assert line["rid"] == response.headers["X-Request-ID"]
    assert line["message"] == "login password=[redacted]"


def test_customised_flask_handler_is_kept(
    logger_names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask's default handler with a format of the operator's is theirs: it stays, and
    the app logger's filter still scrubs what reaches it."""
    monkeypatch.setattr(flask_default_handler, "formatter", logging.Formatter("%(message)s"))
    with unconfigured_logging():
        app = logging_app(logger_names, bastion=True)
        output, _ = log_output(app)
    assert app.logger.handlers == [flask_default_handler]
    assert output == "login password=[redacted]\n"


def test_configured_logging_gets_no_handler(logger_names: list[str]) -> None:
    """With a handler on the root logger (here pytest's), Flask adds none and neither does
    Flask-Bastion."""
    app = logging_app(logger_names, bastion=True)
    assert app.logger.handlers == []


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
        ('{"private_key": "s3cr3t"}', '{"private_key": "[redacted]"}'),
        ("aws_secret_access_key=s3cr3t", "aws_secret_access_key=[redacted]"),
        ("access-key: s3cr3t", "access-key: [redacted]"),
        ("{'credentials': 's3cr3t'}", "{'credentials': '[redacted]'}"),
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
        "private-key",
        "secret-access-key",
        "access-key",
        "credentials",
    ],
)
def test_scrub_redacts_secrets(text: str, expected: str) -> None:
    """scrub() replaces secret values with [redacted] and keeps the key."""
    assert logs.scrub(text) == expected


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
    assert logs.scrub(text) == text


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
        "postgresql://app@server:s3/cr#et@db.internal/prod",
        ("s3/cr#et",),
        ("postgresql://app@server:***@db.internal/prod",),
        id="url-user-with-at",
    ),
    leak(
        "postgresql://app:pa?ss@db/prod?application_name=a@b",
        ("pa?ss",),
        ("postgresql://app:***@db/prod?application_name=a@b",),
        id="url-at-in-query-after-host",
    ),
    leak(
        "redis://:s3/cret@cache:6379/0 and https://x.example/a@b",
        ("s3/cret",),
        ("redis://:***@cache:6379/0", "https://x.example/a@b"),
        id="url-slash-then-other-url",
    ),
    leak(
        "'QUERY_STRING': 'token=Zq8kR2vX&password=s3cret&page=2'",
        ("Zq8kR2vX", "s3cret"),
        ("&page=2",),
        id="query-string",
    ),
]


#: The body of a private key, as base64 lines.
KEY_BODY = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "Zq8kR2vXc0oKieVaLue+/w==")
PEM = "\n".join(KEY_BODY)
SCRUB_LEAKS += [
    leak(
        f"loaded -----BEGIN RSA PRIVATE KEY-----\n{PEM}\n-----END RSA PRIVATE KEY----- ok",
        KEY_BODY,
        ("loaded -----BEGIN RSA PRIVATE KEY-----[redacted]-----END RSA PRIVATE KEY----- ok",),
        id="pem-pkcs1",
    ),
    leak(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n"
        f"DEK-Info: DES-EDE3-CBC,3F17F5316E2BAC89\r\n\r\n{PEM}\r\n"
        "-----END ENCRYPTED PRIVATE KEY-----",
        (*KEY_BODY, "3F17F5316E2BAC89"),
        ("-----END ENCRYPTED PRIVATE KEY-----",),
        id="pem-encrypted-with-headers",
    ),
    leak(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM}\n-----END OPENSSH PRIVATE KEY-----",
        KEY_BODY,
        (),
        id="pem-openssh",
    ),
    leak(
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: 1\n\n{PEM}\n=ab12\n"
        "-----END PGP PRIVATE KEY BLOCK-----",
        KEY_BODY,
        (),
        id="pem-pgp",
    ),
    leak(
        json.dumps({"key": f"-----BEGIN PRIVATE KEY-----\n{PEM}\n-----END PRIVATE KEY-----\n"}),
        KEY_BODY,
        ('"key": "-----BEGIN PRIVATE KEY-----[redacted]-----END PRIVATE KEY-----\\n"',),
        id="pem-in-json",
    ),
    leak(
        repr(json.dumps({"pem": f"-----BEGIN EC PRIVATE KEY-----\n{PEM}\n"})),
        KEY_BODY,
        ("-----BEGIN EC PRIVATE KEY-----[redacted]",),
        id="pem-cut-short-in-json-repr",
    ),
]


@pytest.mark.parametrize(("text", "removed", "kept"), SCRUB_LEAKS)
def test_scrub_removes_secret_and_keeps_the_rest(
    text: str, removed: tuple[str, ...], kept: tuple[str, ...]
) -> None:
    """scrub() removes every secret of the case and leaves the text around it."""
    scrubbed = logs.scrub(text)
    for secret in removed:
        assert secret not in scrubbed
    for part in kept:
        assert part in scrubbed


def test_scrubbed_json_is_still_json() -> None:
    """A redacted JSON value keeps its quotes, so the document still parses."""
    text = json.dumps({"password": 'hun"ter2', "token": "a\\b", "user": "bob"})
    assert json.loads(logs.scrub(text)) == {
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
        "https://example.org/@alice",
        "https://example.org/a:b@c",
        f"-----BEGIN CERTIFICATE-----\n{PEM}\n-----END CERTIFICATE-----",
        f"-----BEGIN PUBLIC KEY-----\n{PEM}\n-----END PUBLIC KEY-----",
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
        "url-at-in-path",
        "url-colon-in-path",
        "pem-certificate",
        "pem-public-key",
    ],
)
def test_scrub_keeps_innocent_text(text: str) -> None:
    """Text that only looks like a credential is unchanged."""
    assert logs.scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "-a" * 10_000,
        base64.urlsafe_b64encode(bytes(range(256)) * 60).decode(),
        'password="a ' * 2_000,
        "password" * 2_000,
        "Authorization: '" + "a'b" * 5_000,
        "-----BEGIN PRIVATE KEY-----" * 700,
        "-----BEGIN " + "A " * 8_000,
        "-----BEGIN PRIVATE KEY-----" + "\\" * 20_000,
        "-----BEGIN PRIVATE KEY-----" + "a-----END " * 2_000,
        "a://b:" + "c@" * 10_000,
        "a://b:" + "@/" * 10_000,
    ],
    ids=[
        "hyphen-run",
        "base64url",
        "unclosed-quotes",
        "keyword-run",
        "header-quotes",
        "pem-begin-run",
        "pem-label-run",
        "pem-backslash-run",
        "pem-end-run",
        "url-at-run",
        "url-at-slash-run",
    ],
)
def test_scrub_takes_linear_time(text: str) -> None:
    """Hostile 15-25 KB lines are scrubbed in well under a second (a log line must never
    stall the request that writes it)."""
    started = time.perf_counter()
    logs.scrub(text)
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
    handler.addFilter(logs.LogFilter())
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
    (record,) = [r for r in records_of(caplog, app.logger.name) if r.exc_text]
    assert record.request_id == response.headers["X-Request-ID"]
    assert "postgresql://app:***@db.internal/prod" in caplog.text
    assert "s3cret" not in caplog.text


# -- structured records: extra fields, exc_info and stack_info -------------------------

#: The attributes of a record that are not ``extra=`` fields.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """A formatter as JSON logging libraries write one: the message, each ``extra``
    field, and the traceback formatted from ``exc_info`` when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, t.Any] = {"message": record.getMessage()}
        document.update(
            (k, v) for k, v in vars(record).items() if k not in STANDARD_ATTRIBUTES and k[0] != "_"
        )
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exc_info"] = record.exc_text
        if record.stack_info:
            document["stack_info"] = record.stack_info
        return json.dumps(document, default=repr)


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines through a handler with a LogFilter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(logs.LogFilter())
    logger = logging.getLogger(f"tests.json_{secrets.token_hex(4)}")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def nested(depth: int, leaf: object) -> object:
    """``leaf`` inside ``depth`` nested lists."""
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def werkzeug_request(url: str) -> t.Any:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(url).get_request()


class Connection:
    """An object whose repr is clean and whose str, as ``%(name)s`` writes it, is not."""

    def __repr__(self) -> str:
        return "<Connection>"

    def __str__(self) -> str:
        return "postgresql://app:S3cr3tV4lue@db/prod"


def unprintable() -> object:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    return Unprintable()


@pytest.mark.parametrize(
    ("extra", "secret"),
    [
        ({"credentials": "S3cr3tV4lue"}, "S3cr3tV4lue"),
        ({"Cookie": "theme=S3cr3tV4lue"}, "S3cr3tV4lue"),
        ({"headers": [("X-Api-Key", "S3cr3tV4lue"), ("Accept", "*/*")]}, "S3cr3tV4lue"),
        ({"argv": ("serve", "--password=S3cr3tV4lue")}, "S3cr3tV4lue"),
        ({"body": b'{"token": "S3cr3tV4lue"}'}, "S3cr3tV4lue"),
        ({"request": werkzeug_request("/reset?token=S3cr3tV4lue")}, "S3cr3tV4lue"),
        ({"error": ConnectionError("postgresql://app:S3cr3tV4lue@db/x")}, "S3cr3tV4lue"),
        ({"connection": Connection()}, "S3cr3tV4lue"),
        ({"deep": nested(20, {"password": "S3cr3tV4lue"})}, "S3cr3tV4lue"),
        ({"rows": [{"n": n} for n in range(2_000)] + [{"token": "S3cr3tV4lue"}]}, "S3cr3tV4lue"),
        ({"multi": MultiDict([("user", "bob"), ("password", "S3cr3tV4lue")])}, "S3cr3tV4lue"),
    ],
    ids=[
        "secret-name",
        "header-name",
        "header-pairs",
        "tuple-of-strings",
        "bytes",
        "object-repr",
        "exception",
        "object-str",
        "past-the-depth",
        "past-the-budget",
        "dict-subclass",
    ],
)
def test_extra_fields_are_scrubbed(
    json_log: tuple[logging.Logger, io.StringIO], extra: dict[str, t.Any], secret: str
) -> None:
    """No secret in an ``extra=`` field reaches a JSON line, however it is nested or
    whatever object holds it."""
    logger, stream = json_log
    logger.warning("event", extra=extra)
    output = stream.getvalue()
    assert secret not in output
    assert "redacted" in output or "***" in output


def test_extra_fields_keep_their_shape_and_the_callers_objects(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    """A field with a secret is written as a scrubbed copy of the same shape; the
    caller's own objects are left unchanged."""
    logger, stream = json_log
    form = {"user": "bob", "password": "S3cr3tV4lue", "next": ["/a", ("token", "T0k3n")]}
    logger.warning("login", extra={"form": form})
    assert json.loads(stream.getvalue())["form"] == {
        "user": "bob",
        "password": "[redacted]",
        "next": ["/a", ["token", "[redacted]"]],
    }
    assert form == {"user": "bob", "password": "S3cr3tV4lue", "next": ["/a", ("token", "T0k3n")]}


def test_extra_fields_without_secrets_are_passed_on_as_they_are() -> None:
    """Fields without a secret stay the caller's very objects; None and booleans under a
    secret's name stay too, as they cannot be one."""
    form = {"user": "bob", "tags": ["a", ("b", 1)], "at": 1.5}
    when = datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC)
    record = logging.getLogger("x").makeRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "m",
        None,
        None,
        extra={"form": form, "when": when, "token_expired": True, "password": None, "count": 3},
    )
    logs.LogFilter().filter(record)
    assert record.form is form
    assert record.when is when
    assert (record.token_expired, record.password, record.count) == (True, None, 3)


def test_extra_field_that_cannot_be_printed_is_redacted(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    """A field whose repr fails cannot be checked, so it is not written; the call that
    logs it does not fail."""
    logger, stream = json_log
    logger.warning("event", extra={"thing": unprintable(), "user": "bob"})
    assert json.loads(stream.getvalue())["thing"] == "[redacted]"
    assert json.loads(stream.getvalue())["user"] == "bob"


def test_record_without_extra_fields_is_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record with no ``extra=`` field never reaches the field scrubbing."""

    def fail(record: logging.LogRecord) -> None:
        raise AssertionError("searched a record without extra fields")

    monkeypatch.setattr(logs, "_scrub_extras", fail)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "password=%s", ("pw",), None)
    assert logs.LogFilter().filter(record) is True
    assert record.getMessage() == "password=[redacted]"


def raise_with_url() -> None:
    raise ConnectionError("cannot reach postgresql://app:S3cr3tV4lue@db.internal/prod")


def test_traceback_is_not_formatted_again_from_the_exception(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    """The filter leaves the scrubbed traceback text and no exception to format again."""
    logger, stream = json_log
    try:
        raise_with_url()
    except ConnectionError:
        logger.exception("store failed")
    traceback = json.loads(stream.getvalue())["exc_info"]
    assert traceback.startswith("Traceback (most recent call last):")
    assert "ConnectionError: cannot reach postgresql://app:***@db.internal/prod" in traceback
    assert "S3cr3tV4lue" not in stream.getvalue()


def log_with_stack(logger: logging.Logger) -> None:
    logger.warning("slow", stack_info=True)  # postgresql://app:S3cr3tV4lue@db/prod


def test_stack_info_is_scrubbed(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    """A stack logged with ``stack_info=True`` shows source lines: they are scrubbed."""
    logger, stream = json_log
    log_with_stack(logger)
    stack = json.loads(stream.getvalue())["stack_info"]
    assert "postgresql://app:***@db/prod" in stack
    assert "S3cr3tV4lue" not in stream.getvalue()


def failing_app(names: list[str]) -> Flask:
    """A Flask-Bastion app under a fresh name whose view fails with a URL password."""
    name = f"tests.logs_{secrets.token_hex(4)}"
    names.append(name)
    app = Flask(name)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    app.add_url_rule("/db", "db", raise_with_url)
    Bastion(app, sessions_store="memory")
    return app


def error_output(app: Flask) -> str:
    stream = io.StringIO()
    response = app.test_client().get("/db", base_url=HTTPS, errors_stream=stream)
    assert response.status_code == 500
    return stream.getvalue()


@pytest.mark.parametrize("customised", [False, True], ids=["bastion-handler", "operator-format"])
def test_default_handlers_write_the_scrubbed_traceback(
    logger_names: list[str], monkeypatch: pytest.MonkeyPatch, customised: bool
) -> None:
    """Flask-Bastion's handler, and Flask's handler with the operator's format, still
    write the traceback of an unhandled exception, scrubbed, now that the record keeps
    it only as text."""
    if customised:
        monkeypatch.setattr(flask_default_handler, "formatter", logging.Formatter("%(message)s"))
    with unconfigured_logging():
        output = error_output(failing_app(logger_names))
    assert "Exception on /db [GET]\nTraceback (most recent call last):\n" in output
    assert (
        'in raise_with_url\n    raise ConnectionError("cannot reach postgresql://app:***@' in output
    )
    assert output.endswith("ConnectionError: cannot reach postgresql://app:***@db.internal/prod\n")
    assert "S3cr3tV4lue" not in output
