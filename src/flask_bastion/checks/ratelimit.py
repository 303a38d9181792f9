"""Rate-limit checks (``13x``): limits counted per worker process, turned off, failing
open on authentication, or loosened for whole networks.

A limit kept in one process's memory multiplies by the number of workers and forgets
everything on restart; authentication limits that fail open give password guessing free
rein exactly when the store is down (which an attacker may be causing).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import ERROR, WARNING, CheckMessage, message, register
from .workers import worker_count

E130 = message(
    ERROR,
    "Rate limits are counted in memory (BASTION_RATELIMIT_STORAGE_URL = 'memory://') "
    "and the server runs more than one worker process.",
    "Each worker counts on its own, so every limit is multiplied by the number of "
    "workers. Set BASTION_RATELIMIT_STORAGE_URL to a redis:// URL shared by all workers.",
    "bastion.E130",
    settings=("BASTION_RATELIMIT_STORAGE_URL",),
)
W131 = message(
    WARNING,
    "Rate limiting is off (BASTION_RATELIMIT_ENABLED).",
    "No limit applies to any route, the authentication forms included. Remove "
    "BASTION_RATELIMIT_ENABLED = False.",
    "bastion.W131",
    settings=("BASTION_RATELIMIT_ENABLED",),
)
W132 = message(
    WARNING,
    "There is no default rate limit (BASTION_RATELIMIT_DEFAULT).",
    "One client can send as many requests as the server takes. Set a per-client limit "
    "such as '600/minute' and @exempt the views that need none.",
    "bastion.W132",
    settings=("BASTION_RATELIMIT_DEFAULT",),
)
W133 = message(
    WARNING,
    "An authentication rate limit is off (BASTION_RATELIMIT_AUTH or _AUTH_ACCOUNT).",
    "Sign-in, registration, reset and second-factor posts are then limited by the "
    "lockout at most. Keep both limits.",
    "bastion.W133",
    settings=("BASTION_RATELIMIT_AUTH", "BASTION_RATELIMIT_AUTH_ACCOUNT"),
)
W134 = message(
    WARNING,
    "Authentication rate limits fail open (BASTION_RATELIMIT_AUTH_FAIL = 'open').",
    "While the store is down, and an attacker may be the cause, the authentication "
    "forms are not limited at all. Use 'closed'.",
    "bastion.W134",
    settings=("BASTION_RATELIMIT_AUTH_FAIL",),
)
W135 = message(
    WARNING,
    "IPv6 clients are counted by networks smaller than /64 (BASTION_RATELIMIT_IPV6_PREFIX).",
    "A subscriber usually holds a whole /64 and can take a fresh address for every "
    "request, each with a fresh budget. Use 64 or less.",
    "bastion.W135",
    settings=("BASTION_RATELIMIT_IPV6_PREFIX",),
)
W136 = message(
    WARNING,
    "BASTION_RATELIMIT_EXEMPT_NETWORKS holds a network that is not private.",
    "Every client of a public network is free of every limit. Exempt only your own "
    "probes, by their exact private addresses.",
    "bastion.W136",
    settings=("BASTION_RATELIMIT_EXEMPT_NETWORKS",),
)


@register(deploy=True)
def check_memory_store_workers(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    limits = config.ratelimit
    if not limits.enabled or not limits.storage_url.startswith("memory://"):
        return []
    return [E130] if worker_count(app) > 1 else []


@register(deploy=True)
def check_ratelimit_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.ratelimit.enabled else [W131]


@register(deploy=True)
def check_default_limit(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    limits = config.ratelimit
    return [W132] if limits.enabled and not limits.default else []


@register(deploy=True)
def check_auth_limits(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    limits = config.ratelimit
    return [W133] if limits.enabled and not (limits.auth and limits.auth_account) else []


@register(deploy=True)
def check_auth_fail(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W134] if config.ratelimit.auth_fail == "open" else []


@register(deploy=True)
def check_ipv6_prefix(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W135] if config.ratelimit.ipv6_prefix > 64 else []


@register(deploy=True)
def check_exempt_networks(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    networks = config.ratelimit.exempt_networks
    return [W136] if any(not network.is_private for network in networks) else []
