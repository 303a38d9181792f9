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

from .component import (
    LoginThrottling,
    make_throttle,
)
from .policy import (
    LoginThrottle,
)
from .verdicts import (
    ALLOWED,
    KEY_LABEL,
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
    normalise_identifier,
    normalise_ip,
)

__all__ = [
    "ALLOWED",
    "KEY_LABEL",
    "MAX_RACES",
    "MEMORY",
    "PURGE_INTERVAL",
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
    "normalise_identifier",
    "normalise_ip",
]
