"""The tables of the second factor: a TOTP credential per user, their recovery codes,
remembered browsers and passkeys.

They live beside the accounts tables (on
:class:`~flask_bastion.accounts.models.AccountsBase`, created on first use with them) and
are keyed by the user's ID as text, like the tokens, so they work with any user model.
Nothing in them signs anyone in on its own: the TOTP secret is encrypted with the key
ring, bound to its user (:mod:`flask_bastion.crypto`), recovery codes are salted
digests, and a passkey row holds only a public key.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..accounts.models import AccountsBase

__all__ = ["Passkey", "RecoveryCode", "RememberedBrowser", "TotpCredential"]


class TotpCredential(AccountsBase):
    """A user's authenticator app: pending until a first code confirms it.

    ``last_step`` is the RFC 6238 time step of the last accepted code; a code of that
    step or an earlier one is refused, so an observed code cannot be replayed.
    """

    __tablename__ = "bastion_totp_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: The base32 secret, encrypted by the key ring with the context ``totp:<user_id>``.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    #: When a first code confirmed the enrolment; ``None`` while pending.
    confirmed_at: Mapped[float | None] = mapped_column(Float, default=None)
    last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[float] = mapped_column(Float)


class RecoveryCode(AccountsBase):
    """One single-use recovery code, stored as ``s256$<salt>$<digest>``."""

    __tablename__ = "bastion_recovery_codes"
    __table_args__ = (Index("ix_bastion_recovery_codes_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(128))
    used_at: Mapped[float | None] = mapped_column(Float, default=None)


class RememberedBrowser(AccountsBase):
    """A browser whose user chose "remember this browser" at the second step of sign-in:
    until ``expires_at`` its password alone signs the user in.

    Stored as the SHA-256 of the random token its cookie holds, with the account's stamp
    of the moment (:func:`~flask_bastion.accounts.tokens.account_stamp`, a digest of the
    password hash and the address): changing the password voids every remembered browser.
    """

    __tablename__ = "bastion_remembered_browsers"
    __table_args__ = (Index("ix_bastion_remembered_browsers_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the token, hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Passkey(AccountsBase):
    """A WebAuthn credential (a passkey) of a user: the public key its authenticator
    made, never anything secret. The credential ID is stored as base64url text."""

    __tablename__ = "bastion_passkeys"
    __table_args__ = (Index("ix_bastion_passkeys_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    #: The credential ID, base64url without padding (at most 1,023 bytes, per WebAuthn).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    #: The COSE public key, as the authenticator gave it.
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: The authenticator's signature counter; 0 for authenticators that keep none.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: Space-separated transports the browser reported (``internal hybrid usb``...).
    transports: Mapped[str] = mapped_column(String(255), default="")
