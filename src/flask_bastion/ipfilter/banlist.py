"""The per-process copy of the ban list, kept current without a store round trip per
request.

:meth:`BanList.find` is on every request's path. It asks the store for its change
marker (a version number in memory, the count of Redis's change notices with Redis;
neither sends a command) and reads the store again, in one round trip, only when
the marker moved, when the copy is older than ``refresh`` seconds (the only signal for
a store without marker: SQL, or Redis without its notice connection; a bound on
staleness for the others), when a ban in the copy ended, or when this process changed
a ban itself. With Redis that read returns only what changed since the copy's, which is
applied in place; the other stores return the whole list. A request from an address
that is not banned therefore costs a
dictionary lookup per distinct prefix length in the list, and nothing on the network.

When the store cannot be read, the failure mode decides: ``open`` keeps using the last
copy (empty if none was ever read) and tries again after ``refresh`` seconds; ``closed``
raises :class:`~flask_bastion.exceptions.BanStoreUnavailable` (a 503) until a read
succeeds, also trying again only every ``refresh`` seconds, so an outage costs each
request neither a timeout nor a 500.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from flask import current_app

from .. import signals
from ..config.parsers import IPAddress
from ..exceptions import BanStoreUnavailable, StoreError
from ..logs import security_log
from ..refusal import refuse
from .networks import NetworkIndex
from .stores import Ban, BanStore

FAIL_OPEN = "open"


class BanList:
    """The bans of one application, as this process last read them.

    :param store: where the bans live.
    :param refresh: seconds a copy without a change marker stays in use.
    :param on_failure: ``"open"`` or ``"closed"``.
    """

    def __init__(self, store: BanStore, refresh: float, on_failure: str) -> None:
        self.store = store
        self.refresh = refresh
        self.on_failure = on_failure
        #: Unix time now; tests replace it to move time without sleeping.
        self.clock: t.Callable[[], float] = time.time
        self._index: NetworkIndex[Ban] = NetworkIndex()
        self._marker: object = None
        self._loaded_at: float | None = None
        self._next_expiry = float("inf")
        self._down_until = 0.0
        self._changes = 0
        self._seq: int | None = None
        self._lock = threading.Lock()
        #: Reads from the store by this process, whole or of the changes (for tests).
        self.loads = 0

    def invalidate(self) -> None:
        """Read the list again before the next lookup: this process just changed it."""
        self._changes += 1
        self._loaded_at = None

    def current(self, now: float) -> NetworkIndex[Ban]:
        """The live bans at ``now``, read again from the store only when needed.

        :raises BanStoreUnavailable: when the store cannot be read and the failure mode
            is ``closed``.
        """
        marker = self.store.marker()
        loaded_at = self._loaded_at
        if (
            loaded_at is not None
            and (marker is None or marker == self._marker)
            and now - loaded_at < self.refresh  # bounds staleness if notices stop
            and now < self._next_expiry
        ):
            return self._index
        return self._reload(marker, now)

    def _reload(self, marker: object, now: float) -> NetworkIndex[Ban]:
        # Once there is a copy, a thread that finds another reading the list uses the
        # copy for the milliseconds that takes rather than wait (a long list takes a
        # while to read); before that, it waits.
        if not self._lock.acquire(blocking=not self.loads):
            return self._index
        try:
            if now < self._down_until:
                return self._failed(None)
            changes = self._changes
            try:
                self._read(now)
            except StoreError as exc:
                self._down_until = now + self.refresh
                return self._failed(str(exc))
            self.loads += 1
            self._down_until = 0.0
            # A ban made by this process while the list was read may be missing from it.
            self._marker = marker
            self._loaded_at = now if changes == self._changes else None
            return self._index
        finally:
            self._lock.release()

    def _read(self, now: float) -> None:
        """Bring the copy up to date: the changes since the last read when the store can
        tell them (Redis), else the whole list."""
        sync = getattr(self.store, "sync", None)
        if sync is None:
            self.set(self.store.load(), now)
            return
        seq, full, changed = sync(-1 if self._seq is None else self._seq)
        if full:
            self.set((ban for ban in changed.values() if ban is not None), now)
        else:
            for network, ban in changed.items():
                if ban is None or ban.until <= now:
                    self._index.remove(network)
                else:
                    self._index.put(network, ban)
                    self._next_expiry = min(self._next_expiry, ban.until)
            if now >= self._next_expiry:  # drop ended bans, in this process only
                self.set(self._index.values(), now)
        self._seq = seq

    def set(self, bans: t.Iterable[Ban], now: float) -> None:
        """Replace the copy with the bans among ``bans`` still live at ``now``."""
        live = [ban for ban in bans if ban.until > now]
        self._index = NetworkIndex((ban.network, ban) for ban in live)
        # The copy is rebuilt when the first ban in it ends, so an ended ban on a
        # long prefix never hides a live one on a shorter prefix.
        self._next_expiry = min((ban.until for ban in live), default=float("inf"))

    def _failed(self, reason: str | None) -> NetworkIndex[Ban]:
        if reason is not None:  # once per failed read, not once per request
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            signals.ban_store_failed.send(app, reason=reason, fail=self.on_failure)
            security_log.log(
                logging.ERROR,
                "ipfilter.store_failed: %s",
                reason,
                extra={"event": "ipfilter.store_failed", "reason": reason, "fail": self.on_failure},
            )
        if self.on_failure == FAIL_OPEN:
            return self._index
        refuse(BanStoreUnavailable())

    def find(self, address: IPAddress, now: float) -> Ban | None:
        """The live ban holding ``address`` at ``now``, or ``None``."""
        return self.current(now).find(address)

    def live(self, now: float) -> list[Ban]:
        """Every live ban, read from the store now, soonest to end first.

        :raises StoreError: when the store cannot be read.
        """
        bans = sorted((b for b in self.store.load() if b.until > now), key=lambda b: b.until)
        return bans
