"""Rate limiting: per-client limits on every route, strict limits on authentication,
per-view limits and page budgets against scraping, on the ``limits`` library.

Defends against floods of one client, password guessing and account enumeration spread
over the authentication forms, mail bombing through registration and reset, and
scrapers walking listing and search pages. Every key comes from the proxy-trust model
(:mod:`flask_bastion.proxy`): a client cannot choose its address by sending
``X-Forwarded-For``. Signed-in users are counted by user ID, IPv6 clients by /64
network. All the limits of a request cost at most one store round trip together. When
the store cannot be reached, each limit fails open (served, logged, signalled) or closed
(503), as configured: open for the default limit, closed for authentication. The
design, the strategy and its trade-offs: ``docs/ratelimit.md``.

::

    from flask_bastion.ratelimit import exempt, limit, page_budget

    @app.post("/search")
    @limit("5/minute")
    def search(): ...

    @app.get("/notes")
    @page_budget(per_ip="300/hour", per_user="1000/hour", burst="30/10 seconds")
    def notes(): ...
"""

from __future__ import annotations

from .component import AUTH_ENDPOINTS, REASON_LIMITED, RateLimiting
from .counters import MemoryWindows, RedisWindows
from .rules import MAX_COST, Rule, auth_limited, exempt, limit, page_budget

__all__ = [
    "AUTH_ENDPOINTS",
    "MAX_COST",
    "REASON_LIMITED",
    "MemoryWindows",
    "RateLimiting",
    "RedisWindows",
    "Rule",
    "auth_limited",
    "exempt",
    "limit",
    "page_budget",
]
