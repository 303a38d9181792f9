"""Configuration of IP filtering and temporary bans (``ipfilter/``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import (
    IPNetwork,
    choice,
    identifier,
    int_range,
    setting,
    visible_ascii,
)
from ..parsers.ipfilter import ban_store_url, cidr_list

#: The longest ban, in seconds: one year. A longer block belongs in the deny list.
MAX_BAN_SECONDS = 365 * 86_400


@dataclass(frozen=True)
class IpfilterConfig:
    """IP allow and deny lists and temporary bans (``ipfilter/``)."""

    allow: tuple[IPNetwork, ...] = setting(
        (),
        cidr_list,
        "Networks allowed to use the application; empty allows every address. A client "
        "outside every one of them gets a bare 403. IPv4-mapped IPv6 entries are read as "
        "IPv4.",
        danger="it holds 0.0.0.0/0 or ::/0",
    )
    deny: tuple[IPNetwork, ...] = setting(
        (),
        cidr_list,
        "Networks refused (bare 403) everywhere, whatever the allow lists say.",
    )
    bans_url: str = setting(
        "memory://",
        ban_store_url,
        "Where temporary bans and the auto-ban counters live: 'memory://' (this process "
        "only), a redis:// URL (shared; changes reach every process at once through Redis "
        "pub/sub) or a SQLAlchemy database URL (shared; other processes see a change within "
        "BASTION_IPFILTER_REFRESH seconds).",
        danger="'memory://' with more than one process",
    )
    key_prefix: str = setting(
        "bastion:ipfilter:", visible_ascii, "Key prefix of the Redis ban store."
    )
    table_name: str = setting("bastion_bans", identifier, "Table of the SQL ban store.")
    refresh: int = setting(
        5,
        int_range(1, 3600),
        "Seconds a process's copy of the ban list may be used before it is read again when "
        "no change notice can arrive (SQL store, or Redis while its notice connection is "
        "down); with Redis a change normally applies at the next request.",
    )
    on_store_failure: str = setting(
        "open",
        choice("open", "closed"),
        "What a request gets when the ban store cannot be read: 'open' serves it with the "
        "last ban list this process read (and logs the failure), 'closed' answers 503. The "
        "allow and deny lists apply either way.",
    )
    ipv6_ban_prefix: int = setting(
        64,
        int_range(32, 128),
        "Prefix length of the network an automatic ban covers for an IPv6 client (one "
        "host usually holds a whole /64).",
    )
    max_bans: int = setting(
        10_000,
        int_range(1, 1_000_000),
        "Live bans beyond which no automatic ban is added (logged as "
        "ipfilter.ban_list_full): every process reads the whole list again after each "
        "change, so a botnet must not grow it without bound. Bans by hand still apply.",
    )
    stuffing_ban: int = setting(
        3600,
        int_range(0, MAX_BAN_SECONDS),
        "Seconds an address is banned for credential stuffing (the credential_stuffing "
        "signal of BASTION_LOCKOUT_*). 0 disables.",
    )
    csrf_failures: int = setting(
        20,
        int_range(0, 1_000_000),
        "CSRF rejections one address may cause per BASTION_IPFILTER_CSRF_WINDOW before it is "
        "banned for BASTION_IPFILTER_CSRF_BAN seconds. 0 disables.",
    )
    csrf_window: int = setting(
        600, int_range(1, 86_400), "Seconds over which CSRF rejections are counted."
    )
    csrf_ban: int = setting(
        3600, int_range(1, MAX_BAN_SECONDS), "Seconds of a ban for repeated CSRF failures."
    )
    notfound_burst: int = setting(
        100,
        int_range(0, 1_000_000),
        "Requests for unrouted paths (404) one address may make per "
        "BASTION_IPFILTER_NOTFOUND_WINDOW before it is banned for "
        "BASTION_IPFILTER_NOTFOUND_BAN seconds (path scanning). 0 disables.",
    )
    notfound_window: int = setting(
        60, int_range(1, 86_400), "Seconds over which 404 responses are counted."
    )
    notfound_ban: int = setting(
        3600, int_range(1, MAX_BAN_SECONDS), "Seconds of a ban for a burst of 404s."
    )
