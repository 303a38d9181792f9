"""HTTPS enforcement: redirect plain HTTP, send HSTS over HTTPS.

Defends against network attackers who read or rewrite plain-HTTP traffic (credential and
cookie theft, SSL stripping). A plain-HTTP request is redirected with 308, which keeps the
method and body, so a POST is never silently turned into a GET. HSTS is sent only on
HTTPS responses (RFC 6797 section 7.2: browsers ignore it over HTTP, and sending it there
would advertise a policy the client cannot verify). Whether a request is HTTPS is decided
by :mod:`flask_bastion.proxy`, never by a raw ``X-Forwarded-Proto``.

The redirect's host is the request's host when ``TRUSTED_HOSTS`` checked it (an unlisted
host gets 400, not a redirect), else ``SERVER_NAME`` (Flask 3.1 serves requests for any
host whatever ``SERVER_NAME`` says), else the unchecked request host, a configuration
that ``bastion.W008`` reports. A request target that is not an absolute path
(``OPTIONS *``) gets 400: appended to the host, it would change the host.

In the development profile, requests from a loopback peer to a loopback host are not
redirected, so ``http://127.0.0.1`` works; nothing else changes here. (The session cookie,
Secure except in that profile, belongs to :mod:`flask_bastion.sessions`, which sets its
flags whether sessions are server-side or Flask's own.)
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from flask import Flask, Request, Response, current_app
from werkzeug.routing import RequestRedirect

from . import signals
from .components import Stage
from .config import BastionConfig
from .context import RequestState
from .inputs import reject
from .markers import View, mark
from .proxy import host_is_loopback, is_loopback

REASON_INVALID_HOST = "Host header is missing or not a valid host name"
REASON_INVALID_TARGET = "request target is not an absolute path"

# RFC 3986 pchar / query characters kept as they are when re-encoding.
_PATH_SAFE = "/:@!$&'()*+,;=~"
_QUERY_SAFE = _PATH_SAFE + "?%"


def _redirect_host(request: Request) -> str:
    """The host the HTTPS redirect points to.

    :raises werkzeug.exceptions.SecurityError: (400) when the host is not one of
        ``TRUSTED_HOSTS``.
    :raises MalformedRequest: (400, :data:`REASON_INVALID_HOST`) when the request's
        host would be used and werkzeug cannot parse it.
    """
    # Flask copies TRUSTED_HOSTS to request.trusted_hosts and sets request.host only when
    # it passed; otherwise reading request.host raises SecurityError. An empty list
    # trusts every host, so it vouches for none.
    if request.trusted_hosts:
        return request.host
    # SERVER_NAME does not restrict the Host header in Flask 3.1: a request for any host
    # is served, so only the configured name is safe to send a client (or a cache) to.
    server_name: str | None = current_app.config["SERVER_NAME"]
    host = server_name or request.host
    if not host:  # werkzeug returns "" for a host with invalid characters
        reject(REASON_INVALID_HOST)
    return host


def _wsgi_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # a server that broke PEP 3333; its text is already decoded
        return value.encode("utf-8")


def _raw_target(environ: dict[str, t.Any]) -> str:
    """The path and query of the redirect.

    :raises MalformedRequest: (400, :data:`REASON_INVALID_TARGET`) when the path does not
        start with ``/``: appended to the host it would change the host.
    """
    # Rebuild path and query from the environ rather than request.url, which normalises
    # the query (%2F -> /) and would break signed or byte-compared URLs.
    # (PEP 3333 hands both over as bytes decoded as latin-1.)
    raw_path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if raw_path and not raw_path.startswith("/"):
        # "OPTIONS *" (or whatever a server passes on) would make "https://host*".
        reject(REASON_INVALID_TARGET)
    path = quote(_wsgi_bytes(raw_path), _PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    if not query.isascii():
        query = quote(_wsgi_bytes(query), safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path


#: The view mark set by :func:`https_exempt`.
EXEMPT = "https_exempt"
V = t.TypeVar("V")


def https_exempt(view: V) -> V:
    """Serve ``view`` (a view function, a class-based view or a blueprint) over plain
    HTTP too, for probes that cannot speak TLS (a load balancer's health check on an
    internal port).

    .. danger:: Never on a view that reads or sets cookies or shows private data: over
       plain HTTP anyone on the path can read and change the exchange.
    """
    return mark(view, EXEMPT, True)


class HTTPSRedirect(RequestRedirect):
    """The 308 redirect of a plain-HTTP request to HTTPS (method and body kept).

    Raised like a refusal, so every component ends a request the same way; Flask returns
    a ``RequestRedirect`` as the response without the error pages.
    """

    def get_response(self, environ: t.Any = None, scope: t.Any = None) -> Response:
        return Response(status=self.code, headers={"Location": self.new_url})


class HTTPS:
    """Component: HTTPS redirect and HSTS."""

    name = "https"
    stage = Stage.TRANSPORT

    def __init__(self, config: BastionConfig) -> None:
        self.redirect = config.https.redirect
        self.loopback_exempt = config.development
        parts = []
        if config.https.hsts_max_age:
            parts.append(f"max-age={config.https.hsts_max_age}")
            if config.https.hsts_include_subdomains:
                parts.append("includeSubDomains")
            if config.https.hsts_preload:
                parts.append("preload")
        #: The precomputed Strict-Transport-Security value, or ``None`` when disabled.
        self.hsts = "; ".join(parts) or None

    def init_app(self, app: Flask) -> None:
        """Nothing to register: the redirect and HSTS run in the composed hooks."""

    def before_request(self, request: Request, state: RequestState) -> None:
        """Redirect a plain-HTTP request to the same URL over HTTPS.

        :raises HTTPSRedirect: for a plain-HTTP request that is not exempt.
        """
        if not self.redirect or request.environ["wsgi.url_scheme"] == "https":
            return
        if (
            self.loopback_exempt
            and is_loopback(request.remote_addr)
            and host_is_loopback(request.host)
        ):  # both: a remote client sending "Host: localhost" is still redirected
            return
        rule = request.url_rule
        if rule is not None and View(current_app, rule.endpoint).get(EXEMPT, False):
            return
        location = f"https://{_redirect_host(request)}{_raw_target(request.environ)}"
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.https_redirected.send(app, location=location)
        raise HTTPSRedirect(location)

    def view_headers(self, view: View, https: bool) -> list[tuple[str, str]]:
        """Strict-Transport-Security, on HTTPS responses only."""
        if https and self.hsts:
            return [("Strict-Transport-Security", self.hsts)]
        return []
