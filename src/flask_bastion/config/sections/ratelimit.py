"""Configuration of rate limiting (``ratelimit/``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import (
    boolean,
    choice,
    endpoint_patterns,
    int_range,
    networks,
    rate_limits,
    setting,
    storage_url,
    visible_ascii,
)
from ..parsers.basic import IPNetwork


@dataclass(frozen=True)
class RatelimitConfig:
    """Rate limits on every route, on the authentication endpoints and per view
    (``ratelimit/``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Count requests against the rate limits. False turns every limit off, the "
        "authentication limits included.",
        danger="False",
    )
    storage_url: str = setting(
        "memory://",
        storage_url,
        "Where the counters live: 'memory://' (this process only: tests and one-process "
        "servers) or Redis as the limits library reaches it: redis://, rediss:// (TLS), "
        "redis+unix://, redis+sentinel://[password@]host:port/service, "
        "redis+cluster://host:port[,host:port].",
        danger="'memory://' with more than one worker process",
    )
    key_prefix: str = setting(
        "bastion:rl:", visible_ascii, "Prefix of the counters' keys in Redis."
    )
    default: tuple[str, ...] = setting(
        ("600/1 minute",),
        rate_limits,
        "Limits on every route for each client (the signed-in user, else the address), "
        "in the limits library's notation: '600/minute', '10/second; 1000/hour'. None or "
        "'' for none; @exempt removes it from a view or blueprint.",
        danger="None",
    )
    fail: str = setting(
        "open",
        choice("open", "closed"),
        "What the default limit and @limit do when the store cannot be reached: 'open' "
        "serves the request and logs it; 'closed' answers 503 with Retry-After.",
    )
    auth: tuple[str, ...] = setting(
        ("20/1 minute", "200/1 hour"),
        rate_limits,
        "Limits on the form posts of sign-in, registration, password reset, email "
        "verification and second factors (and every view marked @auth_limited), per "
        "client address: a flood ceiling that leaves room for an office behind one NAT "
        "(the lockout counts failed sign-ins per address on its own).",
        danger="None",
    )
    auth_account: tuple[str, ...] = setting(
        ("5/1 minute", "30/1 hour"),
        rate_limits,
        "Limits on the same posts per account: the posted email address, or the user "
        "waiting for a second factor. Sign-in also has the lockout (BASTION_LOCKOUT_*).",
        danger="None",
    )
    auth_fail: str = setting(
        "closed",
        choice("open", "closed"),
        "What the authentication limits do when the store cannot be reached.",
        danger="'open'",
    )
    headers: str = setting(
        "refused",
        choice("always", "refused"),
        "When to send the RateLimit-Policy and RateLimit headers: only on 429 refusals "
        "(which always carry them and Retry-After), or on every limited response, so that "
        "clients can pace themselves (about 1 us more per request).",
    )
    ipv6_prefix: int = setting(
        64,
        int_range(32, 128),
        "IPv6 clients are counted by network of this prefix length: one subscriber "
        "usually holds a whole /64, and would otherwise have 2**64 budgets.",
        danger="above 64",
    )
    exempt_networks: tuple[IPNetwork, ...] = setting(
        (),
        networks,
        "Client networks (CIDR) no limit applies to, such as a monitoring probe; the "
        "address is the one proxy trust settled.",
        danger="a network that is not private",
    )
    exempt_endpoints: tuple[str, ...] = setting(
        (),
        endpoint_patterns,
        "Endpoints the default limit does not apply to, like @exempt ('*' matches any "
        "characters: '*.static').",
    )
