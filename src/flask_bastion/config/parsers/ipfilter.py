"""Parsers of the IP filter's settings: strict CIDR lists and the ban store URL."""

from __future__ import annotations

import ipaddress

from .basic import Invalid, IPNetwork, ip_address, string_tuple

#: Ban store URL schemes and what they select.
MEMORY_SCHEMES = ("memory",)
REDIS_SCHEMES = ("redis", "rediss", "unix")


def unmapped(network: IPNetwork) -> IPNetwork:
    """``network`` with an IPv4-mapped IPv6 network (``::ffff:10.0.0.0/104``) written as
    the IPv4 network it means (``10.0.0.0/8``): the pipeline compares IPv4 clients as
    IPv4, whichever way the server wrote their address."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def cidr(text: str) -> IPNetwork:
    """One network in CIDR notation (a bare address is that one address), strict: host
    bits set after the prefix are an error, since ``10.0.0.1/8`` is usually a typo for
    ``10.0.0.1/32`` or ``10.0.0.0/8`` and accepting it would silently widen the list.

    :raises Invalid: saying what was expected, with the likely intended network.
    """
    item = text.strip()
    address, slash, prefix = item.partition("/")
    try:
        base = ip_address(address)
    except ValueError:
        raise Invalid(f"{item!r} is not an IP network like '10.0.0.0/8' or 'fd00::/8'") from None
    try:
        network = ipaddress.ip_network(f"{base}{slash}{prefix}", strict=False)
    except ValueError:
        raise Invalid(f"{item!r} has an invalid prefix length") from None
    if slash and network.network_address != base:
        raise Invalid(f"{item!r} has host bits set after the prefix; did you mean {network}?")
    return unmapped(network)


def cidr_list(value: object) -> tuple[IPNetwork, ...]:
    """A list of networks (or one comma-separated string) for the allow and deny lists;
    duplicates are dropped."""
    try:
        items = string_tuple(value)
    except Invalid:
        raise Invalid("expected a list of IP networks such as ['10.0.0.0/8', 'fd00::/8']") from None
    return tuple(dict.fromkeys(cidr(item) for item in items))


def ban_store_url(value: object) -> str:
    """``memory://``, a Redis URL (``redis://``, ``rediss://``, ``unix://``) or a
    SQLAlchemy database URL (``sqlite:///...``, ``postgresql+psycopg://...``)."""
    if isinstance(value, str) and "://" in value:
        scheme = value.partition("://")[0].lower()
        if scheme and all(c.isalnum() or c in "+-." for c in scheme):
            return value
    raise Invalid("expected 'memory://', a redis:// or rediss:// URL, or a SQLAlchemy database URL")
