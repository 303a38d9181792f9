"""The sign-in views: sign-in, sign-out, re-authentication and unlock links.

A locked account answers exactly like a wrong password, and an unknown address pays for a
password hash, so neither the page nor its timing tells whether an account exists.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass

from flask import flash, request, url_for
from flask.typing import ResponseReturnValue

from .. import signals
from ..passwords import PasswordMismatch, PasswordRefused
from .core import (
    accounts_state,
    confirm_login,
    current_user,
    find_user,
    login_user,
    logout_user,
    normalise_email,
)
from .events import emit
from .forms import Form, answer, done, done_to, external, problem
from .models import UNLOCK
from .nexturl import safe_next
from .required import login_required
from .services import mail_allowed, send, throttle_for
from .throttle import REASON_LOCKED, REASON_UNLOCK_REQUIRED
from .tokens import (
    account_stamp,
    issue_token,
    restamp_tokens,
)

#: Verdicts that lock an account until a time or an unlock.
from .views import UsedLink, _home, _ip, _send_verification, use_link

#: Verdicts that lock an account until a time or an unlock.
_LOCKS = (REASON_LOCKED, REASON_UNLOCK_REQUIRED)

#: The one message of every failed sign-in: wrong address, wrong password, locked.
LOGIN_FAILED = "The email address or password is incorrect, or sign-in is paused after too many attempts. Try again later, or reset your password."  # noqa: E501


def login() -> ResponseReturnValue:
    """Sign in with address and password, throttled per account, per address and per
    pair; a success rehashes a password stored under older parameters. An account with a
    second factor continues on ``/login/verify`` (:mod:`.second_factor`)."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return answer("bastion/accounts/login.html", next=next_url, errors={})
    form = Form()
    identifier = form.text("email", limit=254)
    password = form.password("password")
    if not form.ok:
        return problem(
            "bastion/accounts/login.html",
            422,
            "Enter your email address and password.",
            errors=form.errors,
            next=next_url,
            email=identifier,
        )
    result = _check_password(normalise_email(identifier), password)
    if isinstance(result, str | Throttled):
        return _refused(result, identifier, next_url)
    user = result
    state = accounts_state()
    if state.settings.require_verified_email and not user.email_verified:
        # Limited: whoever registered someone else's address (and so knows the password
        # of that unverified account) could otherwise mail it on every sign-in.
        if mail_allowed(user.email):
            _send_verification(user)
        return problem(
            "bastion/accounts/message.html",
            403,
            "Confirm your email address first: we have sent you a new link.",
        )
    if user.has_second_factor and not _remembered(user):
        from .second_factor import begin

        state.db().commit()  # a rehashed password is kept
        return begin(user, next_url)
    login_user(user)
    state.db().commit()
    if user.must_change_password:
        flash("Choose a new password to continue.", "info")
        return done("bastion_accounts.password", {"must_change_password": True})
    return done_to(next_url or _home(), {"user": {"id": user.get_id(), "email": user.email}})


def _remembered(user: t.Any) -> bool:
    from ..mfa.remember import browser_remembered

    return browser_remembered(user)


@dataclass(frozen=True)
class Throttled:
    """Sign-in refused for the client's address (a 429 after ``retry_after`` seconds)."""

    retry_after: int


def _check_password(identifier: str, password: str) -> t.Any:
    """The user that ``password`` signs in, or why it does not: :class:`Throttled` (the
    client's address, a 429) or ``"failed"`` (everything else, one answer).

    The password is verified in every case (against a dummy hash for an unknown address,
    and while the account is locked), so the time taken tells nothing either."""
    state = accounts_state()
    throttle = throttle_for()
    ip = _ip()
    verdict = throttle.check(identifier, ip)
    user = find_user(identifier)
    stored: str | None = user.password_hash if user is not None else None
    new_hash: str | None = None
    matched = False
    try:
        if stored:
            new_hash = state.passwords.verify_and_upgrade(stored, password)
            matched = True
        else:
            state.passwords.verify(state.dummy_hash(), password)
    except (PasswordMismatch, PasswordRefused):
        pass
    if verdict.allowed and not (matched and user is not None and user.is_active):
        following = throttle.failed(identifier, ip)
        # This attempt was allowed, so a lock on the next one is new: its owner gets the
        # unlock link (the throttle itself sent account_locked, without the address).
        if following.reason in _LOCKS and user is not None:
            _send_unlock(user)
        emit(
            signals.login_failed,
            "accounts.login_failed",
            user=user,
            level=logging.WARNING,
            reason="password",
            ip=ip,
        )
        return "failed"
    if not verdict.allowed:
        emit(
            signals.login_failed,
            "accounts.login_failed",
            user=user,
            level=logging.WARNING,
            reason=verdict.reason,
            ip=ip,
        )
        # Only a limit on the client's own address is said out loud: a locked or slowed
        # account answers exactly like a wrong password.
        return Throttled(verdict.retry_after) if verdict.scope == "ip" else "failed"
    if user is not None and user.has_second_factor and not _remembered(user):
        # Not a finished sign-in: the wrong codes of earlier attempts must still count.
        throttle.release(identifier, ip)
    else:
        throttle.succeeded(identifier, ip)
    if new_hash is not None and user is not None:
        # The same password under the current parameters: the links the user asked for
        # stay valid (their stamp covers the hash, so they are stamped again).
        old_stamp = account_stamp(user)
        user.password_hash = new_hash
        restamp_tokens(user, old_stamp)
    return user


def _refused(result: str | Throttled, identifier: str, next_url: str | None) -> ResponseReturnValue:
    if isinstance(result, Throttled):
        return problem(
            "bastion/accounts/login.html",
            429,
            "Too many failed sign-ins from your network. Try again later.",
            headers={"Retry-After": str(max(result.retry_after, 1))},
            next=next_url,
            email=identifier,
            errors={},
        )
    return problem(
        "bastion/accounts/login.html",
        401,
        LOGIN_FAILED,
        next=next_url,
        email=identifier,
        errors={},
    )


def _send_unlock(user: t.Any) -> None:
    token = issue_token(user, UNLOCK, accounts_state().settings.reset_token_ttl)
    send(
        user.email,
        "bastion/accounts/mail/unlock.txt",
        user=user,
        url=external("bastion_accounts.unlock", token=token),
    )


def unlock(token: str) -> ResponseReturnValue:
    """Lift a lock with the link mailed when it was set (GET shows a button)."""
    found = use_link(token, UNLOCK, "bastion/accounts/unlock.html")
    if not isinstance(found, UsedLink):
        return found
    user = found.user
    throttle_for().unlock(user.email_key, by="link")
    flash("Your account is unlocked. You can sign in now.", "success")
    return done("bastion_accounts.login", {"unlocked": True})


def logout() -> ResponseReturnValue:
    """Sign out (POST only, so a link or an image cannot do it): the session is deleted
    on the server."""
    logout_user()
    return done("bastion_accounts.login", {"signed_out": True})


@login_required
def confirm() -> ResponseReturnValue:
    """Enter the password again before a sensitive change (``fresh_login_required``)."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return answer("bastion/accounts/confirm.html", next=next_url, errors={})
    form = Form()
    password = form.password("password")
    if not form.ok:
        return problem(
            "bastion/accounts/confirm.html", 422, "Enter your password.", errors=form.errors
        )
    result = _check_password(current_user.email_key, password)
    if isinstance(result, str | Throttled) or result.get_id() != current_user.get_id():
        status = 429 if isinstance(result, Throttled) else 401
        return problem(
            "bastion/accounts/confirm.html",
            status,
            "The password is incorrect." if status == 401 else "Too many attempts.",
            next=next_url,
            errors={},
        )
    confirm_login()
    accounts_state().db().commit()
    return done_to(next_url or url_for("bastion_accounts.account"), {"confirmed": True})
