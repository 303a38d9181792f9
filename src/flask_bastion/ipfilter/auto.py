"""The one ban API, and the controls that ban by themselves.

Every ban, whoever makes it, goes through :func:`ban_in` (:func:`ban` for the current
application): the store's write, the :data:`~flask_bastion.signals.ip_banned` signal
and an ``ipfilter.banned`` security log line. Three controls ban on their own:

credential stuffing
    the :data:`~flask_bastion.signals.credential_stuffing` signal of the sign-in
    throttle: the address is banned for ``BASTION_IPFILTER_STUFFING_BAN`` seconds;
repeated CSRF failures
    each :data:`~flask_bastion.signals.csrf_rejected` for a missing or invalid token
    counts for the address; ``BASTION_IPFILTER_CSRF_FAILURES`` of them within
    ``..._CSRF_WINDOW`` seconds ban it;
404 scanning bursts
    each unrouted request counts; ``BASTION_IPFILTER_NOTFOUND_BURST`` of them within
    ``..._NOTFOUND_WINDOW`` seconds ban it.

Neither counts a request another site's page made the visitor's browser send: a
cross-site forgery refused by Fetch Metadata or ``Origin``, or a 404 whose
``Sec-Fetch-Site`` (or, without it, ``Referer``) names another site. Otherwise any page
could get its visitors banned here with twenty hidden forms or a hundred
``<img src="https://our.site/nope-N">``. What counts is what a tool sends on its own:
no Fetch Metadata, no foreign ``Referer``, no token.

No automatic ban is added while ``BASTION_IPFILTER_MAX_BANS`` bans are live (each
change makes every process read the whole list again). An automatic ban of an IPv6
client covers its ``/BASTION_IPFILTER_IPV6_BAN_PREFIX``. An
address of a trusted proxy (``BASTION_PROXY_TRUSTED_CIDRS``) is never banned
automatically: when proxy trust is misconfigured every request seems to come from the
proxy, and banning it would refuse everyone. A store failure while counting or banning
automatically is logged and ignored: the request that triggered it is answered as it
would have been.
"""

from __future__ import annotations

import logging
import typing as t

from flask import Flask, current_app, has_request_context, request

from .. import signals
from ..config.parsers import IPAddress, IPNetwork
from ..config.sections import MAX_BAN_SECONDS
from ..context import EXTENSION_KEY
from ..csrf.tokens import REASON_NO_SECRET, REASON_TOKEN_INVALID, REASON_TOKEN_MISSING
from ..exceptions import StoreError
from ..logs import security_log
from ..origins import from_another_site
from .component import IPFilter, ipfilter_of
from .networks import ban_network, client_address, network_of
from .stores import Ban, clean_reason

REASON_STUFFING = "credential stuffing"
REASON_CSRF = "repeated CSRF failures"
REASON_NOT_FOUND = "404 scanning burst"
#: The CSRF rejections that count towards a ban: those of a request that carried no
#: sign of another site's page (no cross-site Fetch Metadata, no foreign Origin).
COUNTED_CSRF_REASONS = frozenset({REASON_TOKEN_MISSING, REASON_TOKEN_INVALID, REASON_NO_SECRET})


def ban_in(
    ipfilter: IPFilter, target: str | IPAddress | IPNetwork, duration: int, reason: str, by: str
) -> Ban:
    """Ban ``target`` in ``ipfilter``'s store (see :func:`ban`)."""
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ValueError("the duration is a whole number of seconds")
    if not 1 <= duration <= MAX_BAN_SECONDS:
        raise ValueError(f"the duration must be from 1 to {MAX_BAN_SECONDS} seconds")
    network = network_of(target)
    if network.prefixlen == 0:  # one typo from refusing every visitor, admins included
        raise ValueError(f"{network} is every address; the deny list is the place for that")
    now = ipfilter.bans.clock()
    entry = Ban(network, now + duration, clean_reason(reason) or "-", now, clean_reason(by))
    ipfilter.bans.store.add(entry, now)
    ipfilter.bans.invalidate()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.ip_banned.send(
        app, network=str(network), until=entry.until, reason=entry.reason, by=entry.by
    )
    security_log.warning(
        "ipfilter.banned: %s",
        network,
        extra={
            "event": "ipfilter.banned",
            "network": str(network),
            "until": entry.until,
            "reason": entry.reason,
            "by": entry.by,
        },
    )
    return entry


def ban(target: str | IPAddress | IPNetwork, duration: int, reason: str, *, by: str = "api") -> Ban:
    """Ban an address or network of the current application for ``duration`` seconds.

    ::

        from flask_bastion.ipfilter import ban
        ban("203.0.113.7", 3600, "scraping the price list")

    :param target: ``"203.0.113.7"``, ``"2001:db8::/64"`` or an ``ipaddress`` object;
        a bare address bans that address only.
    :param duration: seconds, from 1 to one year.
    :param reason: shown to operators (``flask bastion bans``, the admin page, the log).
    :param by: who bans, for the record.
    :raises ValueError: for a malformed network, ``0.0.0.0/0`` or ``::/0``, or an
        out-of-range duration.
    :raises StoreError: when the ban store cannot be written.
    """
    return ban_in(ipfilter_of(current_app), target, duration, reason, by)


def unban(target: str | IPAddress | IPNetwork, *, by: str = "api") -> bool:
    """Lift the ban of exactly ``target`` (as it was banned); whether there was one.

    :raises ValueError: for a malformed network.
    :raises StoreError: when the ban store cannot be written.
    """
    ipfilter = ipfilter_of(current_app)
    network = network_of(target)
    found = ipfilter.bans.store.remove(network)
    ipfilter.bans.invalidate()
    if found:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.ip_unbanned.send(app, network=str(network), by=by)
        security_log.warning(
            "ipfilter.unbanned: %s",
            network,
            extra={"event": "ipfilter.unbanned", "network": str(network), "by": by},
        )
    return found


def bans() -> list[Ban]:
    """The live bans of the current application, read from the store now, soonest to
    end first.

    :raises StoreError: when the ban store cannot be read.
    """
    ipfilter = ipfilter_of(current_app)
    return ipfilter.bans.live(ipfilter.bans.clock())


def auto_ban(ipfilter: IPFilter, address: IPAddress, duration: int, reason: str, by: str) -> None:
    """Ban ``address`` (its /64 for IPv6) automatically, unless it is a trusted proxy or
    already banned; a store failure is logged, never raised."""
    if any(address in network for network in ipfilter.config.proxy.trusted_cidrs):
        return
    network = ban_network(address, ipfilter.settings.ipv6_ban_prefix)
    try:
        current = ipfilter.bans.current(ipfilter.bans.clock())
        if current.find(address) is not None:
            return
        if len(current) >= ipfilter.settings.max_bans:
            security_log.error(
                "ipfilter.ban_list_full: %s not banned",
                network,
                extra={"event": "ipfilter.ban_list_full", "network": str(network), "by": by},
            )
            return
        ban_in(ipfilter, network, duration, reason, by)
    except StoreError as exc:
        _store_failed(exc)


def _counted(ipfilter: IPFilter, kind: str, address: IPAddress, window: int, now: float) -> int:
    # Counted per network a ban would cover: an IPv6 client rotating through its /64
    # adds up like one address.
    network = ban_network(address, ipfilter.settings.ipv6_ban_prefix)
    try:
        return ipfilter.bans.store.hit(f"{kind}:{network}", window, now)
    except StoreError as exc:
        _store_failed(exc)
        return 0


def _store_failed(exc: StoreError) -> None:
    security_log.log(
        logging.ERROR,
        "ipfilter.auto_ban_failed: %s",
        exc,
        extra={"event": "ipfilter.auto_ban_failed", "reason": str(exc)},
    )


def count_not_found(ipfilter: IPFilter, address: IPAddress, now: float) -> None:
    """Count an unrouted request of ``address`` unless another site's page made it; ban
    the address after a burst."""
    settings = ipfilter.settings
    if not settings.notfound_burst or from_another_site():
        return
    count = _counted(ipfilter, "404", address, settings.notfound_window, now)
    if count == settings.notfound_burst:  # once per window, not on every later 404
        auto_ban(ipfilter, address, settings.notfound_ban, REASON_NOT_FOUND, "notfound")


def _ipfilter(sender: object) -> IPFilter | None:
    if not isinstance(sender, Flask) or EXTENSION_KEY not in sender.extensions:
        return None
    try:
        return ipfilter_of(sender)
    except KeyError:  # an application that removed the component
        return None


@signals.credential_stuffing.connect
def _on_credential_stuffing(sender: object, **extra: t.Any) -> None:
    ipfilter = _ipfilter(sender)
    address = client_address(extra.get("ip"))
    if ipfilter is None or address is None or not ipfilter.settings.stuffing_ban:
        return
    auto_ban(ipfilter, address, ipfilter.settings.stuffing_ban, REASON_STUFFING, "stuffing")


@signals.csrf_rejected.connect
def _on_csrf_rejected(sender: object, **extra: t.Any) -> None:
    ipfilter = _ipfilter(sender)
    if ipfilter is None or not ipfilter.settings.csrf_failures or not has_request_context():
        return
    if extra.get("reason") not in COUNTED_CSRF_REASONS or from_another_site():
        return
    address = client_address(request.remote_addr)
    if address is None:
        return
    settings = ipfilter.settings
    now = ipfilter.bans.clock()
    count = _counted(ipfilter, "csrf", address, settings.csrf_window, now)
    if count == settings.csrf_failures:
        auto_ban(ipfilter, address, settings.csrf_ban, REASON_CSRF, "csrf")
