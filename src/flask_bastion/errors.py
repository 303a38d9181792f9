"""Safe errors: error pages without internals, request IDs, malformed-input rejection and
log scrubbing.

Defends against information leaks (tracebacks, framework names and versions, SQL, file
paths in error pages help an attacker aim), against inputs built to make the application
crash or misbehave (invalid UTF-8 and percent-encoding that decode differently in two
layers, oversized bodies and headers), and against secrets leaking into logs.

* Every 4xx/5xx becomes a page rendered from ``bastion/error.html`` (override it in the
  application's templates) or, for clients that prefer JSON, an RFC 9457
  ``application/problem+json`` document. A 5xx never shows the exception, nor the text
  an application gave ``abort(503, ...)`` (such text names hosts, URLs and databases)
  unless it is marked :class:`PublicText`; the traceback or the text goes to the
  server log only, under the request ID.
* Each request gets an ID (taken from a trusted proxy's header when well formed, otherwise
  generated) that is sent in ``X-Request-ID``, shown on error pages and added to every log
  line, so a user's report leads straight to the log entry.
* Malformed requests are rejected with 400 or 431 before any view runs.
* :class:`LogFilter` redacts passwords, tokens, cookies, credentials and URL passwords.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import typing as t
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Flask, Request, Response, current_app, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.logging import default_handler
from markupsafe import escape
from werkzeug.exceptions import HTTPException, default_exceptions

from . import signals
from .components import Stage
from .config import BastionConfig
from .context import RequestState, request_state
from .exceptions import BodyTooLarge, HeadersTooLarge, MalformedRequest, Rejection
from .proxy import peer_is_trusted
from .refusal import refuse, security_log

#: Logger for security events (rejections); later fed to the audit sinks.
__all__ = ["security_log"]  # re-exported: the logger's historical home

REASON_HEADERS_TOO_LARGE = "request headers too large"
REASON_PATH_ENCODING = "path is not valid UTF-8"
REASON_PATH_CONTROL = "path contains control characters"
REASON_QUERY_ENCODING = "query string is not valid percent-encoded UTF-8"
REASON_FORM_ENCODING = "form body is not valid percent-encoded UTF-8"
REASON_FORM_TOO_LARGE = "form body is larger than MAX_FORM_MEMORY_SIZE"
REASON_CONTENT_LENGTH = "Content-Length is not a non-negative integer"

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON_TYPES = ("application/json", "application/problem+json")

_FLASK_LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"
#: The format given to Flask's default handler: Flask's own, plus the request ID.
LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s [%(request_id)s]: %(message)s"

_REDACTED = "[redacted]"
#: What replaces a password or a secret parameter inside a URL. ``***`` (as SQLAlchemy
#: prints a URL) keeps the masked URL a valid URL; ``[redacted]`` in the host part would
#: read as an IPv6 literal.
URL_MASK = "***"

# The scrubbing patterns are ASCII and case-insensitive, so a plain lower-case substring
# test tells whether a pattern can match at all (see scrub()).
_FLAGS = re.ASCII | re.IGNORECASE
#: Keys whose values are secrets: ``password=``, ``"api_key":``, ``('token', ...)``.
#: Atomic, and starting only where a run of name characters starts, so a long run such
#: as a base64url blob costs one pass, not one pass per hyphen.
_SENSITIVE_KEY = (
    r"(?<![\w-])(?>[\w-]*?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key"
    r"|signature|session(?:[_-]?id)?)[\w-]*+)"
)
_SENSITIVE_KEY_WORDS = ("pass", "pwd", "secret", "token", "key", "signature", "session")
#: Request headers whose whole value is secret, in header (``Proxy-Authorization``) and
#: WSGI environ (``HTTP_PROXY_AUTHORIZATION``) spelling, also after an escaped line
#: break (``\r\nCookie:`` in a repr'd raw request).
_SENSITIVE_HEADER = (
    r"(?:(?<![a-z0-9])|(?<=\\[rn]))(?:http_)?(?:(?:proxy[-_])?authorization"
    r"|(?:set[-_])?cookie|x[-_]api[-_]key|x[-_][cx]srf[-_]token)"
)
_SENSITIVE_HEADER_WORDS = ("authorization", "cookie", "api", "srf")
# A quoted value: "..." or '...' with backslash escapes (JSON, Python reprs, source
# lines), also as repr'd JSON, whose escaped quotes are doubled ("hun\\"ter2"), and
# \"...\" (JSON inside a JSON string, whose own escapes are \\\" and \\\\). It ends at a
# quote followed by what can follow a value, which settles whether \\" closes it. No
# alternative crosses an unescaped quote, so each is one pass to the next quote.
_END = r"(?=[\s,;&)}\]'\"\\]|$)"
_QUOTED = (
    rf'"(?:[^"\\\r\n]|\\\\"|\\.)*?"{_END}'
    rf"|'(?:[^'\\\r\n]|\\\\'|\\.)*?'{_END}"
    rf'|\\"(?:[^"\\\r\n]|\\\\\\\\|\\\\\\"|\\\\[^"\\\r\n])*?\\"{_END}'
)
#: The key part of a pair: the key, quoted or not, and ``=``, ``:`` or (after a quoted
#: key, as in ``('password', 'x')``) ``,``. A value already masked is left alone.
_PAIR = (
    r"(?P<head>(?P<quote>\\?['\"]|){key}(?P=quote)(?:\s*[:=]\s*|(?<=['\"])\s*,\s*))"
    r"(?!(?:\\?['\"])?(?:\[redacted\]|\*\*\*))"
)
_SENSITIVE_PAIR = re.compile(
    _PAIR.format(key=_SENSITIVE_KEY) + rf"(?P<value>{_QUOTED}|[^\s&,;}}\]]+)", _FLAGS
)
# The value of a secret header runs to the end of the line (or of an escaped line, in a
# repr'd raw request): Digest parameters and cookie lists hold quotes, commas and
# semicolons.
_HEADER_PAIR = re.compile(
    _PAIR.format(key=_SENSITIVE_HEADER) + rf"(?P<value>{_QUOTED}|(?:[^\r\n\\]|\\(?![rn]))+)",
    _FLAGS,
)
#: token68 credentials after their scheme. A credential has a capital, a digit or a
#: symbol, so "Basic usage" and "NTLM authentication" are left as prose.
_CREDENTIAL = re.compile(
    r"\b(bearer|basic|negotiate|ntlm)\s+"
    r"(?-i:(?=[a-z._~+/=-]*[A-Z0-9._~+/=-])[A-Za-z0-9._~+/=-]{4,})",
    _FLAGS,
)
_CREDENTIAL_WORDS = ("bearer", "basic", "negotiate", "ntlm")
#: A Digest credential is a list of parameters (nonce, cnonce, response, ...).
_DIGEST_PARAM = r'[\w-]+\s*=\s*(?:"(?:[^"\\\r\n]|\\.)*"|[^\s,]+)'
_DIGEST = re.compile(rf"\b(digest)\s+{_DIGEST_PARAM}(?:\s*,\s*{_DIGEST_PARAM})*", _FLAGS)
_URL = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s'\"<>]+", _FLAGS)
# userinfo ends at the last "@" before the path: a raw "@" in a password is common.
_URL_PASSWORD = re.compile(r"^([^:]+://[^:/?#@]*):[^/?#]*@")
_URL_SENSITIVE_PARAM = re.compile(rf"([?&;]{_SENSITIVE_KEY}=)[^&#;]*", _FLAGS)


def _mask_url(match: re.Match[str]) -> str:
    url = _URL_PASSWORD.sub(rf"\1:{URL_MASK}@", match[0])
    return _URL_SENSITIVE_PARAM.sub(rf"\1{URL_MASK}", url)


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL and its secret parameters masked.

    ``postgresql://app:s3cret@db/prod`` becomes ``postgresql://app:***@db/prod`` and
    ``https://x.example/r?token=abc`` becomes ``https://x.example/r?token=***``; text
    without a URL is returned unchanged, so any setting's value can be passed.
    """
    return _URL.sub(_mask_url, text) if "://" in text else text


def _redact_value(match: re.Match[str]) -> str:
    # A quoted value keeps its quotes, so scrubbed JSON is still JSON.
    value = match["value"]
    for quote in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote) and value[: len(quote)] == value[-len(quote) :] == quote:
            return f"{match['head']}{quote}{_REDACTED}{quote}"
    return f"{match['head']}{_REDACTED}"


#: (words, rule): a rule runs only on text holding one of its words, in lower case. Most
#: log lines hold none, so scrubbing them costs a few substring searches.
_RULES: tuple[tuple[tuple[str, ...], t.Callable[[str], str]], ...] = (
    (("://",), mask_urls),
    (_SENSITIVE_HEADER_WORDS, functools.partial(_HEADER_PAIR.sub, _redact_value)),
    (_CREDENTIAL_WORDS, functools.partial(_CREDENTIAL.sub, rf"\1 {_REDACTED}")),
    (("digest",), functools.partial(_DIGEST.sub, rf"\1 {_REDACTED}")),
    (_SENSITIVE_KEY_WORDS, functools.partial(_SENSITIVE_PAIR.sub, _redact_value)),
)


def scrub(text: str) -> str:
    """``text`` with secrets redacted: URL passwords and secret URL parameters; the values
    of ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
    ``X-API-Key`` and ``X-CSRF-Token``, also in WSGI environ spelling (``HTTP_COOKIE``);
    ``Bearer``, ``Basic``, ``Negotiate``, ``NTLM`` and ``Digest`` credentials; and the
    values of keys naming a password, secret, token, API key, signature or session."""
    lowered = text.lower()
    for words, rule in _RULES:
        if any(word in lowered for word in words):
            text = rule(text)
    return text


class LogFilter(logging.Filter):
    """Adds ``record.request_id`` and redacts secrets from the message and traceback.

    Installed on the application's logger and on Flask's default handler; add it to any
    other handler (JSON, syslog) with ``handler.addFilter(LogFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        state: RequestState | None = None
        try:
            from flask import g

            state = g.get("_bastion")
        except RuntimeError:  # outside an application context
            pass
        if not hasattr(record, "request_id"):
            record.request_id = state.request_id if state is not None else "-"
        if not getattr(record, "_bastion_scrubbed", False):
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
            record._bastion_scrubbed = True
        return True


def _install_logging(app: Flask) -> None:
    for target in (app.logger, security_log, default_handler):
        if not any(isinstance(f, LogFilter) for f in target.filters):
            target.addFilter(LogFilter())
    formatter = default_handler.formatter
    if formatter is not None and formatter._fmt == _FLASK_LOG_FORMAT:
        default_handler.setFormatter(logging.Formatter(LOG_FORMAT))


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _install_json_guard(app: Flask) -> None:
    # The stdlib JSON parser recurses once per nesting level, so a body such as ``[[[[...``
    # 10,000 deep raises RecursionError, which ``request.get_json()`` does not catch: a
    # 500 for a malformed body. As a ValueError it becomes Flask's usual 400. It also
    # accepts NaN and Infinity, which are not JSON and slip past comparisons such as
    # ``amount > limit``; Flask's default provider is told to refuse them.
    loads = app.json.loads
    strict = {"parse_constant": _refuse_constant} if type(app.json) is DefaultJSONProvider else {}

    def guarded_loads(s: str | bytes, **kwargs: t.Any) -> t.Any:
        try:
            return loads(s, **{**strict, **kwargs})
        except RecursionError:
            raise ValueError("JSON document is nested too deeply") from None

    app.json.loads = guarded_loads  # type: ignore[method-assign]


def _valid_percent_utf8(raw: bytes) -> bool:
    if _BAD_ESCAPE.search(raw):
        return False
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def reject(reason: str, status: int = 400) -> t.NoReturn:
    """Refuse the request with the 4xx matching ``status``, through
    :func:`~flask_bastion.refusal.refuse` (signal, security log line, error page)."""
    if status == 431:
        refuse(HeadersTooLarge(reason))
    if status == 413:
        refuse(BodyTooLarge(reason))
    refuse(MalformedRequest(reason))


#: Templates (``bastion/error.html``) are served through a route-less blueprint so the
#: application's own template folder can override them.
blueprint = Blueprint("flask_bastion", __name__, template_folder="templates")

_FALLBACK_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>{code} {title}</title>"
    "<h1>{code} {title}</h1><p>{description}</p><p>Request ID: <code>{request_id}</code></p>"
)


class SafeErrors:
    """Component: request IDs, input validation, error pages and log scrubbing."""

    name = "errors"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.errors
        self.request_id_key = "HTTP_" + self.config.request_id_header.upper().replace("-", "_")
        self.max_header_bytes = self.config.max_header_bytes

    def init_app(self, app: Flask) -> None:
        limits = {
            "MAX_CONTENT_LENGTH": self.config.max_content_length,
            "MAX_FORM_MEMORY_SIZE": self.config.max_form_memory_size,
            "MAX_FORM_PARTS": self.config.max_form_parts,
        }
        for key, value in limits.items():
            # Flask 3.1 gives MAX_FORM_MEMORY_SIZE and MAX_FORM_PARTS numeric defaults, so
            # Flask's own default counts as "not set by the application" too.
            if app.config.get(key) in (None, app.default_config.get(key)):
                app.config[key] = value
        _install_logging(app)
        _install_json_guard(app)
        if self.config.enabled:
            if "flask_bastion" not in app.blueprints:
                app.register_blueprint(blueprint)
            app.register_error_handler(HTTPException, self.handle_http_exception)

    def before_request(self, request: Request, state: RequestState) -> None:
        """Take the request ID from a trusted proxy; reject requests whose headers, path,
        query or form cannot be decoded safely."""
        environ = request.environ
        forwarded = environ.get(self.request_id_key)
        # fullmatch: "$" would also match before a trailing newline, which would put a
        # line break into the response header and the log line.
        if forwarded and _REQUEST_ID.fullmatch(forwarded) and peer_is_trusted(environ):
            state.request_id = forwarded
        size = 0
        for key, value in environ.items():
            if key[:5] == "HTTP_":
                size += len(key) + len(value)
        if size > self.max_header_bytes:
            reject(REASON_HEADERS_TOO_LARGE, 431)
        length = environ.get("CONTENT_LENGTH")
        if length and not length.isdigit():  # werkzeug would read "-1" or "abc" as empty
            reject(REASON_CONTENT_LENGTH)
        path: str = environ.get("PATH_INFO", "")
        if not path.isascii():
            try:
                path = path.encode("latin-1").decode("utf-8")
            except UnicodeError:
                reject(REASON_PATH_ENCODING)
        if _CONTROL.search(path):
            reject(REASON_PATH_CONTROL)
        query: str = environ.get("QUERY_STRING", "")
        if query and (not query.isascii() or "%" in query):
            try:
                raw = query.encode("latin-1")
            except UnicodeError:
                reject(REASON_QUERY_ENCODING)
            if not _valid_percent_utf8(raw):
                reject(REASON_QUERY_ENCODING)
        if (
            request.method in _UNSAFE_METHODS
            and request.mimetype == "application/x-www-form-urlencoded"
        ):
            self._check_form(request)

    @staticmethod
    def _check_form(request: Request) -> None:
        # Read (and cache) the body so the form parser later reuses it; bounded by the
        # same limit the form parser applies, so nothing larger is ever buffered.
        limit = request.max_form_memory_size
        if limit is not None and (request.content_length or 0) > limit:
            reject(REASON_FORM_TOO_LARGE, 413)
        if not _valid_percent_utf8(request.get_data(cache=True)):
            reject(REASON_FORM_ENCODING)

    def handle_http_exception(self, error: HTTPException) -> HTTPException | Response:
        """Render any 4xx/5xx as a safe page or problem document."""
        if error.code is None or error.code < 400:
            return error
        if error.response is not None:  # abort(response): the application chose the body
            return error.response  # type: ignore[return-value]
        original = getattr(error, "original_exception", None)
        if original is not None:
            signals.server_error.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                request_id=request_state().request_id,
                exception=original,
            )
        response = render_error(error)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    if accept.best_match(["text/html", *_JSON_TYPES]) in _JSON_TYPES:
        return True
    # A JSON request whose client did not ask for HTML explicitly gets JSON back.
    return request.is_json and all(value != "text/html" for value, _ in accept)


class PublicText(str):
    """Text written for the client, which a 5xx error page may show.

    A 5xx page shows werkzeug's generic description for its status, never the text the
    application passed, because that text is usually written for developers and names
    what an attacker wants to know: ``abort(503, f"cannot reach {DATABASE_URL}")``. The
    text goes to the server log instead (scrubbed), under the request ID. Mark text
    meant for users to have it shown::

        abort(503, PublicText("Down for maintenance until 14:00 UTC."), retry_after=600)

        class Maintenance(ServiceUnavailable):
            description = PublicText("Down for maintenance until 14:00 UTC.")

    Only the exact text is marked: ``PublicText(...) + detail`` is a plain ``str`` again.
    The text is escaped on the HTML page like any other: public, not markup. 4xx
    descriptions are always shown and need no marking.

    .. versionadded:: 0.1
    """

    __slots__ = ()


#: Shown for an unhandled exception, and for a 5xx werkzeug has no description for.
SERVER_ERROR_TEXT = "The server could not complete the request. The error has been logged."


def _shown_description(error: HTTPException) -> str:
    """What the client may read about ``error``; a withheld 5xx text goes to the log."""
    code = error.code or 500
    description = error.description or ""
    # A Rejection's description is a REASON_* constant of Flask-Bastion's, never the
    # application's text.
    if code < 500 or isinstance(error, Rejection) or isinstance(description, PublicText):
        return description
    if getattr(error, "original_exception", None) is not None:  # Flask logged the traceback
        return SERVER_ERROR_TEXT
    builtin = default_exceptions.get(code)
    generic = (builtin.description if builtin is not None else None) or SERVER_ERROR_TEXT
    if description and description != generic:
        current_app.logger.error(
            "%s %s, text not shown to the client: %s", code, error.name, description
        )
    return generic


def render_error(error: HTTPException) -> Response:
    """The safe response for ``error``: an HTML page or an RFC 9457 problem document.

    A 5xx shows only werkzeug's generic description for its status, unless its text is
    :class:`PublicText` or it is one of Flask-Bastion's own rejections; never the
    exception."""
    code = error.code or 500
    title = error.name
    description = _shown_description(error)
    request_id = request_state().request_id
    if _wants_json():
        body = {
            "type": "about:blank",
            "title": title,
            "status": code,
            "detail": description,
            "request_id": request_id,
        }
        response = Response(json.dumps(body), code, mimetype="application/problem+json")
    else:
        response = _html_error(code, title, description, request_id)
    # The body depends on Accept: a shared cache must not give one client's JSON to
    # another client's browser, or the reverse.
    response.vary.add("Accept")
    return response


def _html_error(code: int, title: str, description: str, request_id: str) -> Response:
    context = {"code": code, "title": title, "description": description, "request_id": request_id}
    try:
        html = render_template("bastion/error.html", **context)
    except Exception:  # a broken override must not turn a 404 into a 500
        current_app.logger.exception("error template failed; using the built-in page")
        html = _FALLBACK_PAGE.format(**{k: escape(v) for k, v in context.items()})
    return Response(html, code, mimetype="text/html")
