"""The throttle's answers, its reasons, and how it names accounts and addresses."""

from __future__ import annotations

import ipaddress
import typing as t
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

REASON_DELAYED = "Too many failed sign-ins on this account: wait a moment before trying again."
REASON_LOCKED = "This account is locked for a while after too many failed sign-ins."
REASON_UNLOCK_REQUIRED = (
    "This account is locked after too many failed sign-ins, until it is unlocked by the "
    "link sent by email or by an administrator."
)
REASON_PAIR_DELAYED = (
    "Too many failed sign-ins on this account from this address: wait a moment before trying again."
)
REASON_IP_LIMIT = "Too many failed sign-ins from this address: try again later."
REASON_STUFFING = "Failed sign-ins on too many accounts from this address: try again later."

#: What a refusal is about: ``"account"``, ``"pair"`` (this account from this address) or
#: ``"ip"`` (the address, whatever the account; a view may answer it with a 429).
Scope = t.Literal["account", "ip", "pair"]

#: Seconds an account's consecutive failures are remembered without a new one, for the
#: hard limit; an account at the hard limit is remembered until it is unlocked.
MEMORY = 30 * 86_400
#: Seconds of the throttle's clock between two purges of expired SQL rows.
PURGE_INTERVAL = 300
#: Attempts at claiming an attempt while other requests claim on the same account.
MAX_RACES = 64
#: Purpose label of the key, derived from ``SECRET_KEY``, that hashes the counters' keys.
KEY_LABEL = b"flask-bastion lockout keys v1"


@dataclass(frozen=True)
class Verdict:
    """Whether a sign-in attempt may go on to the password check."""

    #: ``True``: check the password.
    allowed: bool
    #: One of the ``REASON_*`` constants when refused, else ``None``.
    reason: str | None = None
    #: Seconds before an attempt can be allowed again (``0`` when allowed). For
    #: :data:`REASON_UNLOCK_REQUIRED` waiting does not help: it is the lock duration, as a
    #: polite ``Retry-After``.
    retry_after: int = 0
    #: What the refusal is about, ``None`` when allowed.
    scope: Scope | None = None


#: The verdict of an allowed attempt.
ALLOWED = Verdict(True)


@dataclass(frozen=True)
class AccountStatus:
    """An account's lock, as an administrator or the unlock page sees it."""

    #: Whether sign-in is refused now (temporary lock or hard limit; not the short delays).
    locked: bool
    #: When the temporary lock lifts (Unix time); ``None`` when not locked or when only
    #: an unlock lifts it.
    until: float | None
    #: Consecutive failed attempts since the last success or unlock.
    failures: int
    #: Whether only an unlock (link or administrator) lifts the lock.
    unlock_required: bool


def _delay(count: int, free: int, cap: int) -> int:
    """Seconds to wait after ``count`` consecutive failures: 1, 2, 4, ... up to ``cap``."""
    return 0 if count < free else min(2 ** min(count - free, 31), cap)


def normalise_identifier(identifier: str) -> str:
    """``identifier`` as counted: NFKC, stripped, case-folded, so that ``Alice@X.org``
    and ``alice@x.org`` share their counters (spelling variants bypass nothing)."""
    return unicodedata.normalize("NFKC", identifier).strip().casefold()


def normalise_ip(ip: str) -> str:
    """The address as counted: canonical text, and an IPv6 address's /64 network, since
    one client usually holds a whole /64 (an IPv4-mapped address counts as IPv4)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip().lower()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _Keys:
    """The store keys of one attempt."""

    __slots__ = ("account", "ip", "pair", "seen", "stuffing")

    def __init__(self, digest: Callable[[bytes, str], str], identifier: str, ip: str) -> None:
        identifier = normalise_identifier(identifier)
        address = digest(b"ip", normalise_ip(ip))
        self.account = "a:" + digest(b"account", identifier)
        self.pair = "p:" + digest(b"pair", f"{identifier}\0{normalise_ip(ip)}")
        self.ip = "i:" + address
        self.stuffing = "s:" + address
        self.seen = "m:" + address
