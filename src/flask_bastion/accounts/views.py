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
import typing as t
from dataclasses import dataclass

from flask import Response, flash, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..mail import after_response
from ..sessions import revoke_all_sessions
from .core import (
    accounts_state,
    find_user,
    normalise_email,
)
from .events import emit
from .forms import Form, answer, done, external, problem
from .models import RESET, VERIFY, AccountToken
from .services import check_new_password, mail_allowed, send, throttle_for
from .tokens import (
    consume_token,
    issue_token,
    new_link_token,
    peek_token,
    revoke_all_api_tokens,
    void_tokens,
)

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
