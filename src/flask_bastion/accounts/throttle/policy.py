"""The throttle: decides from the counters whether a sign-in attempt may go on."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterator

from flask import current_app

from ... import signals
from ...config import LockoutConfig
from ...exceptions import LockoutStoreUnavailable, StoreError
from ...logs import security_log
from ...refusal import refuse
from ..counters import NEVER, Counter, CounterBackend
from .verdicts import (
    ALLOWED,
    MAX_RACES,
    MEMORY,
    PURGE_INTERVAL,
    REASON_DELAYED,
    REASON_IP_LIMIT,
    REASON_LOCKED,
    REASON_PAIR_DELAYED,
    REASON_STUFFING,
    REASON_UNLOCK_REQUIRED,
    AccountStatus,
    Scope,
    Verdict,
    _delay,
    _Keys,
    normalise_identifier,
)


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

    def release(self, identifier: str, ip: str) -> None:
        """Take back the attempt :meth:`check` counted when it neither failed nor ended
        the sign-in: a right password with a second factor still to come. The failures
        before it still count, so that starting the sign-in again does not wipe the
        wrong codes of the attempts before (:meth:`succeeded` does, once the second
        factor is right too).

        :raises LockoutStoreUnavailable: when the store cannot be reached.
        """
        if not self.settings.enabled:
            return
        key = _Keys(self._digest, identifier, ip).account
        with _store():
            for _ in range(MAX_RACES):
                now = self.clock()
                (account,) = self.backend.get([key], now)
                if account is None or account.total < 1:
                    return
                count = max(account.count - 1, 0)
                taken = Counter(count, account.total - 1, account.last, account.expires)
                if self.backend.swap(key, account, taken, now):
                    return

    def check_address(self, ip: str) -> Verdict:
        """Whether a sign-in that names no account yet (a passkey) may be tried from
        ``ip``: the per-address limit and the credential-stuffing refusal, shared with
        the password sign-in.

        :raises LockoutStoreUnavailable: when the store cannot be reached (fail closed).
        """
        if not self.settings.enabled:
            return ALLOWED
        keys = _Keys(self._digest, "", ip)
        with _store():
            now = self.clock()
            ip_key, _ = self._ip_window(keys, now)
            per_ip, stuffing = self.backend.get([ip_key, keys.stuffing], now)
        return self._verdict([None, None, per_ip, stuffing], now)

    def failed_address(self, ip: str) -> Verdict:
        """Record a failed sign-in that named no account (a refused passkey) against the
        address's limit; the verdict for the next attempt from ``ip``.

        :raises LockoutStoreUnavailable: when the store cannot be reached (fail closed).
        """
        if not self.settings.enabled:
            return ALLOWED
        keys = _Keys(self._digest, "", ip)
        with _store():
            now = self.clock()
            ip_key, window_end = self._ip_window(keys, now)
            self.backend.add(ip_key, now, self.settings.window, window_end)
        return self.check_address(ip)

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
