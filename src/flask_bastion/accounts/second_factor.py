"""The second step of sign-in: after the right password, a code from the authenticator
app (or a recovery code) before the user is signed in.

Defends against:

* **A stolen password alone.** An account with a second factor is not signed in by its
  password: the session only becomes *half signed in* (rotated, holding the user's ID and
  a deadline, never :data:`~flask_bastion.sessions.USER_KEY`), and the accounts component
  serves such a session nothing but ``/login/verify`` and sign-out.
* **Guessing six digits.** An attempt ends after :data:`MAX_TRIES` wrong codes (back to
  the password), and every wrong code counts in the sign-in throttle of the account, so
  a lock set by wrong passwords also stops codes, and the other way round.
* **A half-signed-in session left open.** It lasts :data:`PENDING_TTL` seconds on the
  accounts clock; after that the password is asked for again.
* **Replay.** A code is accepted once (:func:`~flask_bastion.mfa.verify_totp`); a
  recovery code is spent, and its owner is told by email.

A user may tick "remember this browser" with the code: for 30 days that browser's
password alone signs the user in (:mod:`flask_bastion.mfa.remember`).
"""

from __future__ import annotations

import typing as t

from flask import Response, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ..sessions import USER_KEY, rotate_session
from .core import (
    AUTH_AT_KEY,
    MFA_ENROL_KEY,
    MFA_PENDING_KEY,
    MUST_CHANGE_KEY,
    accounts_state,
    load_user,
    login_user,
)
from .forms import Form, answer, done, done_to, problem
from .required import wants_json
from .services import send, throttle_for

#: Wrong codes that end a sign-in attempt.
MAX_TRIES = 5
#: Seconds a half-signed-in session waits for its code.
PENDING_TTL = 300
#: Characters of the longest code accepted (a recovery code with spaces or hyphens).
MAX_CODE = 64

WRONG_CODE = "The code is incorrect or was already used."
EXPIRED = "The sign-in took too long. Enter your password again."
ENDED = "Too many wrong codes. Enter your password again."
TEMPLATE = "bastion/accounts/login_verify.html"
#: What the "remember this browser" checkbox (or a JSON ``remember``) sends when ticked.
REMEMBER_VALUES = ("1", "on", "true", True)


def begin(user: t.Any, next_url: str | None) -> Response:
    """Put the session half signed in as ``user`` (the password was right) and send the
    browser to the code page; a JSON client gets ``{"mfa_required": true}`` (200: the
    password was right, the sign-in is not finished)."""
    rotate_session()
    for key in (USER_KEY, AUTH_AT_KEY, MUST_CHANGE_KEY, MFA_ENROL_KEY):
        session.pop(key, None)
    session[MFA_PENDING_KEY] = {
        "user": user.get_id(),
        "until": accounts_state().clock() + PENDING_TTL,
        "tries": 0,
        "next": next_url,
    }
    target = url_for("bastion_accounts.login_verify")
    if wants_json():
        return answer("", data={"mfa_required": True, "verify_url": target})
    return t.cast(Response, redirect(target, 303))


def _back_to_login(message: str) -> Response:
    """End the attempt: the half-signed-in state goes, and the user starts again."""
    session.pop(MFA_PENDING_KEY, None)
    if wants_json():
        return problem(TEMPLATE, 401, message)
    flash(message, "error")
    return t.cast(Response, redirect(url_for("bastion_accounts.login"), 303))


def login_verify() -> ResponseReturnValue:
    """The code page of a half-signed-in session: a code from the app, or a recovery
    code (field ``recovery_code``)."""
    from ..mfa import InvalidCode, use_recovery_code, verify_totp
    from .signin import _LOCKS, LOGIN_FAILED, _send_unlock
    from .views import _home, _ip

    pending = session.get(MFA_PENDING_KEY)
    if not isinstance(pending, dict):
        return done("bastion_accounts.login", {"signed_in": False})
    state = accounts_state()
    if state.clock() > pending["until"]:
        return _back_to_login(EXPIRED)
    user = load_user(pending["user"])
    if user is None or not user.is_active:
        return _back_to_login(LOGIN_FAILED)
    if request.method == "GET":
        return answer(TEMPLATE, data={"mfa_required": True}, errors={})
    form = Form()
    recovery = bool(form.data.get("recovery_code"))
    field = "recovery_code" if recovery else "code"
    code = form.text(field, limit=MAX_CODE)
    if not form.ok:
        return problem(TEMPLATE, 422, "Enter the code.", errors=form.errors)
    throttle = throttle_for()
    ip = _ip()
    verdict = throttle.check(user.email_key, ip)
    remaining: int | None = None
    accepted = False
    if verdict.allowed:
        try:
            if recovery:
                remaining = use_recovery_code(user, code)
            else:
                verify_totp(user, code)
            accepted = True
        except InvalidCode:
            # Counted like a wrong password: the account's lock covers both factors.
            following = throttle.failed(user.email_key, ip)
            if following.reason in _LOCKS:
                _send_unlock(user)
    if not accepted:
        tries = int(pending["tries"]) + 1
        if tries >= MAX_TRIES or not verdict.allowed:
            return _back_to_login(ENDED if verdict.allowed else LOGIN_FAILED)
        session[MFA_PENDING_KEY] = {**pending, "tries": tries}
        return problem(TEMPLATE, 401, WRONG_CODE, errors={field: [WRONG_CODE]})
    throttle.succeeded(user.email_key, ip)
    login_user(user, method="recovery" if recovery else "totp")
    state.db().commit()
    if remaining is not None:
        send(user.email, "bastion/accounts/mail/recovery_code_used.txt", user=user, left=remaining)
        flash(f"You used a recovery code; {remaining} left.", "info")
    if user.must_change_password:
        flash("Choose a new password to continue.", "info")
        return done("bastion_accounts.password", {"must_change_password": True})
    data = {"user": {"id": user.get_id(), "email": user.email}}
    response = done_to(pending.get("next") or _home(), data)
    if form.data.get("remember") in REMEMBER_VALUES:
        from ..mfa.remember import remember_browser

        remember_browser(user, response)
        state.db().commit()
    return response
