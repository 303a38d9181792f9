"""Safe errors: error pages without internals, and request IDs.

Defends against information leaks: tracebacks, framework names and versions, SQL and file
paths in error pages help an attacker aim.

* Every 4xx/5xx becomes a page rendered from ``bastion/error.html`` (override it in the
  application's templates) or, for clients that prefer JSON, an RFC 9457
  ``application/problem+json`` document. A 5xx never shows the exception, nor the text
  an application gave ``abort(503, ...)`` (such text names hosts, URLs and databases)
  unless it is marked :class:`PublicText`; the traceback or the text goes to the
  server log only, under the request ID.
* Each request gets an ID (taken from a trusted proxy's header when well formed, otherwise
  generated) that is sent in ``X-Request-ID``, shown on error pages and added to every log
  line (:mod:`~flask_bastion.logs`), so a user's report leads straight to the log entry.
"""

from __future__ import annotations

import json
import re
import typing as t

from flask import Blueprint, Flask, Request, Response, current_app, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, SecurityError, default_exceptions

from . import logs, signals
from .components import Stage
from .config import BastionConfig
from .context import RequestState, request_state
from .exceptions import Rejection, UntrustedHost
from .markers import View, mark
from .proxy import ProxyTrust, peer_is_trusted
from .refusal import report

V = t.TypeVar("V")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_JSON_TYPES = ("application/json", "application/problem+json")

#: Reason of the 400 for a ``Host`` that is not one of ``TRUSTED_HOSTS``.
REASON_UNTRUSTED_HOST = "The Host header is not one of the names this site answers to."


#: Templates (``bastion/error.html``) are served through a route-less blueprint so the
#: application's own template folder can override them.
blueprint = Blueprint("flask_bastion", __name__, template_folder="templates")

_FALLBACK_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>{code} {title}</title>"
    "<h1>{code} {title}</h1><p>{description}</p><p>Request ID: <code>{request_id}</code></p>"
)


class SafeErrors:
    """Component: request IDs, error pages and the application's log scrubbing."""

    name = "errors"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.errors
        self.request_id_key = "HTTP_" + self.config.request_id_header.upper().replace("-", "_")
        #: Whether any proxy is trusted, so that its request ID can be taken.
        self.trusts_proxies = ProxyTrust(config.proxy).enabled

    def init_app(self, app: Flask) -> None:
        logs.install(app)  # log lines carry the request ID
        if self.config.enabled:
            if "flask_bastion" not in app.blueprints:
                app.register_blueprint(blueprint)
            app.register_error_handler(HTTPException, self.handle_http_exception)

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        """A request ID is taken only from a trusted proxy: with none, nothing to do."""
        return self.trusts_proxies

    def before_request(self, request: Request, state: RequestState) -> None:
        """Take the request ID from a trusted proxy."""
        environ = request.environ
        forwarded = environ.get(self.request_id_key)
        # fullmatch: "$" would also match before a trailing newline, which would put a
        # line break into the response header and the log line.
        if forwarded and _REQUEST_ID.fullmatch(forwarded) and peer_is_trusted(environ):
            state.request_id = forwarded

    def handle_http_exception(self, error: HTTPException) -> HTTPException | Response:
        """Render any 4xx/5xx as a safe page or problem document."""
        if error.code is None or error.code < 400:
            return error
        if error.response is not None:  # abort(response): the application chose the body
            return error.response  # type: ignore[return-value]
        if isinstance(error, SecurityError) and not isinstance(error, Rejection):
            # Flask refused a Host outside TRUSTED_HOSTS: a refusal like Bastion's own.
            error = UntrustedHost(REASON_UNTRUSTED_HOST)
            report(error)
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


#: Mark of the views whose errors are always problem documents (:func:`problem_json`).
PROBLEM_JSON = "problem_json"


def problem_json(view: V) -> V:
    """Answer every error of ``view`` (a view function, a class-based view or a
    blueprint) as an RFC 9457 ``application/problem+json`` document, whatever the
    client's ``Accept``: for an API, whose clients often send ``Accept: */*`` or none
    at all and cannot read an HTML page. Refusals before the view (a bad bearer token,
    a rate limit) are covered too, since the URL is matched first; a URL that matches no
    route (404, 405) is not, as no view is known for it.

    .. versionadded:: 0.1
    """
    return mark(view, PROBLEM_JSON, True)


def _wants_json() -> bool:
    endpoint = request.endpoint
    if endpoint is not None and View(current_app, endpoint).get(PROBLEM_JSON, False):
        return True
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
        # Field errors of a validation failure: an RFC 9457 extension member.
        errors = getattr(error, "errors", None)
        if isinstance(errors, dict):
            body["errors"] = errors
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
