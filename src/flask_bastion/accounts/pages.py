"""The account pages: overview, password, address, devices, personal API tokens and
deletion. Every change needs a fresh sign-in (``fresh_login_required``), so a stolen
session cookie alone cannot take the account over by changing its password or address.
"""

from __future__ import annotations

import functools
import logging
import typing as t

from flask import Blueprint, flash, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..config import AccountsConfig
from ..mail import after_response
from ..sessions import (
    list_sessions,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
    rotate_session,
)
from .core import (
    MUST_CHANGE_KEY,
    accounts_state,
    current_user,
    find_user,
    load_user,
    logout_user,
    normalise_email,
)
from .events import emit
from .forms import MAX_NAME, Form, answer, done, done_to, external, problem
from .models import EMAIL, UserRole
from .required import fresh_login_required, login_required
from .services import check_new_password, mail_allowed, send
from .tokens import (
    create_api_token,
    issue_token,
    list_api_tokens,
    new_link_token,
    revoke_all_api_tokens,
    revoke_api_token,
    void_tokens,
)


def register(bp: Blueprint, settings: AccountsConfig) -> None:
    """Add the account pages ``settings.features`` asks for to ``bp``."""
    bp.add_url_rule("/account", "account", overview)
    bp.add_url_rule("/account/password", "password", password, methods=["GET", "POST"])
    if "email" in settings.features:
        bp.add_url_rule("/account/email", "email", email, methods=["GET", "POST"])
        bp.add_url_rule(
            "/account/email/<token>", "email_confirm", email_confirm, methods=["GET", "POST"]
        )
    if "sessions" in settings.features:
        bp.add_url_rule("/account/sessions", "sessions", sessions, methods=["GET", "POST"])
    if "tokens" in settings.features:
        bp.add_url_rule("/account/tokens", "tokens", tokens, methods=["GET", "POST"])
    if "delete" in settings.features:
        bp.add_url_rule("/account/delete", "delete", delete, methods=["GET", "POST"])


def _user_data(user: t.Any) -> dict[str, t.Any]:
    return {
        "id": user.get_id(),
        "email": user.email,
        "email_verified": user.email_verified,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
    }


@login_required
def overview() -> ResponseReturnValue:
    """The account overview."""
    return answer(
        "bastion/accounts/account.html",
        data={"user": _user_data(current_user)},
        features=accounts_state().settings.features,
    )


def _current_password_ok(form: Form) -> bool:
    """Whether the form's ``current_password`` is the user's password (an error on the
    field otherwise)."""
    from .signin import Throttled, _check_password

    typed = form.password("current_password")
    if not typed:
        return False
    # Through the sign-in throttle, as a sign-in: otherwise whoever holds a stolen session
    # in its fresh window could guess the password here as fast as the server hashes,
    # unthrottled and unlocked, and learn it.
    result = _check_password(current_user.email_key, typed)
    if isinstance(result, Throttled):
        form.error("current_password", "Too many attempts. Try again later.")
        return False
    if isinstance(result, str) or result.get_id() != current_user.get_id():
        form.error("current_password", "The current password is incorrect.")
        return False
    return True


@fresh_login_required
def password() -> ResponseReturnValue:
    """Change the password: the current one and a new one. Every other session of the
    user is revoked, this one moves to a new ID, and the user is told by email."""
    template = "bastion/accounts/password.html"
    if request.method == "GET":
        return answer(template, errors={})
    form = Form()
    current_ok = _current_password_ok(form)
    new = form.password("new_password")
    if current_ok and new:
        check_new_password(
            form,
            "new_password",
            new,
            email=current_user.email,
            second_factor=current_user.has_second_factor,
        )
    if not form.ok:
        return problem(
            template, 422, "Please correct the fields below.", errors=form.errors, hints=form.hints
        )
    from .views import set_password

    user = current_user._get_current_object()
    set_password(user, new)
    accounts_state().db().commit()
    revoke_other_sessions(user.get_id())
    rotate_session()
    from flask import session

    session.pop(MUST_CHANGE_KEY, None)
    emit(signals.password_changed, "accounts.password_changed", user=user, reset=False)
    send(user.email, "bastion/accounts/mail/password_changed.txt", user=user)
    flash("Your password is changed. Your other devices were signed out.", "success")
    return done("bastion_accounts.account", {"password_changed": True})


@fresh_login_required
def email() -> ResponseReturnValue:
    """Change the address: a link goes to the new address, which changes only once it is
    confirmed, and the old address is told."""
    template = "bastion/accounts/email.html"
    if request.method == "GET":
        return answer(template, errors={})
    form = Form()
    new = form.email("new_email")
    if form.ok and normalise_email(new) == current_user.email_key:
        form.error("new_email", "This is already your address.")
    if not form.ok:
        return problem(template, 422, "Please correct the field below.", errors=form.errors)
    user = current_user._get_current_object()
    # Limited per address: a signed-in user must not be able to mail any address in a
    # loop through this form. Beyond the limit the answer is the same, without mail.
    may_mail_new = mail_allowed(new)
    may_mail_old = mail_allowed(user.email)
    # Whether the new address is taken is looked up after the response, with the link
    # made beforehand: neither the answer nor its time tells a signed-in user which
    # addresses have accounts.
    token = new_link_token()
    url = external("bastion_accounts.email_confirm", token=token)
    after_response(
        functools.partial(
            _email_change_later, user.get_id(), new, token, url, may_mail_new, may_mail_old
        )
    )
    return answer(
        "bastion/accounts/check_inbox.html",
        data={"status": "ok", "detail": "Confirm the new address with the link we sent."},
        kind="email",
    )


def _email_change_later(
    user_id: str, new: str, token: str, url: str, may_mail_new: bool, may_mail_old: bool
) -> None:
    """After the response: mail the confirmation link to a free new address (or tell the
    owner of a taken one), and tell the old address."""
    user = load_user(user_id)
    if user is None:
        return
    if may_mail_new:
        if find_user(new) is None:
            ttl = accounts_state().settings.email_token_ttl
            issue_token(user, EMAIL, ttl, payload=new, token=token)
            send(new, "bastion/accounts/mail/email_change.txt", user=user, url=url)
        else:  # taken: the same answer, and the owner of that address hears of it
            send(new, "bastion/accounts/mail/email_taken.txt", user=user)
    if may_mail_old:
        send(user.email, "bastion/accounts/mail/email_change_requested.txt", user=user, new=new)


def email_confirm(token: str) -> ResponseReturnValue:
    """Confirm a new address with the link sent to it (GET shows a button)."""
    from .views import BAD_LINK, UsedLink, use_link

    found = use_link(token, EMAIL, "bastion/accounts/email_confirm.html")
    if not isinstance(found, UsedLink):
        return found
    if not found.row.payload:
        return problem("bastion/accounts/message.html", 400, BAD_LINK)
    user, row = found.user, found.row
    old = user.email
    state = accounts_state()
    void_tokens(user)
    user.email = row.payload
    user.email_key = normalise_email(row.payload or "")
    user.email_verified_at = state.clock()
    try:
        state.db().commit()
    except IntegrityError:  # taken meanwhile by another account
        state.db().rollback()
        return problem("bastion/accounts/message.html", 409, "This address is taken.")
    emit(signals.email_changed, "accounts.email_changed", user=user, old=old)
    send(old, "bastion/accounts/mail/email_changed.txt", user=user, new=user.email)
    flash("Your email address is changed.", "success")
    return done("bastion_accounts.account", {"email": user.email})


@login_required
def sessions() -> ResponseReturnValue:
    """Your devices: every signed-in session, with a button to sign out one or all
    others."""
    user_id = current_user.get_id()
    if request.method == "POST":
        form = Form()
        action = form.text("action", limit=16, required=False)
        if action == "revoke":
            key = form.text("key", limit=64)
            if not revoke_session(user_id, key):
                return problem("bastion/accounts/message.html", 404, "No such device.")
            flash("The device is signed out.", "success")
        elif action == "revoke_others":
            count = revoke_other_sessions(user_id)
            flash(f"{count} other device(s) signed out.", "success")
        else:
            return problem("bastion/accounts/message.html", 400, "Unknown action.")
        return done("bastion_accounts.sessions", {"status": "ok"})
    found = list_sessions(user_id)
    data = {
        "sessions": [
            {
                "key": s.key,
                "browser": s.browser,
                "ip": s.ip,
                "created_at": s.created_at,
                "last_seen": s.last_seen,
                "current": s.current,
            }
            for s in found
        ]
    }
    return answer("bastion/accounts/sessions.html", data=data, sessions=found)


@fresh_login_required
def tokens() -> ResponseReturnValue:
    """Personal API tokens: create one (shown once), list and revoke them."""
    state = accounts_state()
    user = current_user._get_current_object()
    template = "bastion/accounts/tokens.html"
    scopes: dict[str, str] = state.scopes
    max_days = state.settings.api_token_max_days
    context: dict[str, t.Any] = {"scopes": scopes, "max_days": max_days}
    if request.method == "GET":
        return _tokens_page(user, context)
    form = Form()
    if form.text("action", limit=16, required=False) == "revoke":
        if not revoke_api_token(user, form.data.get("id")):
            return problem("bastion/accounts/message.html", 404, "No such token.")
        flash("The token is revoked.", "success")
        return done("bastion_accounts.tokens", {"status": "ok"})
    name = form.text("name", limit=MAX_NAME)
    chosen = form.data.getlist("scopes") if hasattr(form.data, "getlist") else None
    chosen = chosen if chosen is not None else form.data.get("scopes", [])
    if not isinstance(chosen, list) or not all(isinstance(s, str) for s in chosen):
        form.error("scopes", "Choose scopes from the list.")
        chosen = []
    unknown = [s for s in chosen if s not in scopes]
    if unknown or not chosen:
        form.error("scopes", "Choose at least one scope from the list.")
    days = _days(form, max_days)
    if not form.ok:
        tokens_ = list_api_tokens(user)
        return problem(
            template, 422, "Please correct the fields below.", errors=form.errors,
            tokens=tokens_, created=None, **context,
        )  # fmt: skip
    token, row = create_api_token(user, name, chosen, days)
    page = answer(
        template,
        201,
        data={"token": token, "id": row.id, "prefix": row.prefix, "expires_at": row.expires_at},
        tokens=list_api_tokens(user),
        created=token,
        errors={},
        **context,
    )
    return page


def _tokens_page(user: t.Any, context: dict[str, t.Any]) -> ResponseReturnValue:
    found = list_api_tokens(user)
    data = {
        "tokens": [
            {
                "id": row.id,
                "name": row.name,
                "prefix": row.prefix,
                "scopes": sorted(row.scope_set),
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "last_used_at": row.last_used_at,
            }
            for row in found
        ]
    }
    return answer(
        "bastion/accounts/tokens.html", data=data, tokens=found, created=None, errors={}, **context
    )


def _days(form: Form, max_days: int) -> int:
    raw = form.data.get("days", 30)
    try:
        days = int(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else -1
    except ValueError:
        days = -1
    if not 1 <= days <= max_days:
        form.error("days", f"Choose from 1 to {max_days} days.")
    return days


@fresh_login_required
def delete() -> ResponseReturnValue:
    """Delete the account, after the password: its sessions, tokens, roles and row go."""
    template = "bastion/accounts/delete.html"
    if request.method == "GET":
        return answer(template, errors={})
    form = Form()
    if not _current_password_ok(form):
        return problem(template, 422, "Please confirm with your password.", errors=form.errors)
    user = current_user._get_current_object()
    state = accounts_state()
    user_id = user.get_id()
    revoke_all_api_tokens(user)
    void_tokens(user)
    # Its roles go too: a later account given the same ID (a SQLite table made without
    # AUTOINCREMENT reuses the highest one) must not inherit them.
    state.db().execute(sql_delete(UserRole).where(UserRole.user_id == user_id))
    state.db().delete(user)
    state.db().commit()
    revoke_all_sessions(user_id)
    logout_user()
    emit(signals.account_deleted, "accounts.deleted", user=user, level=logging.WARNING)
    return done_to(url_for("bastion_accounts.login"), {"deleted": True})
