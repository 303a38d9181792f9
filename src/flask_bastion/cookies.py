"""What every cookie-bound protection shares: the ``__Host-`` prefix, and marking a
response that depends on the visitor's cookies as private.

A page built from a session or carrying a CSRF token is one visitor's: a shared cache
(a CDN, a corporate proxy) that stored it would hand it, token and all, to the next
visitor. Such a response says ``Vary: Cookie`` and ``Cache-Control: private, no-store``,
unless the view chose its own ``Cache-Control``.
"""

from __future__ import annotations

from flask import Response

#: ``Cache-Control`` of a response that depends on the visitor's cookies.
PRIVATE = "private, no-store"
#: Cookie-name prefix that browsers accept only with ``Secure``, ``Path=/`` and no
#: ``Domain``: no subdomain and no plain-HTTP page can set or overwrite such a cookie.
HOST_PREFIX = "__Host-"


def mark_private(response: Response) -> None:
    """Mark ``response`` as depending on the visitor's cookies: ``Vary: Cookie``, and
    ``Cache-Control:`` :data:`PRIVATE` unless the view already set a ``Cache-Control``.

    Works on the header values directly: this runs on every response of a returning
    visitor, and werkzeug's parsed ``response.vary`` costs several times more.
    """
    headers = response.headers
    vary = headers.get("Vary")
    if vary is None:
        headers["Vary"] = "Cookie"
    elif "cookie" not in (value.strip().lower() for value in vary.split(",")):
        headers["Vary"] = f"{vary}, Cookie"
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = PRIVATE
