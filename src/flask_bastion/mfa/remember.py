""" "Remember this browser": a browser that skips the second step of sign-in for
:data:`REMEMBER_DAYS` days, for its user only.

Defends against:

* **A stolen database.** The table holds the SHA-256 of the random token, never the
  token: a row copied out of a backup does not make a cookie.
* **A forged or altered cookie.** The cookie is signed with the application's secret
  key, and names the user it was made for; a valid token of another user skips nothing.
* **A password that was changed because it leaked.** Each row keeps the account's stamp
  of the moment (a keyed digest of the password hash and the address); after a password
  change the stamp differs and no remembered browser skips the code any more. Turning
  the second factor off deletes them all.
* **Scripts and other sites.** The cookie is ``__Host-`` prefixed (Secure, the site's
  own host, path ``/``), ``HttpOnly`` and ``SameSite=Lax``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Response, current_app, request
from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select

from ..accounts.core import accounts_state
from ..accounts.models import UserLike
from ..accounts.tokens import account_stamp
from .models import RememberedBrowser

__all__ = ["COOKIE_NAME", "REMEMBER_DAYS", "browser_remembered", "remember_browser"]

#: The cookie of a remembered browser.
COOKIE_NAME = "__Host-bastion_mfa_browser"
#: Days a browser is remembered.
REMEMBER_DAYS = 30
_SALT = "flask-bastion.mfa.remember"


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=_SALT, digest_method=hashlib.sha256)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def remember_browser(user: UserLike, response: Response) -> None:
    """Remember the current browser for ``user``: a row, and its cookie on ``response``
    (the caller commits). Expired rows of ``user`` are deleted on the way."""
    state = accounts_state()
    db = state.db()
    now = state.clock()
    user_id = user.get_id()
    token = secrets.token_urlsafe(32)
    lifetime = REMEMBER_DAYS * 86_400
    db.execute(
        delete(RememberedBrowser).where(
            RememberedBrowser.user_id == user_id, RememberedBrowser.expires_at <= now
        )
    )
    db.add(
        RememberedBrowser(
            user_id=user_id,
            token_hash=_digest(token),
            stamp=account_stamp(user),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    value = _signer().sign(f"{user_id}:{token}").decode("ascii")
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=lifetime,
        path="/",
        secure=True,
        httponly=True,
        samesite="Lax",
    )


def browser_remembered(user: UserLike) -> bool:
    """Whether the current request's browser is remembered for ``user``: its cookie is
    signed, names ``user``, and matches a row that has not expired and was made under
    the account's current password."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return False
    try:
        user_id, _, token = _signer().unsign(cookie).decode("ascii").partition(":")
    except (BadSignature, UnicodeDecodeError):
        return False
    if user_id != user.get_id() or not token:
        return False
    state = accounts_state()
    row = (
        state.db()
        .scalars(
            select(RememberedBrowser).where(
                RememberedBrowser.token_hash == _digest(token),
                RememberedBrowser.user_id == user_id,
            )
        )
        .first()
    )
    if row is None or row.expires_at <= state.clock():
        return False
    return hmac.compare_digest(row.stamp, account_stamp(user))
