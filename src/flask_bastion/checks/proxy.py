"""Proxy trust checks (``06x``): forwarded headers trusted from peers that are not the
application's proxies, so that any client could forge its address and scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig, IPNetwork
from .core import wsgi_chain
from .registry import INFO, WARNING, CheckMessage, message, register

W061 = message(
    WARNING,
    "BASTION_PROXY_TRUSTED_CIDRS covers every address (0.0.0.0/0 or ::/0, whole or in parts).",
    "Any client could then forge its IP address and scheme. List only your proxies' networks.",
    "bastion.W061",
    settings=("BASTION_PROXY_TRUSTED_CIDRS",),
)
W062 = message(
    WARNING,
    "The WSGI app is wrapped in werkzeug's ProxyFix.",
    "Remove ProxyFix and set BASTION_PROXY_TRUSTED_HOPS (or _CIDRS) instead, so one setting "
    "decides the client address for every control and hops are not counted twice.",
    "bastion.W062",
    settings=("BASTION_PROXY_TRUSTED_HOPS", "BASTION_PROXY_TRUSTED_CIDRS"),
)
I063 = message(
    INFO,
    "Forwarded headers are trusted from any peer (TRUSTED_HOPS without TRUSTED_CIDRS).",
    "Fine when only your proxy can reach the app; otherwise set BASTION_PROXY_TRUSTED_CIDRS.",
    "bastion.I063",
    settings=("BASTION_PROXY_TRUSTED_HOPS", "BASTION_PROXY_TRUSTED_CIDRS"),
)
W064 = message(
    WARNING,
    "BASTION_PROXY_TRUSTED_CIDRS contains a public network wider than /8 (IPv4) or /16 (IPv6).",
    "No one operator's proxies need that many addresses, and anyone with an address in it "
    "could forge the client address and scheme. List only your proxies' networks.",
    "bastion.W064",
    settings=("BASTION_PROXY_TRUSTED_CIDRS",),
)

#: The widest IPv4 and IPv6 networks a proxy fleet can plausibly hold: wider than any
#: single allocation to one operator.
_WIDEST_PREFIX = {4: 8, 6: 16}
#: IPv6 networks that may be wide and still unreachable from the Internet.
_LOCAL_IPV6 = (ipaddress.IPv6Network("fc00::/7"), ipaddress.IPv6Network("fe80::/10"))
#: IPv4-mapped IPv6 addresses: a server on a dual-stack socket sees IPv4 clients as
#: ``::ffff:a.b.c.d``, so these networks trust IPv4 clients.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _as_ipv4(network: IPNetwork) -> IPNetwork:
    """An IPv6 network of IPv4-mapped addresses as the IPv4 network it trusts."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        first = int(network.network_address) & 0xFFFF_FFFF
        return ipaddress.IPv4Network((first, network.prefixlen - 96))
    return network


def _covers_everything(networks: list[IPNetwork]) -> bool:
    ipv4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    ipv6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    if any(n.supernet_of(_IPV4_MAPPED) for n in ipv6):
        ipv4.append(ipaddress.IPv4Network("0.0.0.0/0"))
    collapsed: list[IPNetwork] = [
        *ipaddress.collapse_addresses(ipv4),
        *ipaddress.collapse_addresses(ipv6),
    ]
    return any(n.prefixlen == 0 for n in collapsed)


def _too_wide(network: IPNetwork) -> bool:
    if isinstance(network, ipaddress.IPv6Network) and any(map(network.subnet_of, _LOCAL_IPV6)):
        return False
    return network.prefixlen < _WIDEST_PREFIX[network.version]


@register()
def check_proxy_cidrs(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    networks = [_as_ipv4(n) for n in config.proxy.trusted_cidrs]
    if _covers_everything(networks):
        return [W061]
    return [W064] if any(_too_wide(n) for n in networks) else []


@register()
def check_proxy_fix(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W062] if any(type(layer).__name__ == "ProxyFix" for layer in wsgi_chain(app)) else []


@register(deploy=True)
def check_proxy_peer(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [I063] if config.proxy.trusted_hops and not config.proxy.trusted_cidrs else []
