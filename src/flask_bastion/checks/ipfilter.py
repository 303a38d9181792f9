"""IP filter checks (``14x``): allow lists that let everyone in or lock everyone out,
deny entries that silently cancel allow entries, and bans kept per worker process.

An allow list is a promise that only some networks reach the application; one holding
``0.0.0.0/0`` keeps none of it. One naming only the application's own proxies refuses
every real client, since the client address is the one the proxies forward. And bans in
``memory://`` under several workers hold in one worker only: a banned scanner simply
gets another worker on its next connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import ERROR, WARNING, CheckMessage, message, register
from .workers import worker_count

W140 = message(
    WARNING,
    "BASTION_IPFILTER_ALLOW contains 0.0.0.0/0 or ::/0.",
    "That entry allows every address of its family, so the allow list restricts nothing "
    "for it. List the networks that should reach the application, or leave the list empty.",
    "bastion.W140",
    settings=("BASTION_IPFILTER_ALLOW",),
)
W141 = message(
    WARNING,
    "An entry of BASTION_IPFILTER_ALLOW lies entirely inside BASTION_IPFILTER_DENY.",
    "The deny list wins, so no address of that allow entry can ever get in. Remove the "
    "allow entry or narrow the deny entry.",
    "bastion.W141",
    settings=("BASTION_IPFILTER_ALLOW", "BASTION_IPFILTER_DENY"),
)
E142 = message(
    ERROR,
    "BASTION_IPFILTER_ALLOW names only trusted proxies (BASTION_PROXY_TRUSTED_CIDRS).",
    "The client address is the one the proxies forward, never the proxy's own, so this "
    "allow list refuses every client. List the clients' networks instead.",
    "bastion.E142",
    settings=("BASTION_IPFILTER_ALLOW", "BASTION_PROXY_TRUSTED_CIDRS"),
)
W143 = message(
    WARNING,
    "Bans are kept in memory:// while the server runs several worker processes.",
    "Each worker has its own ban list: a ban made in one (automatic, or by the admin page) "
    "does not hold in the others, and `flask bastion ban` reaches none. Set "
    "BASTION_IPFILTER_BANS_URL to Redis or the database.",
    "bastion.W143",
    settings=("BASTION_IPFILTER_BANS_URL",),
)


@register()
def check_allow_everyone(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W140] if any(n.prefixlen == 0 for n in config.ipfilter.allow) else []


@register()
def check_allow_inside_deny(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    section = config.ipfilter
    dead = any(
        a.version == d.version and a.subnet_of(d)  # type: ignore[arg-type]
        for a in section.allow
        for d in section.deny
    )
    return [W141] if dead else []


@register()
def check_allow_names_proxies(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    allow, proxies = config.ipfilter.allow, config.proxy.trusted_cidrs
    only_proxies = all(
        any(a.version == p.version and a.subnet_of(p) for p in proxies)  # type: ignore[arg-type]
        for a in allow
    )
    return [E142] if allow and proxies and only_proxies else []


@register(deploy=True)
def check_memory_bans_with_workers(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    memory = config.ipfilter.bans_url.lower().startswith("memory:")
    return [W143] if memory and worker_count(app) > 1 else []
