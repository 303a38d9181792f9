"""Links in emails that point only at the site's own host."""

from __future__ import annotations

import typing as t
from urllib.parse import quote, urlsplit

from flask import Flask, current_app, has_request_context, request

from ..exceptions import ConfigurationError
from ..proxy import host_is_loopback
from .mailer import Mailer, mailer_for


def external_url(endpoint: str, **values: t.Any) -> str:
    """The absolute URL of ``endpoint``, for a link in an email, like ``url_for`` with
    ``_external=True`` but never from an unchecked ``Host`` header.

    The scheme, host and root come from ``BASTION_MAIL_BASE_URL``; else from
    ``SERVER_NAME`` and ``APPLICATION_ROOT``; else, inside a request, from the request's
    host when Flask checked it against ``TRUSTED_HOSTS``. The scheme is ``https``,
    except for a loopback host under the development profile (then
    ``PREFERRED_URL_SCHEME``, or the request's). ``_anchor`` and ``_method`` work as in
    ``url_for``.

    :raises ConfigurationError: when none of these vouches for a host.
    :raises werkzeug.routing.BuildError: when ``endpoint`` cannot be built.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    scheme, netloc, root = _link_base(app, mailer_for(app))
    if endpoint.startswith("."):
        blueprint = request.blueprint if has_request_context() else None
        endpoint = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    anchor = values.pop("_anchor", None)
    method = values.pop("_method", None)
    app.inject_url_defaults(endpoint, values)
    adapter = app.url_map.bind(netloc, script_name=root or "/", url_scheme=scheme)
    url = adapter.build(endpoint, values, method=method, force_external=True)
    if anchor is not None:
        url += "#" + quote(str(anchor), safe="%!#$&'()*+,/:;=?@")
    return url


def _link_base(app: Flask, mailer: Mailer) -> tuple[str, str, str]:
    """(scheme, host[:port], root) of the links in emails."""
    if mailer.base_url is not None:
        parts = urlsplit(mailer.base_url)
        return parts.scheme, parts.netloc, parts.path
    server_name: str | None = app.config["SERVER_NAME"]
    if server_name:
        scheme = _scheme(mailer, server_name, app.config["PREFERRED_URL_SCHEME"])
        return scheme, server_name, app.config["APPLICATION_ROOT"]
    # Flask copies TRUSTED_HOSTS to request.trusted_hosts and checks request.host
    # against it before any view runs (400 otherwise); an empty list trusts every host,
    # so it vouches for none.
    if has_request_context() and request.trusted_hosts:
        host = request.host
        return _scheme(mailer, host, request.scheme), host, request.script_root
    raise ConfigurationError(
        "BASTION_MAIL_BASE_URL",
        "links in emails need a host that the client cannot choose: set "
        "BASTION_MAIL_BASE_URL (such as 'https://example.org'), SERVER_NAME, or "
        "TRUSTED_HOSTS (then links use the request's host, which Flask checks against it).",
    )


def _scheme(mailer: Mailer, host: str, local_scheme: str) -> str:
    if mailer.development and host_is_loopback(host):
        return local_scheme
    return "https"
