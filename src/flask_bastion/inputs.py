"""Input limits: malformed requests are rejected and request sizes bounded before any view.

Defends against inputs built to make the application crash or misbehave: invalid UTF-8
and percent-encoding that decode differently in two layers (a proxy and the application,
a validator and a database), which is how filters are bypassed; control characters that
split log lines and headers; bodies that cannot be read (a broken chunked encoding, a
body shorter than its ``Content-Length``), which would otherwise reach the view as a
server error or as silently truncated data; deeply nested JSON; and oversized bodies and
headers, which exhaust memory.

* Headers larger than ``BASTION_INPUTS_MAX_HEADER_BYTES`` get 431; a path, query string
  or URL-encoded form that is not valid (percent-encoded) UTF-8, a path with control
  characters and a ``Content-Length`` that is not a number get 400.
* ``MAX_CONTENT_LENGTH``, ``MAX_FORM_MEMORY_SIZE`` and ``MAX_FORM_PARTS`` are set when the
  application has not set them; larger bodies get 413.
* Any failure to read the body, wherever it is read, is a 400.

Every rejection sends :data:`~flask_bastion.signals.request_rejected` and logs a warning
on the ``flask_bastion.security`` logger with its ``REASON_*`` constant.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, current_app
from flask.json.provider import DefaultJSONProvider

from . import signals
from .config import BastionConfig
from .exceptions import BodyTooLarge, HeadersTooLarge, MalformedRequest
from .logs import security_log

REASON_HEADERS_TOO_LARGE = "request headers too large"
REASON_PATH_ENCODING = "path is not valid UTF-8"
REASON_PATH_CONTROL = "path contains control characters"
REASON_QUERY_ENCODING = "query string is not valid percent-encoded UTF-8"
REASON_FORM_ENCODING = "form body is not valid percent-encoded UTF-8"
REASON_FORM_TOO_LARGE = "form body is larger than MAX_FORM_MEMORY_SIZE"
REASON_CONTENT_LENGTH = "Content-Length is not a non-negative integer"

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def reject(reason: str, status: int = 400) -> t.NoReturn:
    """Emit the rejection signal and security log line, then raise the matching 4xx."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.request_rejected.send(app, reason=reason, status=status)
    security_log.warning(
        "request rejected: %s", reason, extra={"event": "request.rejected", "reason": reason}
    )
    if status == 431:
        raise HeadersTooLarge(reason)
    if status == 413:
        raise BodyTooLarge(reason)
    raise MalformedRequest(reason)


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


class InputLimits:
    """Component: request-size limits and the rejection of malformed requests."""

    name = "inputs"

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.inputs
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
        _install_json_guard(app)

    def before_request(self, request: Request) -> None:
        """Reject requests whose headers, path, query or form cannot be decoded safely."""
        environ = request.environ
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
