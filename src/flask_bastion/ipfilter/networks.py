"""Addresses and networks as the IP filter compares them.

Client addresses come from :mod:`flask_bastion.proxy` only (``REMOTE_ADDR`` after the
proxy-trust decision), never from a header read here. An IPv4 client reached over an
IPv6 socket arrives as ``::ffff:192.0.2.1``; it is compared as ``192.0.2.1``, so an
IPv4 deny entry or ban holds whichever way the server wrote the address.

:class:`NetworkIndex` answers "which listed network holds this address?" with one dict
lookup per distinct prefix length in the list, so a ban list of a hundred thousand
addresses costs what a list of one does.
"""

from __future__ import annotations

import ipaddress
import typing as t
from collections.abc import Iterable

from ..config.parsers import IPAddress, IPNetwork, ip_address
from ..config.parsers.ipfilter import cidr

V = t.TypeVar("V")


def client_address(remote_addr: str | None) -> IPAddress | None:
    """``remote_addr`` as an address, IPv4-mapped IPv6 unmapped; ``None`` when it is not
    an IP address (a UNIX socket peer, an empty value)."""
    if not remote_addr:
        return None
    try:
        address = ip_address(remote_addr)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def network_of(value: str | IPAddress | IPNetwork) -> IPNetwork:
    """``value`` (an address, a network, or their text) as a network, strictly parsed.

    :raises ValueError: when it is neither (the message says what was expected).
    """
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return cidr(str(value))
    return cidr(str(value))


def ban_network(address: IPAddress, ipv6_prefix: int) -> IPNetwork:
    """The network an automatic ban of ``address`` covers: the address itself for IPv4,
    its ``/ipv6_prefix`` for IPv6 (a host rotates freely through its /64)."""
    if isinstance(address, ipaddress.IPv6Address):
        return ipaddress.IPv6Network(f"{address}/{ipv6_prefix}", strict=False)
    return ipaddress.IPv4Network(address)


class NetworkIndex(t.Generic[V]):
    """Networks with a value each, looked up by address in constant time per distinct
    prefix length (at most 33 for IPv4 and 129 for IPv6), longest prefix first."""

    __slots__ = ("_tables",)

    def __init__(self, items: Iterable[tuple[IPNetwork, V]] = ()) -> None:
        # version -> [(prefix length, mask, {network int: value})], longest prefix first
        self._tables: dict[int, list[tuple[int, int, dict[int, V]]]] = {}
        by_length: dict[tuple[int, int], dict[int, V]] = {}
        for network, value in items:
            key = (network.version, network.prefixlen)
            by_length.setdefault(key, {})[int(network.network_address)] = value
        for (version, length), table in sorted(by_length.items(), key=lambda kv: -kv[0][1]):
            bits = 32 if version == 4 else 128
            mask = ((1 << length) - 1) << (bits - length)
            self._tables.setdefault(version, []).append((length, mask, table))

    def __bool__(self) -> bool:
        return bool(self._tables)

    def __len__(self) -> int:
        return sum(len(table) for tables in self._tables.values() for _, _, table in tables)

    def find(self, address: IPAddress) -> V | None:
        """The value of the longest listed network holding ``address``, or ``None``."""
        tables = self._tables.get(address.version)
        if tables:
            number = int(address)
            for _length, mask, table in tables:
                found = table.get(number & mask)
                if found is not None:
                    return found
        return None

    def __contains__(self, address: IPAddress) -> bool:
        return self.find(address) is not None


def index_of(networks: Iterable[IPNetwork]) -> NetworkIndex[IPNetwork]:
    """An index of ``networks``, each its own value."""
    return NetworkIndex((network, network) for network in networks)
