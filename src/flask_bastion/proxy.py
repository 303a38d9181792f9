"""Proxy trust: who may tell the application the client's address, scheme and host.

``X-Forwarded-For``, ``-Proto`` and ``-Host`` are plain request headers: any client can
send them. Believing them from an untrusted peer lets an attacker pick the IP address that
rate limits, bans and audit records see, and fake HTTPS so that the redirect and HSTS are
skipped. Flask-Bastion therefore trusts nothing by default, and one setting decides for
every control:

* ``BASTION_PROXY_TRUSTED_HOPS = N`` trusts the right-most *N* entries of each header,
  as werkzeug's ``ProxyFix`` does (an entry appended by each of our N proxies);
* ``BASTION_PROXY_TRUSTED_CIDRS`` honours the headers only when the direct peer is one of
  our proxies; with ``TRUSTED_HOPS = 0`` the client is the right-most address in
  ``X-Forwarded-For`` that is not itself a trusted proxy.

When trust is configured, :class:`ProxyMiddleware` rewrites ``REMOTE_ADDR``,
``wsgi.url_scheme`` and ``HTTP_HOST`` once, before Flask sees the request, so
``request.remote_addr``, ``request.scheme``, ``url_for(_external=True)`` and every
Bastion control agree. A forwarded value that is not a well-formed IP address, scheme or
host is ignored, never passed on; an IPv6 zone ID (``fe80::1%eth0``) is dropped when it
is a plain interface name and makes the address malformed otherwise. The original values
stay in ``environ["bastion.proxy"]``.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterable

from .components import Stage
from .config import BastionConfig, IPNetwork, ProxyConfig
from .config.parsers import ip_address

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: environ key holding the peer-supplied values the middleware replaced, and whether the
#: peer was a trusted proxy.
ENVIRON_KEY = "bastion.proxy"

_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)


def parse_ip(value: str) -> str | None:
    """``value`` as a normalised IP address string without zone ID, or ``None`` when it
    is not one."""
    try:
        return str(ip_address(value.strip()))
    except ValueError:
        return None


def in_networks(address: str | None, networks: Iterable[IPNetwork]) -> bool:
    """Whether ``address`` parses as an IP address inside one of ``networks``."""
    if not address:
        return False
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is a loopback IP address (127.0.0.0/8 or ::1)."""
    try:
        return address is not None and ip_address(address).is_loopback
    except ValueError:
        return False


#: Host names that are loopback (besides loopback IP literals and ``*.localhost``).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def host_is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or IP literal, with an optional port, IPv6 in brackets)
    is this machine: ``localhost``, ``*.localhost`` (RFC 6761), ``127.0.0.0/8`` or ``::1``."""
    if host.startswith("["):  # [::1] or [::1]:8080
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # name:port
        name = host.partition(":")[0]
    else:  # a name, or a bare IPv6 address
        name = host
    name = name.lower()
    return name in _LOOPBACK_NAMES or name.endswith(".localhost") or is_loopback(name)


class ProxyTrust:
    """The trust decision, separate from WSGI so it can be used and tested on its own."""

    def __init__(self, config: ProxyConfig) -> None:
        self.hops = config.trusted_hops
        self.networks = config.trusted_cidrs

    @property
    def enabled(self) -> bool:
        """Whether any forwarded header can ever be trusted."""
        return bool(self.hops or self.networks)

    def peer_is_trusted(self, environ: WSGIEnvironment) -> bool:
        """Whether the direct peer of this request is one of our proxies."""
        if not self.enabled:
            return False
        if self.networks:
            return in_networks(environ.get("REMOTE_ADDR"), self.networks)
        return True

    def resolve(self, environ: WSGIEnvironment) -> None:
        """Rewrite ``environ`` with the client values our proxies vouch for."""
        trusted = self.peer_is_trusted(environ)
        original = {
            "trusted_peer": trusted,
            "REMOTE_ADDR": environ.get("REMOTE_ADDR"),
            "wsgi.url_scheme": environ.get("wsgi.url_scheme"),
            "HTTP_HOST": environ.get("HTTP_HOST"),
        }
        environ[ENVIRON_KEY] = original
        if not trusted:
            return
        client = self._client_ip(_split(environ.get("HTTP_X_FORWARDED_FOR")))
        if client is not None:
            environ["REMOTE_ADDR"] = client
        proto = self._pick(_split(environ.get("HTTP_X_FORWARDED_PROTO")))
        if proto is not None and proto.lower() in ("http", "https"):
            environ["wsgi.url_scheme"] = proto.lower()
        host = self._pick(_split(environ.get("HTTP_X_FORWARDED_HOST")))
        if host is not None and _HOST_RE.match(host):
            environ["HTTP_HOST"] = host

    def _pick(self, values: list[str]) -> str | None:
        # With N hops, the entry our outermost proxy wrote is N from the right; fewer
        # entries than hops means a proxy did not write one, so nothing is trusted.
        if not values:
            return None
        if self.hops:
            return values[-self.hops] if len(values) >= self.hops else None
        return values[-1]

    def _client_ip(self, values: list[str]) -> str | None:
        if self.hops:
            picked = self._pick(values)
            return parse_ip(picked) if picked is not None else None
        # CIDR mode: walk right to left past our own proxies; the first other address is
        # the client. Anything left of it was written by the client and is ignored.
        for value in reversed(values):
            ip = parse_ip(value)
            if ip is None:
                return None
            if not in_networks(ip, self.networks):
                return ip
        return parse_ip(values[0]) if values else None


def _split(header: str | None) -> list[str]:
    if not header:
        return []
    return [part.strip() for part in header.split(",") if part.strip()]


class ProxyMiddleware:
    """WSGI middleware applying :class:`ProxyTrust` before the application runs."""

    def __init__(self, wsgi_app: WSGIApplication, trust: ProxyTrust) -> None:
        self.wsgi_app = wsgi_app
        self.trust = trust

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.trust.resolve(environ)
        return self.wsgi_app(environ, start_response)


class TrustedProxies:
    """Component: installs :class:`ProxyMiddleware` outermost when proxy trust is on."""

    name = "proxy"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        #: The trust decision.
        self.trust = ProxyTrust(config.proxy)

    def init_app(self, app: object) -> None:
        """Nothing to register: the work happens in :meth:`wrap_wsgi`."""

    def wrap_wsgi(self, wsgi_app: WSGIApplication) -> WSGIApplication:
        """``wsgi_app`` behind :class:`ProxyMiddleware`, or unchanged when no proxy is
        trusted (then no forwarded header is ever read, at no cost)."""
        return ProxyMiddleware(wsgi_app, self.trust) if self.trust.enabled else wsgi_app


def peer_is_trusted(environ: WSGIEnvironment) -> bool:
    """Whether the middleware found this request's peer to be a trusted proxy."""
    info = environ.get(ENVIRON_KEY)
    return bool(info and info["trusted_peer"])
