"""The tables of accounts: the user-model mixin, a ready user model, one-time tokens,
personal API tokens, and the roles of :mod:`flask_bastion.authz`.

An application with its own user model mixes :class:`UserMixin` into it::

    class User(UserMixin, Base):        # the application's declarative base
        __tablename__ = "users"
        display_name: Mapped[str] = mapped_column(String(80), default="")

and one without uses :class:`User`. Tokens and roles are kept in Flask-Bastion's own tables
(``bastion_account_tokens``, ``bastion_api_tokens``, ``bastion_roles``,
``bastion_role_permissions``, ``bastion_user_roles``), keyed by the user's ID as text so
they work with any user model. A token is stored only as its SHA-256: the database, its
backups and its logs hold nothing that signs anyone in. Times are POSIX seconds (floats),
so tests drive them with an injected clock.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, exists, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session

__all__ = [
    "AccountToken",
    "AccountsBase",
    "ApiToken",
    "Role",
    "RolePermission",
    "User",
    "UserMixin",
    "UserRole",
]


#: Where :attr:`UserMixin.has_second_factor` keeps its answer on the instance.
SECOND_FACTOR_ATTR = "_bastion_second_factor"


class AccountsBase(DeclarativeBase):
    """Declarative base of Flask-Bastion's own account tables."""


class UserMixin:
    """The columns and properties accounts need on a user model (Flask-Login's
    ``is_authenticated``, ``is_active``, ``is_anonymous``, ``get_id``).

    ``email`` is stored as given but compared through ``email_key``, its case-folded form,
    which is unique: ``Alice@Example.com`` and ``alice@example.com`` are one account.

    On SQLite the table is made with ``AUTOINCREMENT``: without it SQLite gives a new row
    the highest ID plus one, so the ID of the newest account, once deleted, goes to the
    next one, along with whatever still names that ID (a signed link bound to the user, a
    row of the application's keyed by it). A model that sets its own ``__table_args__``
    should keep ``{"sqlite_autoincrement": True}`` in them.
    """

    __table_args__: t.Any = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    #: The case-folded address: unique, and what sign-in looks up.
    email_key: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    #: ``None`` for an account that has no password (it cannot sign in with one).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    email_verified_at: Mapped[float | None] = mapped_column(Float, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    password_changed_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: Set on an account made with a one-time password (the demo's admin): the first
    #: sign-in leads to the password change, and nothing else is served until it is done.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[float | None] = mapped_column(Float, default=None)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def has_second_factor(self) -> bool:
        """Whether the account has a confirmed second factor, an authenticator app or a
        passkey (then 8 characters are enough for its password, per NIST SP 800-63B-4, and
        sign-in after the password asks for a code or the passkey). At most two queries,
        then kept on the instance, which lives as long as the request's database session;
        enrolling or turning the factor off forgets it."""
        cached: bool | None = self.__dict__.get(SECOND_FACTOR_ATTR)
        if cached is None:
            cached = self.__dict__[SECOND_FACTOR_ATTR] = _has_second_factor(self)
        return cached

    def get_id(self) -> str:
        return str(self.id)


#: Gives the request's database session, for an instance no longer attached to one; set
#: by :mod:`.core` when it is imported (it imports this module, never the reverse).
DATABASE: list[t.Callable[[], t.Any]] = []


def _has_second_factor(user: UserMixin) -> bool:
    """Whether ``user`` has a confirmed authenticator app or a passkey, read through the
    tables the second-factor models declare on :class:`AccountsBase` (looked up by name,
    so this module imports none of them: they import it)."""
    db = object_session(user) or (DATABASE[0]() if DATABASE else None)
    if db is None:
        return False
    tables = AccountsBase.metadata.tables
    user_id = user.get_id()
    apps = tables.get("bastion_totp_credentials")
    if apps is not None and db.scalar(
        select(exists().where(apps.c.user_id == user_id, apps.c.confirmed_at.is_not(None)))
    ):
        return True
    passkeys = tables.get("bastion_passkeys")
    return passkeys is not None and bool(
        db.scalar(select(exists().where(passkeys.c.user_id == user_id)))
    )


class User(UserMixin, AccountsBase):
    """A ready user model, for applications without their own (table ``bastion_users``)."""

    __tablename__ = "bastion_users"


#: Purposes of :class:`AccountToken`.
VERIFY = "verify"
RESET = "reset"
EMAIL = "email"
UNLOCK = "unlock"


class AccountToken(AccountsBase):
    """A single-use token sent by email: address verification, password reset, change of
    address, unlock.

    ``stamp`` binds the token to the account as it was when the token was made (a digest of
    its password hash and address): changing either voids every token issued before.
    """

    __tablename__ = "bastion_account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the token, hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    used_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: What the token carries: the new address of an email change.
    payload: Mapped[str | None] = mapped_column(Text, default=None)


class ApiToken(AccountsBase):
    """A personal API token: ``bst_`` and 43 URL-safe characters (32 random bytes), shown
    once. Stored as its SHA-256 with a visible prefix, so a user can tell tokens apart
    and an administrator can recognise a leaked one without the table holding it."""

    __tablename__ = "bastion_api_tokens"
    __table_args__ = (Index("ix_bastion_api_tokens_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(80))
    #: The first characters of the token (``bst_`` and 8 more), shown in lists.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Space-separated scope names.
    scopes: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, default=None)
    revoked_at: Mapped[float | None] = mapped_column(Float, default=None)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class Role(AccountsBase):
    """A role (:mod:`flask_bastion.authz`): a name and a description."""

    __tablename__ = "bastion_roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class RolePermission(AccountsBase):
    """One permission of a role."""

    __tablename__ = "bastion_role_permissions"

    role: Mapped[str] = mapped_column(
        String(64), ForeignKey("bastion_roles.name", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(64), primary_key=True)


class UserRole(AccountsBase):
    """A role held by a user, keyed by the user's ID as text (any user model). Deleting
    the account deletes these rows: a later account given the same ID must not inherit
    them."""

    __tablename__ = "bastion_user_roles"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(
        String(64), ForeignKey("bastion_roles.name", ondelete="CASCADE"), primary_key=True
    )


#: What accounts need from a user model (``UserMixin`` provides it).
class UserLike(t.Protocol):
    id: t.Any
    email: str
    email_key: str
    password_hash: str | None
    email_verified_at: float | None
    active: bool
    created_at: float
    password_changed_at: float | None
    must_change_password: bool
    last_login_at: float | None

    @property
    def is_authenticated(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def has_second_factor(self) -> bool: ...
    def get_id(self) -> str: ...
