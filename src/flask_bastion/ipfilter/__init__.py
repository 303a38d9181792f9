"""IP filtering and temporary bans.

Defends against clients the operator already knows to refuse, and against those that
give themselves away: an address list that must never reach the application (deny), an
area only an office network or a VPN should reach (allow), and temporary bans of
addresses caught credential stuffing, failing CSRF checks over and over, or scanning
for paths. A refused address gets a bare 403 before rate limits, sessions and the view.

::

    BASTION_IPFILTER_DENY = ["203.0.113.0/24"]
    BASTION_IPFILTER_BANS_URL = "redis://localhost:6379/0"

    from flask_bastion.ipfilter import ban, ip_allow

    @app.get("/metrics")
    @ip_allow("10.0.0.0/8", "fd00::/8")
    def metrics(): ...

    ban("198.51.100.7", 3600, "scraping")    # also: flask bastion ban 198.51.100.7 1h

The client address is the one :mod:`flask_bastion.proxy` settled; nothing here reads a
forwarded header. See ``docs/ipfilter.md``.
"""

from __future__ import annotations

from .auto import REASON_CSRF, REASON_NOT_FOUND, REASON_STUFFING, ban, bans, unban
from .banlist import BanList
from .component import (
    ALLOW_MARK,
    DENY_MARK,
    REASON_BANNED,
    REASON_DENIED,
    REASON_NOT_ALLOWED,
    IPFilter,
    ip_allow,
    ip_deny,
    ipfilter_of,
    restrict_blueprint,
)
from .networks import NetworkIndex, client_address
from .redis_store import RedisBanStore
from .stores import Ban, MemoryBanStore

__all__ = [
    "ALLOW_MARK",
    "DENY_MARK",
    "REASON_BANNED",
    "REASON_CSRF",
    "REASON_DENIED",
    "REASON_NOT_ALLOWED",
    "REASON_NOT_FOUND",
    "REASON_STUFFING",
    "Ban",
    "BanList",
    "IPFilter",
    "MemoryBanStore",
    "NetworkIndex",
    "RedisBanStore",
    "ban",
    "bans",
    "client_address",
    "ip_allow",
    "ip_deny",
    "ipfilter_of",
    "restrict_blueprint",
    "unban",
]
