"""Brute-force and credential-stuffing defence of sign-in: counters per account, per
client address and per (account, address) pair.

Defends against online password guessing on one account (slowed down, then locked, and
never more than ``BASTION_LOCKOUT_MAX_FAILURES`` consecutive failures evaluated), against
one address guessing across accounts (limited per window) and against credential
stuffing, one address trying leaked credentials on many accounts (refused for a window,
and :data:`~flask_bastion.signals.credential_stuffing` sent). Delays are answers ("not
before T"), never sleeps in the request. The counters know nothing of users: a known and
an unknown identifier are counted alike, so the throttle never tells whether an account
exists, and the store holds keyed hashes (HMAC-SHA256 under a key derived from
``SECRET_KEY``), never an email or an address. When the store cannot be reached, sign-in
fails closed (:class:`~flask_bastion.exceptions.LockoutStoreUnavailable`, a 503).

A sign-in view calls it around the password check::

    throttle = get_state(app).component("lockout").throttle
    verdict = throttle.check(email, ip)        # before checking the password
    if not verdict.allowed:
        ...                                    # 429 with Retry-After: verdict.retry_after
    elif user is not None and password_ok:
        throttle.succeeded(email, ip)
    else:
        verdict = throttle.failed(email, ip)   # the verdict for the next attempt

:meth:`LoginThrottle.check` counts the attempt against the account as it allows it, and
:meth:`~LoginThrottle.succeeded` forgets it; so concurrent attempts can never pass the
limits together, and an attempt that never reports its outcome counts as a failure. The
policy, its numbers and its trade-offs: ``docs/brute-force.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import math
import time
import typing as t
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Flask, current_app

from .. import signals
from ..components import Stage
from ..config import BastionConfig, LockoutConfig
from ..context import get_state
from ..exceptions import LockoutStoreUnavailable, StoreError
from ..logs import security_log
from ..refusal import refuse
from .counters import NEVER, Counter, CounterBackend, MemoryCounters, RedisCounters, SQLCounters

__all__ = [
    "REASON_DELAYED",
    "REASON_IP_LIMIT",
    "REASON_LOCKED",
    "REASON_PAIR_DELAYED",
    "REASON_STUFFING",
    "REASON_UNLOCK_REQUIRED",
    "AccountStatus",
    "LoginThrottle",
    "LoginThrottling",
    "Scope",
    "Verdict",
    "make_throttle",
]

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


class LoginThrottle:
    """The sign-in counters and their policy.

    :param backend: where the counters live (:mod:`.counters`).
    :param settings: the ``BASTION_LOCKOUT_*`` settings.
    :param secret: the key of the HMAC that hashes identifiers and addresses into store
        keys (:func:`make_throttle` derives it from ``SECRET_KEY``). Without one, keys are
        plain SHA-256, which anyone holding the store could match against a list of
        email addresses.
    :param clock: the current Unix time; tests pass their own.

    Every method but :meth:`status` runs in an application context (it sends signals).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        backend: CounterBackend,
        settings: LockoutConfig,
        *,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self._secret = secret
        self._next_purge = 0.0

    def _digest(self, label: bytes, value: str) -> str:
        data = label + b"\0" + value.encode("utf-8", "surrogatepass")
        if self._secret is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def _ip_window(self, keys: _Keys, now: float) -> tuple[str, float]:
        """The per-address counter of the window holding ``now``, and when it ends."""
        window = self.settings.window
        number = math.floor(now / window)
        return f"{keys.ip}:{number}", (number + 1) * window

    def _read(self, keys: _Keys, now: float) -> list[Counter | None]:
        """The account, pair, per-address and stuffing records, in one round trip."""
        ip_key, _ = self._ip_window(keys, now)
        return self.backend.get([keys.account, keys.pair, ip_key, keys.stuffing], now)

    # -- the policy ---------------------------------------------------------------------

    def _account_verdict(self, account: Counter | None, now: float) -> Verdict:
        s = self.settings
        if account is None:
            return ALLOWED
        if account.total >= s.max_failures:
            return Verdict(False, REASON_UNLOCK_REQUIRED, s.duration, "account")
        if now - account.last >= s.window:
            return ALLOWED
        if account.count >= s.threshold:
            return _wait(REASON_LOCKED, account.last + s.duration, now, "account")
        until = account.last + _delay(account.count, s.free_attempts, s.max_delay)
        return _wait(REASON_DELAYED, until, now, "account")

    def _verdict(self, records: list[Counter | None], now: float) -> Verdict:
        account, pair, per_ip, stuffing = records
        s = self.settings
        verdict = self._account_verdict(account, now)
        if not verdict.allowed:
            return verdict
        if pair is not None and now - pair.last < s.window:
            until = pair.last + _delay(pair.count, s.pair_free_attempts, s.max_delay)
            verdict = _wait(REASON_PAIR_DELAYED, until, now, "pair")
            if not verdict.allowed:
                return verdict
        if stuffing is not None:
            return _wait(REASON_STUFFING, stuffing.expires, now, "ip")
        if per_ip is not None and per_ip.count >= s.ip_limit:
            return _wait(REASON_IP_LIMIT, per_ip.expires, now, "ip")
        return ALLOWED

    def _claimed(self, account: Counter | None, now: float) -> Counter:
        """The account's record once one more attempt is counted."""
        s = self.settings
        if account is None:
            count, total = 1, 1
        else:
            count = 1 if now - account.last >= s.window else account.count + 1
            total = account.total + 1
        return Counter(count, total, now, NEVER if total >= s.max_failures else now + MEMORY)

    # -- the API ------------------------------------------------------------------------

    def check(self, identifier: str, ip: str) -> Verdict:
        """Whether a sign-in attempt on ``identifier`` from ``ip`` may check its password;
        call it before checking the password, and check it only when allowed.

        An allowed attempt is counted against the account at once (atomically, so that
        concurrent attempts never pass the limits together); :meth:`succeeded` forgets it
        and :meth:`failed` counts it against the address and the pair. A refused attempt
        counts nowhere, so trying during a lock does not prolong it.

        :param identifier: the login identifier (an email address), known or not.
        :param ip: the client address (``request.remote_addr`` under Bastion's proxy trust).
        :raises LockoutStoreUnavailable: when the store cannot be reached (fail closed).
        """
        if not self.settings.enabled:
            return ALLOWED
        keys = _Keys(self._digest, identifier, ip)
        with _store():
            for _ in range(MAX_RACES):
                now = self.clock()
                records = self._read(keys, now)
                verdict = self._verdict(records, now)
                if not verdict.allowed:
                    return verdict
                account = records[0]
                if self.backend.swap(keys.account, account, self._claimed(account, now), now):
                    return ALLOWED
        # Dozens of requests raced for this account at once: only a script does that.
        return Verdict(False, REASON_DELAYED, 1, "account")

    def failed(self, identifier: str, ip: str) -> Verdict:
        """Record that the attempt :meth:`check` allowed failed (wrong password, unknown
        account); returns the verdict for the next attempt, so the view can say that the
        account is now locked. Sends :data:`~flask_bastion.signals.account_locked` when
        this failure locks the account and
        :data:`~flask_bastion.signals.credential_stuffing` (once per window and address)
        when the address has now failed on ``BASTION_LOCKOUT_STUFFING_ACCOUNTS`` distinct
        accounts.

        :raises LockoutStoreUnavailable: when the store cannot be reached (fail closed).
        """
        if not self.settings.enabled:
            return ALLOWED
        s = self.settings
        keys = _Keys(self._digest, identifier, ip)
        with _store():
            now = self.clock()
            if now >= self._next_purge:
                self._next_purge = now + PURGE_INTERVAL
                self.backend.purge(now)
            self.backend.add(keys.pair, now, s.window, now + s.window)
            ip_key, window_end = self._ip_window(keys, now)
            self.backend.add(ip_key, now, s.window, window_end)
            accounts = self.backend.seen(keys.seen, keys.account, now, s.stuffing_window)
            if accounts >= s.stuffing_accounts and self.backend.flag(
                keys.stuffing, now, now + s.stuffing_window
            ):
                _stuffing(ip, accounts, s.stuffing_window)
            records = self._read(keys, now)
            status = self._status(records[0], now)
            if status.locked:
                _locked(keys.account, status.until)
            return self._verdict(records, now)

    def succeeded(self, identifier: str, ip: str) -> None:
        """Record a successful sign-in: the account's and this pair's counters start
        afresh (the address's do not: it may be failing on other accounts).

        :raises LockoutStoreUnavailable: when the store cannot be reached.
        """
        if self.settings.enabled:
            keys = _Keys(self._digest, identifier, ip)
            with _store():
                self.backend.delete([keys.account, keys.pair])

    def unlock(self, identifier: str, *, by: str = "link") -> None:
        """Lift the account's lock and forget its failures (the emailed unlock link, an
        administrator). The (account, address) pairs keep theirs, so the address that
        caused the lock stays slowed down. Sends
        :data:`~flask_bastion.signals.account_unlocked` when the account was locked.

        :param by: who lifted it, sent with the signal: ``"link"`` or ``"admin"``.
        :raises LockoutStoreUnavailable: when the store cannot be reached.
        """
        if not self.settings.enabled:
            return
        key = _Keys(self._digest, identifier, "").account
        with _store():
            now = self.clock()
            (account,) = self.backend.get([key], now)
            self.backend.delete([key])
        if self._status(account, now).locked:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            signals.account_unlocked.send(app, user=None, key=key, by=by)
            security_log.info(
                "lockout.unlocked", extra={"event": "lockout.unlocked", "key": key, "by": by}
            )

    def allow_mail(self, address: str) -> bool:
        """Count one mail to ``address`` that an outsider can cause, and say whether it
        may go: at most ``BASTION_LOCKOUT_MAIL_LIMIT`` per fixed window of
        ``BASTION_LOCKOUT_MAIL_WINDOW`` seconds.
        Counted alike whether or not an account has the address, so the cost tells
        nothing; the store holds a keyed hash of the address only.

        :raises LockoutStoreUnavailable: when the store cannot be reached.
        """
        now = self.clock()
        window = self.settings.mail_window
        number = math.floor(now / window)
        key = f"e:{self._digest(b'mail', normalise_identifier(address))}:{number}"
        with _store():
            self.backend.add(key, now, window, (number + 1) * window)
            (record,) = self.backend.get([key], now)
        return record is not None and record.count <= self.settings.mail_limit

    def status(self, identifier: str) -> AccountStatus:
        """The account's lock and its consecutive failures.

        :raises LockoutStoreUnavailable: when the store cannot be reached.
        """
        if not self.settings.enabled:
            return AccountStatus(False, None, 0, False)
        key = _Keys(self._digest, identifier, "").account
        with _store():
            now = self.clock()
            (account,) = self.backend.get([key], now)
        return self._status(account, now)

    def _status(self, account: Counter | None, now: float) -> AccountStatus:
        if account is None:
            return AccountStatus(False, None, 0, False)
        reason = self._account_verdict(account, now).reason
        if reason == REASON_UNLOCK_REQUIRED:
            return AccountStatus(True, None, account.total, True)
        if reason == REASON_LOCKED:
            return AccountStatus(True, account.last + self.settings.duration, account.total, False)
        return AccountStatus(False, None, account.total, False)


def _wait(reason: str, until: float, now: float, scope: Scope) -> Verdict:
    """Refused until ``until``, or allowed once it has passed."""
    if now >= until:
        return ALLOWED
    return Verdict(False, reason, max(1, math.ceil(until - now)), scope)


@contextlib.contextmanager
def _store() -> Iterator[None]:
    """Turn a store failure into the 503 of :class:`LockoutStoreUnavailable`."""
    failed = False
    try:
        yield
    except StoreError:
        failed = True
    if failed:  # outside the except block: the store's error is not chained to the 503
        refuse(LockoutStoreUnavailable())


def _locked(key: str, until: float | None) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.account_locked.send(app, user=None, key=key, until=until)
    security_log.warning(
        "lockout.locked", extra={"event": "lockout.locked", "key": key, "until": until}
    )


def _stuffing(ip: str, accounts: int, window: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.credential_stuffing.send(app, ip=ip, accounts=accounts, window=window)
    security_log.warning(
        "lockout.credential_stuffing",
        extra={"event": "lockout.credential_stuffing", "ip": ip, "accounts": accounts},
    )


def make_throttle(app: Flask) -> LoginThrottle:
    """A :class:`LoginThrottle` for ``app`` on the store its configuration names.

    ``BASTION_LOCKOUT_STORE = "auto"`` takes the kind of store the sessions use, and their
    URL unless ``BASTION_LOCKOUT_URL`` is set. Applications use the one the ``"lockout"``
    component made, ``get_state(app).component("lockout").throttle``.

    :raises ConfigurationError: for a redis store without a URL, or a SQL database other
        than SQLite or PostgreSQL.
    """
    state = get_state(app)
    config = state.config
    settings = config.lockout
    kind, url = settings.store, settings.url
    if kind == "auto":
        kind, url = config.sessions.store, url or config.sessions.url
    backend: CounterBackend
    if not settings.enabled or kind == "memory":
        backend = MemoryCounters()
    elif kind == "redis":
        client = state.stores.redis(url, key="BASTION_LOCKOUT_URL")
        backend = RedisCounters(client, settings.key_prefix)
    else:
        database = state.stores.sql(url, name="lockout store")
        backend = SQLCounters(database, settings.table_name)
    key = app.secret_key
    secret = None
    if key:
        raw = key.encode() if isinstance(key, str) else key
        secret = hmac.new(raw, KEY_LABEL, hashlib.sha256).digest()
    return LoginThrottle(backend, settings, secret=secret)


class LoginThrottling:
    """Component: makes the application's :class:`LoginThrottle` at ``init_app`` and keeps
    it as :attr:`throttle`, for the sign-in views
    (``get_state(app).component("lockout").throttle``). It looks at no request itself."""

    name = "lockout"
    stage = Stage.AUTHENTICATE

    def __init__(self, config: BastionConfig) -> None:
        self.config = config

    def init_app(self, app: Flask) -> None:
        #: The application's throttle.
        self.throttle = make_throttle(app)
