"""What every cookie-bound protection shares: the ``__Host-`` prefix, and marking a
response that depends on the visitor's cookies as private.

A page built from a session or carrying a CSRF token is one visitor's: a shared cache
(a CDN, a corporate proxy) that stored it would hand it, token and all, to the next
visitor. Such a response says ``Vary: Cookie`` and ``Cache-Control: private, no-store``,
unless the view (or an ``after_request`` hook) chose its own ``Cache-Control``.
"""

from __future__ import annotations

from .context import add_vary, find_with_vary, request_state

#: ``Cache-Control`` of a response that depends on the visitor's cookies.
PRIVATE = "private, no-store"
#: Cookie-name prefix that browsers accept only with ``Secure``, ``Path=/`` and no
#: ``Domain``: no subdomain and no plain-HTTP page can set or overwrite such a cookie.
HOST_PREFIX = "__Host-"


def mark_private() -> None:
    """Mark this request's response as depending on the visitor's cookies:
    ``Vary: Cookie``, and ``Cache-Control:`` :data:`PRIVATE` unless the final response
    has its own ``Cache-Control``.

    The headers are added as the response starts (:meth:`RequestState.on_response
    <flask_bastion.context.RequestState.on_response>`), on the final header list, which
    is cheaper than werkzeug's parsed ``response.vary`` on every returning visitor's
    response and sees what every ``after_request`` hook did.
    """
    request_state().on_response(private_headers)


def private_headers(status: str, headers: list[tuple[str, str]]) -> None:
    """Add ``Vary: Cookie`` and, when there is no ``Cache-Control``, :data:`PRIVATE` to a
    WSGI header list (a response callback)."""
    cache_at, vary_at = find_with_vary(headers, "cache-control")
    add_vary(headers, vary_at, "Cookie")
    if cache_at < 0:
        headers.append(("Cache-Control", PRIVATE))
