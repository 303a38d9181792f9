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
import socket
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
    return cidr(str(value))


def stored_network(text: str) -> IPNetwork:
    """A network as the ban stores write it (``str(network)``: ``"10.0.0.5/32"``), parsed
    about four times faster than :func:`network_of`, since a process reads the whole ban
    list at once after each change. Still strict: anything else raises.

    :raises ValueError: when ``text`` is not a network in that form.
    """
    address, slash, length = text.partition("/")
    if not slash or not length.isdigit():
        raise ValueError(f"{text!r} is not a stored network")
    if ":" in address:
        packed = socket.inet_pton(socket.AF_INET6, address)
        return ipaddress.IPv6Network((int.from_bytes(packed, "big"), int(length)))
    packed = socket.inet_pton(socket.AF_INET, address)
    return ipaddress.IPv4Network((int.from_bytes(packed, "big"), int(length)))


def ban_network(address: IPAddress, ipv6_prefix: int) -> IPNetwork:
    """The network an automatic ban of ``address`` covers: the address itself for IPv4,
    its ``/ipv6_prefix`` for IPv6 (a host rotates freely through its /64)."""
    if isinstance(address, ipaddress.IPv6Address):
        return ipaddress.IPv6Network(f"{address}/{ipv6_prefix}", strict=False)
    return ipaddress.IPv4Network(address)


class NetworkIndex(t.Generic[V]):
    """Networks with a value each, looked up by address in constant time per distinct
    prefix length (at most 33 for IPv4 and 129 for IPv6), longest prefix first."""

    __slots__ = ("_count", "_tables")

    def __init__(self, items: Iterable[tuple[IPNetwork, V]] = ()) -> None:
        # version -> [(prefix length, mask, {network int: value})], longest prefix first
        self._tables: dict[int, list[tuple[int, int, dict[int, V]]]] = {}
        by_length: dict[tuple[int, int], dict[int, V]] = {}
        for network, value in items:
            key = (network.version, network.prefixlen)
            by_length.setdefault(key, {})[int(network.network_address)] = value
        for (version, length), table in sorted(by_length.items(), key=lambda kv: -kv[0][1]):
            self._tables.setdefault(version, []).append((length, _mask(version, length), table))
        self._count = sum(len(table) for table in by_length.values())

    def put(self, network: IPNetwork, value: V) -> None:
        """Add or replace ``network``. Safe while other threads look up: a new prefix
        length gets a new list of tables, swapped in whole."""
        tables = self._tables.get(network.version, [])
        for length, _, table in tables:
            if length == network.prefixlen:
                key = int(network.network_address)
                self._count += key not in table
                table[key] = value
                return
        self._count += 1
        entry = (network.prefixlen, _mask(network.version, network.prefixlen),
                 {int(network.network_address): value})  # fmt: skip
        self._tables[network.version] = sorted([*tables, entry], key=lambda e: -e[0])

    def remove(self, network: IPNetwork) -> None:
        """Drop ``network`` if listed."""
        for length, _, table in self._tables.get(network.version, []):
            if length == network.prefixlen:
                if table.pop(int(network.network_address), None) is not None:
                    self._count -= 1
                return

    def values(self) -> list[V]:
        """Every listed value."""
        return [v for tables in self._tables.values() for _, _, table in tables
                for v in table.values()]  # fmt: skip

    def __bool__(self) -> bool:
        return self._count > 0

    def __len__(self) -> int:
        return self._count

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


def _mask(version: int, length: int) -> int:
    bits = 32 if version == 4 else 128
    return ((1 << length) - 1) << (bits - length)


def index_of(networks: Iterable[IPNetwork]) -> NetworkIndex[IPNetwork]:
    """An index of ``networks``, each its own value."""
    return NetworkIndex((network, network) for network in networks)
