"""The production rule against Werkzeug's debugger, however it is switched on.

Werkzeug's interactive debugger shows source code and local variables in every traceback
and, behind a PIN printed to the server's terminal, runs arbitrary Python in the browser
(``/console``). On a reachable server it is remote code execution waiting for a PIN, and
its tracebacks leak secrets even without one. Under the production profile Flask-Bastion
therefore refuses it at every point where it can be switched on:

* ``init_app`` raises :class:`~flask_bastion.exceptions.ConfigurationError` when ``DEBUG``
  is already on (``FLASK_DEBUG=1``, ``flask --debug run``, ``app.config["DEBUG"]``);
* ``app.run(debug=True)``, ``app.run(use_debugger=True)`` and ``FLASK_DEBUG=1`` at
  ``app.run()`` (in the environment or a ``.flaskenv`` file, spelt any way Flask reads
  as on, ``off`` included) raise the same error before a server starts;
* every request is refused with a 500 while ``DEBUG`` is on (set after ``init_app``) or
  while a :class:`werkzeug.debug.DebuggedApplication` wraps the application (``flask run
  --debugger``, a hand-made wrapper), so no view runs;
* a ``DebuggedApplication`` around the application, however it was installed, answers
  every request itself with a plain 500: neither its console nor its traceback page is
  served (it answers those without calling Flask, so this is done by wrapping its entry
  point once per process; a debugger around any other application is not affected);
* ``flask bastion check`` reports ``DEBUG``, a ``DebuggedApplication`` in the WSGI chain
  and application code that starts the debugger (``bastion.W005``, ``bastion.W009``).

The development profile allows all of this, on a machine only the developer can reach.
"""

from __future__ import annotations

import functools
import os
import types
import typing as t
from collections.abc import Iterable

import click
from flask import Flask, Request
from flask import cli as flask_cli
from flask.cli import run_command
from flask.helpers import get_debug_flag, get_load_dotenv

from . import signals
from .components import Stage
from .config import BastionConfig
from .context import EXTENSION_KEY, RequestState
from .exceptions import ConfigurationError, DebuggerRefused
from .logs import security_log
from .refusal import refuse

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The environ key :class:`werkzeug.debug.DebuggedApplication` sets on every request it
#: passes on (with ``evalex``, its default); present means the debugger wraps this app.
DEBUGGER_ENVIRON_KEY = "werkzeug.debug.preserve_context"

REASON_DEBUG_ON = "DEBUG is on under the production profile."
REASON_DEBUGGER_WRAPS = "Werkzeug's debugger wraps the application under the production profile."

_DEBUG_MESSAGE = (
    "the Werkzeug debugger runs arbitrary code for anyone who reaches it and shows source "
    "and secrets in tracebacks. Turn it off, or set BASTION_PROFILE='development' on a "
    "machine only you can reach."
)
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def _flask_run_debugger() -> bool:
    """Whether the application is being loaded by ``flask run --debugger``.

    ``flask run`` loads the application inside its own click context, then wraps it in
    the debugger; its ``--debugger`` flag is in that context's parameters."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command is run_command and bool(ctx.params.get("debugger"))


def refuse_debug_config(app: Flask) -> None:
    """Raise when ``DEBUG`` is on or ``flask run --debugger`` is loading the application;
    called by ``init_app`` under the production profile.

    :raises ConfigurationError: with key ``DEBUG``.
    """
    if app.debug:
        raise ConfigurationError(
            "DEBUG", f"DEBUG is on under the production profile; {_DEBUG_MESSAGE}"
        )
    if _flask_run_debugger():
        raise ConfigurationError(
            "DEBUG", f"`flask run --debugger` under the production profile; {_DEBUG_MESSAGE}"
        )


def _env_debug() -> bool:
    """Whether ``FLASK_DEBUG`` may switch debug on: by our reading (``"off"`` is off)
    or by Flask's, which is on for anything but exactly ``0``, ``false`` or ``no``, so
    that ``"off"`` and ``" 0"`` are on."""
    value = os.environ.get("FLASK_DEBUG", "")
    return value.strip().lower() not in _FALSE_WORDS or get_debug_flag()


def guard_run(app: Flask) -> None:
    """Make ``app.run`` refuse to start the debugger (production profile only).

    ``app.run`` decides ``debug`` and ``use_debugger`` itself, after ``init_app``, from its
    arguments, the ``.env`` and ``.flaskenv`` files and ``FLASK_DEBUG``; the wrapper loads
    the same files, reaches the same decision first and raises before any socket is
    opened. Whatever ``run`` decides after that, it is told not to start the debugger.
    """
    run = app.run

    @functools.wraps(run)
    def guarded_run(*args: t.Any, **kwargs: t.Any) -> None:
        debug = kwargs.get("debug", args[2] if len(args) > 2 else None)
        if debug is None:
            load = kwargs.get("load_dotenv", args[3] if len(args) > 3 else True)
            if get_load_dotenv(load):
                # What run() does first (through the module, as run() calls it); it never
                # overrides a variable that is already set.
                flask_cli.load_dotenv()
            debug = app.debug or _env_debug()
        if debug or kwargs.get("use_debugger") or kwargs.get("use_evalex") is True:
            raise ConfigurationError(
                "DEBUG",
                f"app.run() would start the debugger under the production profile; "
                f"{_DEBUG_MESSAGE}",
            )
        run(*args, **{**kwargs, "use_debugger": False})

    app.run = guarded_run  # type: ignore[method-assign]


#: The body of the 500 a debugger wrapper gets instead of the production application:
#: it runs outside Flask, so it carries nothing of the application's.
_REFUSED_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>500 Internal Server Error"
    b"</title><h1>Internal Server Error</h1><p>The server is misconfigured.</p>"
)


#: How many WSGI callables the walk from a debugger's wrapped application looks at.
_WALK_LIMIT = 64


def _next_layers(layer: object) -> list[object]:
    """The WSGI callables ``layer`` may pass a request to: the usual middleware
    attributes, a ``DispatcherMiddleware``'s mounts, a ``functools.partial``'s function,
    and, for a plain function, what its closure and the globals it names hold (a
    ``def app(environ, start_response): return prod(environ, start_response)``)."""
    found: list[object] = [
        getattr(layer, name, None) for name in ("wsgi_app", "app", "__self__", "__wrapped__")
    ]
    found.append(getattr(layer, "func", None) if isinstance(layer, functools.partial) else None)
    mounts = getattr(layer, "mounts", None)
    if isinstance(mounts, dict):
        found.extend(mounts.values())
    if isinstance(layer, types.FunctionType):
        found.extend(cell.cell_contents for cell in layer.__closure__ or ())
        found.extend(layer.__globals__.get(name) for name in layer.__code__.co_names)
    return [item for item in found if item is not None and callable(item)]


def _production_app(layer: object) -> Flask | None:
    """The Flask application under the production profile that ``layer`` (a WSGI
    callable, possibly wrapped in middleware, a dispatcher or a function) leads to, if
    any. A bounded breadth-first walk: whatever path leads to a production application,
    the debugger in front of it must not serve its console."""
    queue: list[object] = [layer]
    seen: set[int] = set()
    while queue and len(seen) < _WALK_LIMIT:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Flask):
            state = current.extensions.get(EXTENSION_KEY)
            if state is not None and not state.config.development:
                return current
        try:
            queue.extend(_next_layers(current))
        except Exception:  # noqa: S112 - an odd object (a proxy outside a context) ends this branch
            continue
    return None


def guard_debugged_application() -> None:
    """Make Werkzeug's :class:`~werkzeug.debug.DebuggedApplication` refuse to serve an
    application under the production profile, once per process.

    The debugger answers its console (``/console``) and its resources itself, without
    calling the application, and renders the traceback of any exception that leaves it
    (with ``evalex`` off too, and with ``TESTING`` or ``PROPAGATE_EXCEPTIONS`` on), so no
    check inside Flask can stop it. Wrapping its entry point is the one place that can.
    A debugger around any other application (or one under the development profile) is
    not affected.
    """
    from werkzeug.debug import DebuggedApplication

    original = DebuggedApplication.__call__
    if getattr(original, "_bastion_guarded", False):
        return

    @functools.wraps(original)
    def guarded_call(
        self: DebuggedApplication, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        app = _production_app(self.app)
        if app is None:
            return original(self, environ, start_response)
        signals.request_rejected.send(app, reason=REASON_DEBUGGER_WRAPS, status=500)
        security_log.critical(
            "%s: %s",
            DebuggerRefused.event,
            REASON_DEBUGGER_WRAPS,
            extra={"event": DebuggerRefused.event, "reason": REASON_DEBUGGER_WRAPS},
        )
        start_response(
            "500 INTERNAL SERVER ERROR",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(_REFUSED_PAGE))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [_REFUSED_PAGE]

    guarded_call._bastion_guarded = True  # type: ignore[attr-defined]
    DebuggedApplication.__call__ = guarded_call  # type: ignore[method-assign]


class DebuggerGuard:
    """Component: refuses every request while the debugger could reach it."""

    name = "debugger"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        #: Off under the development profile, where the debugger is allowed.
        self.enabled = not config.development
        self._config: t.Mapping[str, t.Any] = {}

    def init_app(self, app: Flask) -> None:
        self._config = app.config
        if self.enabled:
            refuse_debug_config(app)
            guard_run(app)
            guard_debugged_application()

    def before_request(self, request: Request, state: RequestState) -> None:
        """Refuse the request when ``DEBUG`` is on or the debugger wraps the app.

        :raises DebuggerRefused: a 500 rendered by the safe error pages, never by the
            debugger (an ``HTTPException`` does not propagate to it).
        """
        if not self.enabled:
            return
        if self._config["DEBUG"]:  # app.debug, read from the config it is kept in
            reason = REASON_DEBUG_ON
        elif DEBUGGER_ENVIRON_KEY in request.environ:
            reason = REASON_DEBUGGER_WRAPS
        else:
            return
        refuse(DebuggerRefused(reason))
