"""Enrolling an authenticator app without writing anything before it is proven: the new
secret waits in the user's server-side session, sealed by the key ring, and the
credential is stored only when a code from the app confirms it.

Defends against:

* **Writes on a GET.** The enrolment page shows a secret on every visit; with the secret
  kept in the session, a GET (a prefetch, a crawler, a reload) changes no row.
* **A secret read out of the session store.** It is sealed by the key ring for its user
  (:func:`~flask_bastion.mfa.core.totp_context`): the store's copy signs nobody in, and
  a sealed secret moved into another user's session does not open there.
* **Races.** Of two confirmations at once, the unique credential per user lets one
  through; the other is the same :class:`~.totp.InvalidCode` as a wrong code.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..accounts.core import accounts_state
from ..accounts.models import UserLike
from .core import (
    _claimed,
    _credential,
    _forget,
    _replace_recovery_codes,
    _ring,
    _send,
    totp_context,
)
from .models import TotpCredential
from .totp import InvalidCode, verify

__all__ = ["confirm_totp_secret", "open_totp_secret", "seal_totp_secret"]


def seal_totp_secret(user: UserLike, secret: str) -> str:
    """``secret`` encrypted by the key ring for ``user`` (context ``totp:<user id>``), as
    stored: to keep a pending enrolment in the session rather than the database."""
    return _ring().encrypt(secret.encode("ascii"), context=totp_context(user.get_id()))


def open_totp_secret(user: UserLike, sealed: str) -> str:
    """The secret :func:`seal_totp_secret` sealed for ``user``.

    :raises flask_bastion.crypto.DecryptionFailed: when it was sealed for another user,
        altered, or under a key no longer in the ring.
    """
    return _ring().decrypt(sealed, context=totp_context(user.get_id())).decode("ascii")


def confirm_totp_secret(user: UserLike, secret: str, code: object) -> list[str]:
    """Turn the second factor on with ``secret``, shown to ``user`` and never stored
    until now, once a ``code`` from the app proves it was scanned: the credential is
    stored confirmed and a new set of recovery codes replaces any old one. Unlike
    :func:`enrol_totp` and :func:`confirm_totp`, nothing is written before the code is
    right, so the page showing the secret can be a plain GET.

    :returns: the recovery codes, in clear for this response only.
    :raises InvalidCode: when the code is wrong, or the account has a confirmed app
        (also one confirmed by a concurrent request).
    """
    state = accounts_state()
    db = state.db()
    user_id = user.get_id()
    try:
        found = _credential(db, user_id)
        if found is not None and found.confirmed_at is not None:
            raise InvalidCode()
        now = state.clock()
        step = verify(secret, code, last_step=None, now=now)
        sealed = seal_totp_secret(user, secret)
        if found is None:
            db.add(
                TotpCredential(
                    user_id=user_id,
                    secret_encrypted=sealed,
                    confirmed_at=now,
                    last_step=step,
                    created_at=now,
                )
            )
            db.flush()
        else:  # a pending row of enrol_totp(): replaced, unless confirmed meanwhile
            claimed = db.execute(
                update(TotpCredential)
                .where(TotpCredential.id == found.id, TotpCredential.confirmed_at.is_(None))
                .values(secret_encrypted=sealed, confirmed_at=now, last_step=step)
            )
            if not _claimed(claimed):
                raise InvalidCode()
    except (InvalidCode, IntegrityError):  # IntegrityError: inserted by a concurrent request
        db.rollback()
        _send(signals.mfa_failed, user, method="totp")
        raise InvalidCode() from None
    codes = _replace_recovery_codes(db, user_id)
    db.commit()
    _forget(user)
    _send(signals.mfa_enabled, user, method="totp")
    _send(signals.recovery_codes_generated, user, count=len(codes))
    return codes
