"""The sign-in side of the accounts blueprint: registration, address verification,
sign-in, sign-out, password reset, re-authentication and unlock links.

Enumeration resistance: sign-in, registration and the forgotten-password form answer with
the same status and page whether or not the address has an account. Registration of a
taken address mails its owner instead; an unknown address still pays for a password hash,
and mail to existing accounts goes out from a background worker, so the response time
does not tell either. A locked account answers exactly like a wrong password.
"""

from __future__ import annotations

import functools
import logging
import typing as t
from dataclasses import dataclass

from flask import Response, flash, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..mail import after_response
from ..passwords import PasswordMismatch, PasswordRefused
from ..sessions import revoke_all_sessions
from .core import (
    accounts_state,
    confirm_login,
    current_user,
    find_user,
    login_required,
    login_user,
    logout_user,
    normalise_email,
)
from .events import emit
from .forms import Form, answer, done, done_to, external, problem
from .models import RESET, UNLOCK, VERIFY, AccountToken
from .nexturl import safe_next
from .services import check_new_password, mail_allowed, send, throttle_for
from .throttle import REASON_LOCKED, REASON_UNLOCK_REQUIRED
from .tokens import (
    account_stamp,
    consume_token,
    issue_token,
    new_link_token,
    peek_token,
    restamp_tokens,
    revoke_all_api_tokens,
    void_tokens,
)

#: Verdicts that lock an account until a time or an unlock.
_LOCKS = (REASON_LOCKED, REASON_UNLOCK_REQUIRED)

#: The one message of every failed sign-in: wrong address, wrong password, locked.
LOGIN_FAILED = "The email address or password is incorrect, or sign-in is paused after too many attempts. Try again later, or reset your password."  # noqa: E501
#: The page after registration and after "forgot password", whatever the address.
CHECK_INBOX = "check_inbox"
BAD_LINK = "This link is invalid, was already used, or has expired."


def _ip() -> str:
    return request.remote_addr or "unknown"


# Registration and verification


def register() -> ResponseReturnValue:
    """Sign up with an address and a password; the address is confirmed by email."""
    if request.method == "GET":
        return answer("bastion/accounts/register.html", errors={})
    form = Form()
    email = form.email()
    password = form.password("password")
    if form.ok:
        check_new_password(form, "password", password, email=email)
    if not form.ok:
        return problem(
            "bastion/accounts/register.html",
            422,
            "Please correct the fields below.",
            errors=form.errors,
            hints=form.hints,
            email=email,
        )
    state = accounts_state()
    # Looked up now, and acted on only after the response: the same query whether the
    # address is taken or not, and a database that is down is a 503 here, not a
    # registration that silently never happens.
    find_user(email)
    # Hashed and counted whatever the address (same cost): registering a taken address
    # in a loop must not flood its owner with "someone tried to register" mails.
    password_hash = state.passwords.hash(password)
    may_mail = mail_allowed(email)
    # Whether the address is taken decides what is stored and mailed, after the
    # response, so neither the answer nor its time tells.
    token = new_link_token()
    links = {
        "verify_url": external("bastion_accounts.verify", token=token),
        "login_url": external("bastion_accounts.login"),
        "reset_url": external("bastion_accounts.forgot") if _has("reset") else None,
    }
    after_response(functools.partial(_register_later, email, password_hash, token, may_mail, links))
    return _check_inbox("register")


def _register_later(
    email: str, password_hash: str, token: str, may_mail: bool, links: dict[str, t.Any]
) -> None:
    """After the response: create the account and mail its verification link, or tell
    the owner of a taken address."""
    state = accounts_state()
    existing = find_user(email)
    if existing is not None:
        if may_mail:
            send(
                existing.email,
                "bastion/accounts/mail/exists.txt",
                user=existing,
                login_url=links["login_url"],
                reset_url=links["reset_url"],
            )
        return
    now = state.clock()
    user = state.user_model(
        email=email,
        email_key=normalise_email(email),
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now,
        active=True,
        must_change_password=False,
    )
    db = state.db()
    db.add(user)
    try:
        db.commit()
    except IntegrityError:  # registered meanwhile by another process: nothing to do
        db.rollback()
        return
    emit(signals.user_registered, "accounts.registered", user=user)
    # Always: a new account's first link can be caused once only, and a flood of
    # "forgot" on the address beforehand must not keep its owner from it.
    _send_verification(user, token=token, url=links["verify_url"])


def _send_verification(user: t.Any, *, token: str | None = None, url: str | None = None) -> None:
    ttl = accounts_state().settings.verify_token_ttl
    token = issue_token(user, VERIFY, ttl, token=token)
    send(
        user.email,
        "bastion/accounts/mail/verify.txt",
        user=user,
        hours=ttl // 3600,
        url=url or external("bastion_accounts.verify", token=token),
    )


@dataclass(frozen=True)
class UsedLink:
    """An emailed link that was just used: its user and its row."""

    user: t.Any
    row: AccountToken


def use_link(token: str, purpose: str, template: str) -> Response | UsedLink:
    """The page of an emailed link: on GET, ``template`` with a button (a mail scanner
    that opens the link does not use it up); on POST, the user and the token's row, the
    token used. A bad, used or expired link is a 400 either way."""
    if request.method == "GET":
        if peek_token(token, purpose) is None:
            return problem("bastion/accounts/message.html", 400, BAD_LINK)
        return answer(template, token=token)
    found = consume_token(token, purpose)
    if found is None:
        return problem("bastion/accounts/message.html", 400, BAD_LINK)
    return UsedLink(*found)


def verify(token: str) -> ResponseReturnValue:
    """Confirm an address. GET shows a button, POST confirms: a mail scanner that
    follows the link does not use it up."""
    found = use_link(token, VERIFY, "bastion/accounts/verify.html")
    if not isinstance(found, UsedLink):
        return found
    user = found.user
    state = accounts_state()
    user.email_verified_at = state.clock()
    state.db().commit()
    emit(signals.email_verified, "accounts.email_verified", user=user)
    flash("Your email address is confirmed. You can sign in now.", "success")
    return done("bastion_accounts.login", {"verified": True})


# Sign-in, sign-out, re-authentication


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


# Forgotten password


def forgot() -> ResponseReturnValue:
    """Ask for a reset link. The answer is the same whether the address has an account."""
    if request.method == "GET":
        return answer("bastion/accounts/forgot.html", errors={})
    form = Form()
    email = form.email()
    if not form.ok:
        return problem(
            "bastion/accounts/forgot.html",
            422,
            "Please correct the field below.",
            errors=form.errors,
            email=email,
        )
    # Counted for every address, known or not (same cost); beyond the limit no new link
    # is made, so a loop neither floods the mailbox nor voids the link just sent.
    may_mail = mail_allowed(email)
    find_user(email)  # the same query for every address; a dead database is a 503 here
    # Whether the address has an account is acted on after the response, with the link
    # made beforehand, so neither the answer nor its time tells.
    token = new_link_token()
    url = external("bastion_accounts.reset", token=token)
    after_response(functools.partial(_forgot_later, email, token, url, may_mail))
    return _check_inbox("forgot")


def _forgot_later(email: str, token: str, url: str, may_mail: bool) -> None:
    """After the response: store the reset link and mail it, if the account exists."""
    user = find_user(email)
    if user is not None and user.is_active and may_mail:
        issue_token(user, RESET, accounts_state().settings.reset_token_ttl, token=token)
        send(user.email, "bastion/accounts/mail/reset.txt", user=user, url=url)
    emit(signals.password_reset_requested, "accounts.reset_requested", user=user)


def reset(token: str) -> ResponseReturnValue:
    """Choose a new password with a reset link. Every session of the user is revoked
    and the user is not signed in: whoever reset it signs in with the new password."""
    user = peek_token(token, RESET)
    if user is None:
        return problem("bastion/accounts/message.html", 400, BAD_LINK)
    if request.method == "GET":
        return answer("bastion/accounts/reset.html", token=token, email=user.email, errors={})
    form = Form()
    password = form.password("password")
    if form.ok:
        check_new_password(
            form, "password", password, email=user.email, second_factor=user.has_second_factor
        )
    if not form.ok:
        return problem(
            "bastion/accounts/reset.html",
            422,
            "Please choose another password.",
            errors=form.errors,
            hints=form.hints,
            token=token,
            email=user.email,
        )
    # Before the link is used: with the counters' store down this is a 503 that leaves
    # the link and the password as they were, not a changed password behind an error.
    throttle_for().unlock(user.email_key)
    found = consume_token(token, RESET)
    if found is None:
        return problem("bastion/accounts/message.html", 400, BAD_LINK)
    user, _ = found
    set_password(user, password)
    # The link proved the mailbox: an address that can read it may also sign in again.
    if user.email_verified_at is None:
        user.email_verified_at = accounts_state().clock()
        # Until now nobody had proved the mailbox: whoever registered the address (and,
        # when verification is not required, signed in) may not be its owner. Their
        # sessions go below; their API tokens go too (account pre-hijacking).
        revoke_all_api_tokens(user)
    accounts_state().db().commit()
    revoke_all_sessions(user.get_id())
    emit(signals.password_changed, "accounts.password_changed", user=user, reset=True)
    flash("Your password is changed. Sign in with the new one.", "success")
    return done("bastion_accounts.login", {"password_changed": True})


def set_password(user: t.Any, password: str) -> None:
    """Store a new hash of ``password`` for ``user`` and void their emailed links (the
    caller commits and revokes sessions)."""
    state = accounts_state()
    void_tokens(user)
    user.password_hash = state.passwords.hash(password)
    user.password_changed_at = state.clock()
    user.must_change_password = False


# Helpers


def _has(feature: str) -> bool:
    return feature in accounts_state().settings.features


def _home() -> str:
    return url_for("bastion_accounts.account")


def _check_inbox(kind: str) -> ResponseReturnValue:
    return answer(
        "bastion/accounts/check_inbox.html",
        data={"status": "ok", "detail": "If the address can be used, we have sent an email."},
        kind=kind,
    )
