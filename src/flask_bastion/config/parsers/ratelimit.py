"""Parsers of the rate-limit settings: limit strings in the notation of ``limits`` and
the URL of the counters' store."""

from __future__ import annotations

from .basic import Invalid

#: Store URL schemes the rate limits accept: one process's memory, or Redis as ``limits``
#: reaches it (TCP, TLS, a Unix socket, Sentinel, Cluster).
STORAGE_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+sentinel",
    "redis+cluster",
)
#: The longest window a limit may have: a year and a day. Far longer ones pass
#: ``limits``' parser, then overflow Redis's EXPIRE (every new window then fails, and
#: its counter never expires).
MAX_WINDOW = 366 * 86_400


def rate_limits(value: object) -> tuple[str, ...]:
    """Limits such as ``"600/minute"`` or ``"10/minute; 100/hour"`` (``limits``'
    notation, ``;`` between limits), each checked with :func:`limits.parse_many`; ``None``
    or ``""`` for none. Returned normalised, one string per limit."""
    from limits import parse_many

    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise Invalid("expected a limit such as '600/minute' or '10/minute; 100/hour'")
    found: list[str] = []
    for item in items:
        try:
            parsed = parse_many(item)
        except ValueError:
            raise Invalid(f"{item!r} is not a limit such as '600/minute'") from None
        for one in parsed:
            if one.amount < 1:
                raise Invalid(f"{item!r}: a limit allows at least one request")
            if one.get_expiry() > MAX_WINDOW:
                raise Invalid(f"{item!r}: a limit's window is at most 366 days")
            found.append(f"{one.amount}/{one.multiples} {one.GRANULARITY.name}")
    return tuple(dict.fromkeys(found))


def storage_url(value: object) -> str:
    """``memory://`` or a Redis URL in one of :data:`STORAGE_SCHEMES`."""
    if isinstance(value, str):
        scheme, sep, rest = value.partition("://")
        if scheme == "redis+sentinel" and not rest.partition("/")[2].strip("/"):
            # limits only finds out on the first request (a 500 there).
            raise Invalid("a redis+sentinel:// URL names its service: host:26379/mymaster")
        if scheme == "redis+cluster" and not rest.partition("/")[0].rpartition("@")[2]:
            raise Invalid("a redis+cluster:// URL names at least one node: host:6379")
        if sep and scheme in STORAGE_SCHEMES:
            return value
    raise Invalid(
        "expected 'memory://' or a URL of redis://, rediss://, redis+unix://, "
        "redis+sentinel:// or redis+cluster://"
    )
