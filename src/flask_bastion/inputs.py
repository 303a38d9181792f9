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
from operator import itemgetter
from urllib.parse import unquote_to_bytes

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from .components import Stage
from .config import BastionConfig
from .context import RequestState
from .exceptions import BodyTooLarge, HeadersTooLarge, MalformedRequest
from .refusal import refuse

REASON_HEADERS_TOO_LARGE = "request headers too large"
REASON_PATH_ENCODING = "path is not valid UTF-8"
REASON_PATH_CONTROL = "path contains control characters"
REASON_QUERY_ENCODING = "query string is not valid percent-encoded UTF-8"
REASON_FORM_ENCODING = "form body is not valid percent-encoded UTF-8"
REASON_FORM_TOO_LARGE = "form body is larger than MAX_FORM_MEMORY_SIZE"
REASON_CONTENT_LENGTH = "Content-Length is not a non-negative integer"
REASON_BODY_UNREADABLE = "request body could not be read"
REASON_BODY_TRUNCATED = "request body is shorter than its Content-Length"

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def reject(reason: str, status: int = 400) -> t.NoReturn:
    """Refuse the request with the 4xx matching ``status``, through
    :func:`~flask_bastion.refusal.refuse` (signal, security log line, error page)."""
    if status == 431:
        refuse(HeadersTooLarge(reason))
    if status == 413:
        refuse(BodyTooLarge(reason))
    refuse(MalformedRequest(reason))


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


#: Header sets remembered by :class:`_HeaderBytes`, and the longest names that are.
_HEADER_SETS = 256
_HEADER_SET_NAMES = 4096


class _HeaderBytes:
    """The size of a request's headers: the length of every ``HTTP_*`` key and value.

    Counted in Python, one header at a time, that is the costliest check of an ordinary
    request. Browsers send the same header names request after request, so the names
    of each set seen (with their total length) are remembered, keyed by the environ's
    keys in order: the values are then taken and measured in C, whatever the number of
    headers. The memory is bounded: at most :data:`_HEADER_SETS` sets, and a set whose
    names are longer than :data:`_HEADER_SET_NAMES` characters is counted without being
    remembered, so a client inventing names costs only its own request's time.
    """

    __slots__ = ("_sets",)

    def __init__(self) -> None:
        self._sets: dict[tuple[str, ...], tuple[t.Callable[[t.Any], t.Any], int, bool]] = {}

    def __call__(self, environ: t.Mapping[str, t.Any]) -> int:
        keys = tuple(environ)
        found = self._sets.get(keys)
        if found is None:
            names = [key for key in keys if key[:5] == "HTTP_"]
            if not names:
                return 0
            found = (itemgetter(*names), sum(map(len, names)), len(names) == 1)
            if found[1] <= _HEADER_SET_NAMES:
                if len(self._sets) >= _HEADER_SETS:
                    self._sets.clear()
                self._sets[keys] = found
        take, names_size, single = found
        values = (take(environ),) if single else take(environ)
        try:
            return names_size + len("".join(values))
        except TypeError:  # a value that is not a str: the server is outside PEP 3333
            return names_size + sum(len(value) for value in values)


class _GuardedInput:
    """``wsgi.input`` that turns any failure to read the body into a 400 rejection.

    WSGI servers report a malformed body with exceptions of their own, raised from
    whatever reads it: gunicorn's ``InvalidChunkSize`` for a bad chunk size is neither
    an ``OSError`` nor a ``ValueError``, so werkzeug lets it through and the view's
    ``request.get_json()`` ends in a 500. And a server that decodes the framing itself
    (``wsgi.input_terminated``, as gunicorn does) may end a body that is shorter than its
    ``Content-Length`` as if it were complete, which would hand the view truncated data.
    """

    __slots__ = ("_left", "_stream")

    def __init__(self, stream: t.IO[bytes], length: int | None) -> None:
        self._stream = stream
        #: Bytes the client still owes, by its ``Content-Length``; ``None`` when chunked.
        self._left = length

    def _read(self, method: t.Callable[..., bytes], size: int | None, whole: bool) -> bytes:
        size = -1 if size is None else size
        try:
            # Without a size when none was given: PEP 3333 does not require servers to
            # accept one for readline().
            data = method(size) if size >= 0 else method()
        except HTTPException:  # werkzeug's own answer (413, 400) stands
            raise
        except Exception:  # each server raises its own types; none may become a 500
            reject(REASON_BODY_UNREADABLE)
        if self._left is not None and size != 0:
            # An empty read, or a read of everything that is shorter than what is owed,
            # is the end of the body.
            if self._left > len(data) and (not data or whole):
                reject(REASON_BODY_TRUNCATED)
            self._left -= len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._read(self._stream.read, size, whole=size is None or size < 0)

    def readline(self, size: int | None = -1) -> bytes:
        return self._read(self._stream.readline, size, whole=False)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(self)  # PEP 3333: the hint may be ignored

    def __iter__(self) -> t.Iterator[bytes]:
        return iter(self.readline, b"")


class InputLimits:
    """Component: request-size limits and the rejection of malformed requests."""

    name = "inputs"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.inputs
        self.max_header_bytes = self.config.max_header_bytes
        self._header_bytes = _HeaderBytes()

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

    def before_request(self, request: Request, state: RequestState) -> None:
        """Reject requests whose headers, path, query or form cannot be decoded safely,
        and guard the body so that reading it never fails with a 500."""
        environ = request.environ
        if self._header_bytes(environ) > self.max_header_bytes:
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
        # A control character is never printable: the C check clears almost every path.
        if not path.isprintable() and _CONTROL.search(path):
            reject(REASON_PATH_CONTROL)
        query: str = environ.get("QUERY_STRING", "")
        if query and (not query.isascii() or "%" in query):
            try:
                raw = query.encode("latin-1")
            except UnicodeError:
                reject(REASON_QUERY_ENCODING)
            if not _valid_percent_utf8(raw):
                reject(REASON_QUERY_ENCODING)
        if "HTTP_TRANSFER_ENCODING" in environ:
            # Content-Length does not apply to a chunked body (RFC 9112 section 6.3).
            self._guard_body(request, None)
        elif length and length != "0":
            self._guard_body(request, int(length))

    def _guard_body(self, request: Request, length: int | None) -> None:
        # Before anything reads the body: request.stream is made from it on first use.
        request.environ["wsgi.input"] = _GuardedInput(request.environ["wsgi.input"], length)
        if (
            request.method in _UNSAFE_METHODS
            and request.mimetype == "application/x-www-form-urlencoded"
        ):
            self._check_form(request)

    @staticmethod
    def _check_form(request: Request) -> None:
        # Read (and cache) the body so the form parser later reuses it. The declared
        # length is refused before anything is read; a chunked body has none, and is
        # read up to MAX_CONTENT_LENGTH, then held to the same limit.
        limit = request.max_form_memory_size
        if limit is not None and (request.content_length or 0) > limit:
            reject(REASON_FORM_TOO_LARGE, 413)
        body = request.get_data(cache=True)
        if limit is not None and len(body) > limit:
            reject(REASON_FORM_TOO_LARGE, 413)
        if not _valid_percent_utf8(body):
            reject(REASON_FORM_ENCODING)
