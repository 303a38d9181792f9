"""Where Flask-Bastion keeps its state: per application in ``app.extensions["bastion"]``,
per request in the WSGI environ under :data:`ENVIRON_KEY` (on ``g._bastion`` in an
application context without a request), so it never collides with the application's
names and is reached without Flask's context proxies; and
:func:`find_with_vary` and :func:`add_vary`, for the response callbacks that add to
``Vary``.

A leaf module: it imports nothing else of Flask-Bastion at run time, so every module can
reach the state without an import cycle.
"""

from __future__ import annotations

import binascii
import logging
import secrets
import typing as t

from flask import Flask, g, has_app_context, has_request_context, request

if t.TYPE_CHECKING:
    from .extension import BastionState

_log = logging.getLogger("flask_bastion")

#: Key of the per-application state in ``app.extensions``.
EXTENSION_KEY = "bastion"
#: Key of the request's :class:`RequestState` in the WSGI environ: the pipeline puts it
#: there, and the response step finds it without going through Flask's context proxies.
ENVIRON_KEY = "flask_bastion.state"

T = t.TypeVar("T")
#: A response callback: ``(status, headers)``; it may append to ``headers``.
ResponseCallback = t.Callable[[str, list[tuple[str, str]]], None]


def get_state(app: Flask) -> BastionState:
    """The :class:`~flask_bastion.extension.BastionState` of ``app``.

    :raises RuntimeError: when Flask-Bastion is not initialised on ``app``.
    """
    try:
        return t.cast("BastionState", app.extensions[EXTENSION_KEY])
    except KeyError:
        raise RuntimeError("Flask-Bastion is not initialised on this application.") from None


class RequestState:
    """What Flask-Bastion knows about the current request.

    Components keep their own per-request data here without editing this class: each
    stores one object of a type it owns with :meth:`put` and reads it back with
    :meth:`get` (the type is the key, so two components never collide). Headers that
    depend on the request (``RateLimit``, ``Retry-After``, ``Vary``) are added by a
    callback registered with :meth:`on_response`; a request that registers none costs
    nothing at response time.
    """

    __slots__ = (
        "_callbacks",
        "_extras",
        "_nonce",
        "_request_id",
        "endpoint",
        "present",
        "stateless",
    )

    def __init__(self, request_id: str | None = None) -> None:
        self._request_id = request_id
        #: The endpoint the request was routed to (``None`` when unrouted), set by the
        #: pipeline before the first hook: components read it here rather than through
        #: ``request.endpoint``.
        self.endpoint: str | None = None
        #: Set by the authentication stage when the request proved who it is by itself
        #: (``Authorization: Bearer`` with a personal API token): no cookie session is
        #: created or written for it, and the forgery stage does not apply, because a
        #: browser never attaches that header to a cross-site request on its own.
        self.stateless = False
        #: The lower-case names of the headers the response had before Bastion added its
        #: own, set as the response starts: a callback leaves those alone without
        #: scanning the list.
        self.present: t.AbstractSet[str] = frozenset()
        self._nonce: str | None = None
        self._extras: dict[type[t.Any], t.Any] | None = None
        self._callbacks: list[ResponseCallback] | None = None

    @property
    def request_id(self) -> str:
        """The request ID: sent in a response header, shown on error pages, logged.
        96 bits from :mod:`secrets` unless a trusted proxy supplied one."""
        if self._request_id is None:
            self._draw()
        return t.cast(str, self._request_id)

    @request_id.setter
    def request_id(self, value: str) -> None:
        self._request_id = value

    @property
    def nonce(self) -> str:
        """The CSP nonce of this response: 128 bits from :mod:`secrets`, made on first use.

        Standard base64, the only alphabet CSP Level 2 browsers accept in a nonce."""
        if self._nonce is None:
            self._draw()
        return t.cast(str, self._nonce)

    def _draw(self) -> None:
        # A response needs both values, so one read of the system's random source makes
        # them, from separate bytes: 128 bits of nonce, 96 bits of request ID.
        raw = secrets.token_bytes(28)
        if self._nonce is None:
            self._nonce = binascii.b2a_base64(raw[:16], newline=False).decode("ascii")
        if self._request_id is None:
            self._request_id = raw[16:].hex()

    def put(self, value: object) -> None:
        """Keep ``value`` for this request under its type."""
        if self._extras is None:
            self._extras = {}
        self._extras[type(value)] = value

    def get(self, kind: type[T]) -> T | None:
        """The value of type ``kind`` kept with :meth:`put`, or ``None``."""
        return None if self._extras is None else self._extras.get(kind)

    def on_response(self, callback: ResponseCallback) -> None:
        """Call ``callback(status, headers)`` when this request's response starts, after
        the per-view headers were added; it may append headers (a header the response
        already has should be left alone). A callback registered again runs once."""
        if self._callbacks is None:
            self._callbacks = [callback]
        elif callback not in self._callbacks:  # registered once, however often asked
            self._callbacks.append(callback)

    def run_callbacks(self, status: str, headers: list[tuple[str, str]]) -> None:
        """Run the callbacks registered with :meth:`on_response`, in order.

        The response is already on its way, so a callback that fails cannot turn it into
        an error page any more: its failure is logged (with the request ID, scrubbed)
        and the other callbacks still run, rather than the server sending its bare 500
        without the security headers already added."""
        if self._callbacks is not None:
            for callback in self._callbacks:
                try:
                    callback(status, headers)
                except Exception:
                    _log.exception("response callback %r failed", callback)


def request_state() -> RequestState:
    """The current request's :class:`RequestState`, created if a hook has not run yet
    (for instance when an error is rendered before ``before_request``); in an
    application context without a request (a command rendering a template), that
    context's own."""
    if has_request_context():
        environ = request.environ
        state: RequestState | None = environ.get(ENVIRON_KEY)
        if state is None:
            state = environ[ENVIRON_KEY] = RequestState()
        return state
    state = g.get("_bastion")
    if state is None:
        state = g._bastion = RequestState()
    return state


def current_state() -> RequestState | None:
    """:func:`request_state` if there is one already, else ``None`` (never makes one)."""
    if has_request_context():
        return t.cast("RequestState | None", request.environ.get(ENVIRON_KEY))
    return g.get("_bastion") if has_app_context() else None


def find_with_vary(headers: list[tuple[str, str]], name: str) -> tuple[int, int]:
    """The indexes of the last ``name`` header (given in lower case) and of the last
    ``Vary`` in a WSGI header list (a response callback's), ``-1`` for one it lacks:
    one pass for a callback that sets a header of its own and adds to ``Vary``."""
    found = vary_at = -1
    for index, (field, _value) in enumerate(headers):
        lower = field.lower()
        if lower == name:
            found = index
        elif lower == "vary":
            vary_at = index
    return found, vary_at


def add_vary(headers: list[tuple[str, str]], at: int, field: str) -> None:
    """Add ``field`` to the ``Vary`` header at index ``at`` of a WSGI header list (from
    :func:`find_with_vary`), unless it is there already; ``at`` of ``-1``: the list has
    no ``Vary``, which is appended."""
    if at < 0:
        headers.append(("Vary", field))
    else:
        name, value = headers[at]
        if field.lower() not in (part.strip().lower() for part in value.split(",")):
            headers[at] = (name, f"{value}, {field}")
