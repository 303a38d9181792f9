"""Tokens: single-use links sent by email, and personal API tokens.

Every token is 256 bits from :mod:`secrets`, URL-safe, and stored only as its SHA-256
(a database dump signs nobody in and resets nobody's password). An emailed token is
single use: it is consumed by one atomic ``UPDATE ... WHERE used_at IS NULL``, so two
requests racing with the same link cannot both succeed. It expires (verification 24 h,
reset 1 h by default), and it is bound to the account as it was when it was issued: a
change of password or address voids it, so a reset link in an old mailbox is useless once
the password was changed another way.

A personal API token is ``bst_`` and 43 characters; it is shown once, stored hashed with
its first characters visible, named, scoped, expiring and revocable, and its last use is
recorded (at most once a minute, to keep writes off the hot path).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import typing as t

from flask import current_app
from sqlalchemy import delete, select, update

from .. import signals
from .core import accounts_state
from .events import emit
from .models import AccountToken, ApiToken, UserLike

#: Prefix of personal API tokens, so secret scanners (and people) recognise one.
API_TOKEN_PREFIX = "bst_"  # noqa: S105  (a prefix, not a secret)
#: A personal API token: the prefix and 43 URL-safe characters (32 bytes).
API_TOKEN_RE = re.compile(r"bst_[A-Za-z0-9_-]{43}")
#: A token in an emailed link: 43 URL-safe characters.
LINK_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
#: Seconds after expiry when an emailed token's row is deleted.
PURGE_AFTER = 86_400
#: Seconds between two writes of a token's ``last_used_at``.
LAST_USED_GRANULARITY = 60


def token_hash(token: str) -> str:
    """SHA-256 of ``token``, hex: what the tables store and look up."""
    return hashlib.sha256(token.encode()).hexdigest()


def account_stamp(user: UserLike) -> str:
    """A digest of what voids a user's emailed tokens when it changes: the password hash
    and the address, keyed with the application's secret key."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{user.get_id()}\x00{user.password_hash or ''}\x00{user.email_key}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def restamp_tokens(user: UserLike, old_stamp: str) -> None:
    """Bind ``user``'s unused links made under ``old_stamp`` to the account as it is now
    (the caller commits): after a hash was upgraded to new parameters, which changes the
    stamp without changing the password."""
    accounts_state().db().execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.get_id(),
            AccountToken.used_at.is_(None),
            AccountToken.stamp == old_stamp,
        )
        .values(stamp=account_stamp(user))
    )


def new_link_token() -> str:
    """A new token for an emailed link: 256 bits from :mod:`secrets`, URL-safe."""
    return secrets.token_urlsafe(32)


def issue_token(
    user: UserLike,
    purpose: str,
    ttl: int,
    payload: str | None = None,
    *,
    token: str | None = None,
) -> str:
    """Store a new single-use token for ``user`` and return it (the only time it exists
    in clear). Earlier unused tokens of the same purpose are voided, so only the newest
    link works.

    :param token: the token, made beforehand with :func:`new_link_token` when its link
        had to be built inside the request and the row is stored after the response.
    """
    state = accounts_state()
    db = state.db()
    now = state.clock()
    db.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.get_id(),
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    # Expired rows go as new ones come, without a cron job (a day late: a link that just
    # expired still answers "expired", not "unknown", which is the same 400 anyway).
    db.execute(delete(AccountToken).where(AccountToken.expires_at < now - PURGE_AFTER))
    token = token or new_link_token()
    db.add(
        AccountToken(
            purpose=purpose,
            token_hash=token_hash(token),
            user_id=user.get_id(),
            stamp=account_stamp(user),
            created_at=now,
            expires_at=now + ttl,
            payload=payload,
        )
    )
    db.commit()
    return token


def consume_token(token: object, purpose: str) -> tuple[t.Any, AccountToken] | None:
    """Use ``token`` for ``purpose``: the user it was issued to and its row, or ``None``
    when it is malformed, unknown, of another purpose, used, expired, or issued before
    the account's password or address changed. A token is used at most once, even by
    two requests at the same moment."""
    if not isinstance(token, str) or not LINK_TOKEN_RE.fullmatch(token):
        return None
    state = accounts_state()
    db = state.db()
    now = state.clock()
    row = db.scalars(
        select(AccountToken).where(AccountToken.token_hash == token_hash(token))
    ).first()
    if row is None or row.purpose != purpose or row.used_at is not None or now >= row.expires_at:
        return None
    user = db.get(state.user_model, int(row.user_id))
    # A deactivated account's links die with it: deactivation is an administrator's
    # decision that no link mailed before may undo or work around.
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(row.stamp, account_stamp(user)):
        return None
    claimed = db.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=now)
    )
    db.commit()
    if getattr(claimed, "rowcount", 0) != 1:  # another request used it first
        return None
    return user, row


def peek_token(token: object, purpose: str) -> t.Any | None:
    """The user ``token`` would be consumed for, without consuming it (to show the
    reset form before the new password is posted)."""
    if not isinstance(token, str) or not LINK_TOKEN_RE.fullmatch(token):
        return None
    state = accounts_state()
    db = state.db()
    row = db.scalars(
        select(AccountToken).where(AccountToken.token_hash == token_hash(token))
    ).first()
    if row is None or row.purpose != purpose or row.used_at is not None:
        return None
    if state.clock() >= row.expires_at:
        return None
    user = db.get(state.user_model, int(row.user_id))
    # A deactivated account's links die with it: deactivation is an administrator's
    # decision that no link mailed before may undo or work around.
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(row.stamp, account_stamp(user)):
        return None
    return user


def void_tokens(user: UserLike) -> None:
    """Void every unused emailed token of ``user`` (after a password or address change;
    the stamp does it as well, this keeps the table honest)."""
    state = accounts_state()
    db = state.db()
    db.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user.get_id(), AccountToken.used_at.is_(None))
        .values(used_at=state.clock())
    )


# Personal API tokens


def create_api_token(
    user: UserLike, name: str, scopes: t.Iterable[str], days: int
) -> tuple[str, ApiToken]:
    """Create a personal API token for ``user``, valid ``days`` days; the token (shown
    once) and its row."""
    state = accounts_state()
    db = state.db()
    now = state.clock()
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.get_id(),
        name=name,
        prefix=token[:12],
        token_hash=token_hash(token),
        scopes=" ".join(sorted(set(scopes))),
        created_at=now,
        expires_at=now + days * 86_400,
    )
    db.add(row)
    db.commit()
    emit(
        signals.api_token_created,
        "accounts.token_created",
        user=user,
        prefix=row.prefix,
        name=name,
    )
    return token, row


def list_api_tokens(user: UserLike) -> list[ApiToken]:
    """``user``'s tokens that are neither revoked nor expired, newest first."""
    state = accounts_state()
    return list(
        state.db().scalars(
            select(ApiToken)
            .where(
                ApiToken.user_id == user.get_id(),
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > state.clock(),
            )
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_api_token(user: UserLike, token_id: object) -> bool:
    """Revoke ``user``'s token ``token_id``; ``False`` when it is not one of theirs."""
    state = accounts_state()
    db = state.db()
    try:
        key = int(str(token_id))
    except ValueError:
        return False
    if not 0 < key < 2**63:  # beyond any database integer: an OverflowError, a 500
        return False
    row = db.get(ApiToken, key)
    if row is None or row.user_id != user.get_id() or row.revoked_at is not None:
        return False
    row.revoked_at = state.clock()
    db.commit()
    emit(
        signals.api_token_revoked,
        "accounts.token_revoked",
        user=user,
        prefix=row.prefix,
    )
    return True


def revoke_all_api_tokens(user: UserLike) -> None:
    """Revoke every token of ``user`` (account deletion, deactivation)."""
    state = accounts_state()
    state.db().execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.get_id(), ApiToken.revoked_at.is_(None))
        .values(revoked_at=state.clock())
    )


def authenticate_token(token: str) -> tuple[t.Any, ApiToken] | None:
    """The active user and the row of a valid personal API token, or ``None``."""
    if not API_TOKEN_RE.fullmatch(token):
        return None
    state = accounts_state()
    db = state.db()
    now = state.clock()
    row = db.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    user = db.get(state.user_model, int(row.user_id))
    if user is None or not user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        row.last_used_at = now
        db.commit()
    return user, row
