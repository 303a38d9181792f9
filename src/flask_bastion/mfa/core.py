"""The second factor of an account, stored: enrolment, confirmation, sign-in codes,
recovery codes, turning it off, and re-encrypting secrets under a new key.

Every function works in the current application, on the accounts database
(:func:`~flask_bastion.accounts.accounts_state`), with the accounts clock.

Defends against:

* **A stolen database.** The TOTP secret is stored encrypted by the key ring
  (:mod:`flask_bastion.crypto`) with the context ``totp:<user id>``: the row alone gives
  nothing, and a ciphertext copied into another user's row does not decrypt there.
  Recovery codes are salted digests (:mod:`.recovery`).
* **Replay and races.** A sign-in code is accepted by one atomic
  ``UPDATE ... SET last_step = :step WHERE last_step IS NULL OR last_step < :step``: two
  requests carrying the same code at the same moment cannot both pass, and neither can
  a code of a step already used. A recovery code is spent the same way
  (``WHERE used_at IS NULL``), as is the confirmation of an enrolment.
* **Enrolling an app the user never scanned.** A new secret stays pending, and signs
  nobody in, until a code from it confirms it; confirming also issues the recovery codes,
  so an account never has a second factor without a way back.
* **Oracles.** Every refusal is the same :class:`~.totp.InvalidCode`, whether the code
  was malformed, wrong, replayed, lost a race or the account has no second factor.
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app
from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import signals
from ..accounts.core import accounts_state
from ..accounts.events import emit
from ..accounts.models import SECOND_FACTOR_ATTR, UserLike
from ..crypto.columns import report_unreadable
from ..crypto.keyring import KeyRing, keyring_for
from ..crypto.rotation import ColumnRotation
from ..exceptions import BastionError, DecryptionFailed
from . import recovery
from .models import RecoveryCode, RememberedBrowser, TotpCredential
from .totp import InvalidCode, new_secret, verify

__all__ = [
    "AlreadyEnrolled",
    "confirm_totp",
    "disable_mfa",
    "enrol_totp",
    "pending_totp_secret",
    "recovery_codes_left",
    "regenerate_recovery_codes",
    "rotate_totp_secrets",
    "totp_enabled",
    "totp_rotation",
    "use_recovery_code",
    "verify_totp",
]


class AlreadyEnrolled(BastionError):
    """The account already has a confirmed authenticator: turn it off
    (:func:`disable_mfa`) before enrolling another."""


def totp_context(user_id: str) -> bytes:
    """The key ring context of a user's TOTP secret: ``b"totp:" + user_id``."""
    return b"totp:" + user_id.encode("utf-8")


def _ring() -> KeyRing:
    return keyring_for(current_app._get_current_object())  # type: ignore[attr-defined]


#: The security log event of each signal.
_EVENTS = {
    signals.mfa_enabled: "mfa.enabled",
    signals.mfa_disabled: "mfa.disabled",
    signals.mfa_failed: "mfa.failed",
    signals.recovery_codes_generated: "mfa.recovery_codes_generated",
    signals.recovery_code_used: "mfa.recovery_code_used",
}


def _send(signal: t.Any, user: UserLike, **extra: t.Any) -> None:
    """Send ``signal`` and log its event (:func:`~flask_bastion.accounts.events.emit`)."""
    level = logging.WARNING if signal is signals.mfa_failed else logging.INFO
    emit(signal, _EVENTS[signal], user=user, level=level, **extra)


def _forget(user: UserLike) -> None:
    """Drop the answer :attr:`~flask_bastion.accounts.UserMixin.has_second_factor` kept."""
    vars(user).pop(SECOND_FACTOR_ATTR, None)


def _credential(db: Session, user_id: str) -> TotpCredential | None:
    return db.scalars(select(TotpCredential).where(TotpCredential.user_id == user_id)).first()


def _claimed(result: t.Any) -> bool:
    return getattr(result, "rowcount", 0) == 1


def totp_enabled(user: UserLike) -> bool:
    """Whether ``user`` has a confirmed authenticator app."""
    found = _credential(accounts_state().db(), user.get_id())
    return found is not None and found.confirmed_at is not None


def enrol_totp(user: UserLike) -> str:
    """Start enrolling an authenticator app for ``user``: a new secret is stored,
    encrypted and pending, replacing a pending one. Show it to the user (as
    :func:`~.totp.qr_svg` of :func:`~.totp.provisioning_uri`, and as text) and ask for a
    code to :func:`confirm_totp`.

    :returns: the base32 secret, in clear for this response only.
    :raises AlreadyEnrolled: when ``user`` already has a confirmed app.
    """
    state = accounts_state()
    db = state.db()
    user_id = user.get_id()
    secret = new_secret()
    sealed = _ring().encrypt(secret.encode("ascii"), context=totp_context(user_id))
    now = state.clock()
    found = _credential(db, user_id)
    if found is not None and found.confirmed_at is not None:
        raise AlreadyEnrolled("an authenticator app is already set up for this account")
    replace = (
        update(TotpCredential)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None))
        .values(secret_encrypted=sealed, last_step=None, created_at=now)
    )
    if found is None:
        db.add(TotpCredential(user_id=user_id, secret_encrypted=sealed, created_at=now))
        try:
            db.commit()
            return secret
        except IntegrityError:  # another request inserted the row first: replace it
            db.rollback()
    done = _claimed(db.execute(replace))
    db.commit()
    if not done:  # confirmed by another request in the meantime
        raise AlreadyEnrolled("an authenticator app is already set up for this account")
    return secret


def pending_totp_secret(user: UserLike) -> str | None:
    """The secret of ``user``'s pending enrolment (to show the QR code again), or
    ``None`` when there is none.

    :raises flask_bastion.crypto.DecryptionFailed: when the key ring lost its key.
    """
    found = _credential(accounts_state().db(), user.get_id())
    if found is None or found.confirmed_at is not None:
        return None
    return _secret(found)


def _secret(row: TotpCredential) -> str:
    """The secret of ``row`` in clear.

    :raises ~flask_bastion.exceptions.UnreadableValue: when it does not decrypt (its
        key left the ring, or the row was edited or copied): reported like an
        unreadable encrypted column, with the signal and a security log line naming
        the row, and shown as the safe 500 page.
    """
    try:
        plain = _ring().decrypt(row.secret_encrypted, context=totp_context(row.user_id))
    except DecryptionFailed:
        table = t.cast(Table, TotpCredential.__table__)
        raise report_unreadable(table.c.secret_encrypted, [row.id]) from None
    return plain.decode("ascii")


def confirm_totp(user: UserLike, code: object) -> list[str]:
    """Confirm ``user``'s pending enrolment with a ``code`` from the app: the second
    factor is on from now, and a new set of recovery codes replaces any old one.

    :returns: the recovery codes, in clear for this response only.
    :raises InvalidCode: when there is no pending enrolment, the code is wrong, or
        another request confirmed it first.
    """
    state = accounts_state()
    db = state.db()
    found = _credential(db, user.get_id())
    if found is None or found.confirmed_at is not None:
        _send(signals.mfa_failed, user, method="totp")
        raise InvalidCode()
    try:
        step = verify(_secret(found), code, last_step=None, now=state.clock())
    except InvalidCode:
        _send(signals.mfa_failed, user, method="totp")
        raise
    claimed = db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.id == found.id,
            TotpCredential.secret_encrypted == found.secret_encrypted,
            TotpCredential.confirmed_at.is_(None),
        )
        .values(confirmed_at=state.clock(), last_step=step)
    )
    if not _claimed(claimed):  # confirmed, or enrolled anew, by another request
        db.commit()
        _send(signals.mfa_failed, user, method="totp")
        raise InvalidCode()
    codes = _replace_recovery_codes(db, user.get_id())
    db.commit()
    _forget(user)
    _send(signals.mfa_enabled, user, method="totp")
    _send(signals.recovery_codes_generated, user, count=len(codes))
    return codes


def verify_totp(user: UserLike, code: object) -> None:
    """Accept ``code`` as ``user``'s second factor at sign-in, once.

    :raises InvalidCode: when ``user`` has no confirmed app, or the code is malformed,
        wrong, of a step already used, or was used by a concurrent request.
    """
    state = accounts_state()
    db = state.db()
    found = _credential(db, user.get_id())
    try:
        if found is None or found.confirmed_at is None:
            raise InvalidCode()
        step = verify(_secret(found), code, last_step=found.last_step, now=state.clock())
        claimed = db.execute(
            update(TotpCredential)
            .where(
                TotpCredential.id == found.id,
                TotpCredential.confirmed_at.is_not(None),
                or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
            )
            .values(last_step=step)
        )
        db.commit()
        if not _claimed(claimed):
            raise InvalidCode()
    except InvalidCode:
        _send(signals.mfa_failed, user, method="totp")
        raise


def _replace_recovery_codes(db: Session, user_id: str) -> list[str]:
    codes = recovery.generate_codes()
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.add_all(RecoveryCode(user_id=user_id, code_hash=recovery.hash_code(c)) for c in codes)
    return codes


def regenerate_recovery_codes(user: UserLike) -> list[str]:
    """A new set of recovery codes for ``user``; the old ones stop working.

    :returns: the codes, in clear for this response only.
    """
    db = accounts_state().db()
    codes = _replace_recovery_codes(db, user.get_id())
    db.commit()
    _send(signals.recovery_codes_generated, user, count=len(codes))
    return codes


def recovery_codes_left(user: UserLike) -> int:
    """How many of ``user``'s recovery codes are unused."""
    db = accounts_state().db()
    count = db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.get_id(), RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


def use_recovery_code(user: UserLike, code: object) -> int:
    """Accept ``code`` as ``user``'s second factor, once: it is spent.

    :returns: how many unused codes are left (show a warning when few are).
    :raises InvalidCode: when the code is malformed, not one of ``user``'s, already
        used, or used by a concurrent request.
    """
    state = accounts_state()
    db = state.db()
    rows = db.scalars(
        select(RecoveryCode)
        .where(RecoveryCode.user_id == user.get_id(), RecoveryCode.used_at.is_(None))
        .order_by(RecoveryCode.id)
    ).all()
    index = recovery.consume(code, [row.code_hash for row in rows])
    claimed = None
    if index is not None:
        claimed = db.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == rows[index].id, RecoveryCode.used_at.is_(None))
            .values(used_at=state.clock())
        )
        db.commit()
    if claimed is None or not _claimed(claimed):
        _send(signals.mfa_failed, user, method="recovery")
        raise InvalidCode()
    remaining = len(rows) - 1
    _send(signals.recovery_code_used, user, remaining=remaining)
    return remaining


def disable_mfa(user: UserLike) -> bool:
    """Turn ``user``'s second factor off: the authenticator (pending or confirmed), every
    recovery code and every remembered browser are deleted. Ask for a fresh sign-in
    before calling it.

    :returns: whether there was a confirmed authenticator.
    """
    db = accounts_state().db()
    user_id = user.get_id()
    was_on = totp_enabled(user)
    db.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.execute(delete(RememberedBrowser).where(RememberedBrowser.user_id == user_id))
    db.commit()
    _forget(user)
    if was_on:
        _send(signals.mfa_disabled, user)
    return was_on


def totp_rotation() -> ColumnRotation:
    """The TOTP secrets as a key rotation (:mod:`flask_bastion.crypto.rotation`), on
    the accounts database; ``flask bastion rotate-keys`` runs it as ``totp``."""
    table = t.cast(Table, TotpCredential.__table__)
    return ColumnRotation(
        accounts_state().db,
        table.c.secret_encrypted,
        lambda row: totp_context(row.user_id),
        also=[table.c.user_id],
    )


def rotate_totp_secrets(*, batch_size: int = 500) -> int:
    """Re-encrypt every TOTP secret not under the key ring's newest key, in batches
    committed one by one; the number re-encrypted. Run it (in an application context)
    after putting a new key first in ``BASTION_CRYPTO_KEYS``, before removing the old
    one; ``flask bastion rotate-keys`` runs it with everything else.

    :raises flask_bastion.crypto.DecryptionFailed: when a secret is under a key no
        longer in the ring (after the others were re-encrypted).
    """
    batches = list(totp_rotation().rotate(_ring(), batch_size))
    if any(batch.unreadable for batch in batches):
        raise DecryptionFailed()
    return sum(batch.rotated for batch in batches)
