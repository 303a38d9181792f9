"""The passkey views: the list of an account's passkeys (rename, delete, add one), and
signing in with a passkey, alone or after the password.

The ceremonies are JSON endpoints called by the small script of the pages
(``bastion/accounts/_passkey_script.html``, inline with the CSP nonce): the browser's
``navigator.credentials`` API has no form equivalent.

Defends against:

* **A stolen session adding its own passkey.** The list and the registration need a
  fresh sign-in (``fresh_login_required``); the blueprint refuses bearer tokens.
* **A half-signed-in session finished with someone else's passkey.** After the
  password, only the pending user's passkeys are offered and accepted.
* **Phishing, replay, a device in the wrong hand.** See :mod:`flask_bastion.mfa.passkeys`:
  the RP ID and origin are checked, challenges are single use and expire, user
  verification is required.
"""

from __future__ import annotations

import json
import logging
import typing as t

from flask import Blueprint, Response, flash, request, session, url_for
from flask.typing import ResponseReturnValue

from .. import signals
from .core import (
    MFA_ENROL_KEY,
    MFA_PENDING_KEY,
    accounts_state,
    current_user,
    load_user,
    login_user,
    mfa_enrolment_due,
)
from .events import emit
from .forms import Form, answer, done, problem
from .nexturl import safe_next
from .required import fresh_login_required
from .services import notify_second_factor, throttle_for

TEMPLATE = "bastion/accounts/passkeys.html"
REFUSED = "The passkey was not accepted. Try again, or use another way to sign in."
#: The largest ID a route takes (the column is a 32-bit ``INTEGER`` on PostgreSQL): a
#: larger number is a 404, never a number the database refuses with an error.
MAX_ID = 2**31 - 1
THROTTLED = "Too many failed sign-ins from your network. Try again later."


def register(bp: Blueprint) -> None:
    """Add the passkey views to ``bp``."""
    bp.add_url_rule("/account/passkeys", "passkeys", overview)
    bp.add_url_rule(
        f"/account/passkeys/<int(max={MAX_ID}):passkey_id>/rename",
        "passkey_rename",
        rename,
        methods=["POST"],
    )
    bp.add_url_rule(
        f"/account/passkeys/<int(max={MAX_ID}):passkey_id>/delete",
        "passkey_delete",
        delete,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/account/passkeys/register/options",
        "passkey_register_options",
        register_options,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/account/passkeys/register/verify",
        "passkey_register_verify",
        register_verify,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/login/passkey/options", "login_passkey_options", login_options, methods=["POST"]
    )
    bp.add_url_rule("/login/passkey/verify", "login_passkey_verify", login_verify, methods=["POST"])


def _json(data: t.Mapping[str, t.Any], status: int = 200) -> Response:
    response = Response(json.dumps(dict(data)), status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(status: int = 400, title: str = REFUSED) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    return Response(json.dumps(body), status, mimetype="application/problem+json")


def _body() -> dict[str, t.Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _user() -> t.Any:
    return current_user._get_current_object()


def _listed(row: t.Any) -> dict[str, t.Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


@fresh_login_required
def overview() -> ResponseReturnValue:
    """The account's passkeys, with a button to add one."""
    from ..mfa.passkeys import passkeys_of

    rows = passkeys_of(_user())
    return answer(
        TEMPLATE, data={"passkeys": [_listed(row) for row in rows]}, passkeys=rows, errors={}
    )


@fresh_login_required
def rename(passkey_id: int) -> ResponseReturnValue:
    """Rename one of the account's passkeys (field ``name``)."""
    from ..mfa.passkeys import MAX_NAME, passkeys_of, rename_passkey

    form = Form()
    name = form.text("name", limit=MAX_NAME)
    if not form.ok:
        rows = passkeys_of(_user())
        return problem(TEMPLATE, 422, "Enter a name.", errors=form.errors, passkeys=rows)
    if not rename_passkey(_user(), passkey_id, name):
        return problem("bastion/accounts/message.html", 404, "There is no such passkey.")
    flash("The passkey is renamed.", "success")
    return done("bastion_accounts.passkeys", {"renamed": True})


@fresh_login_required
def delete(passkey_id: int) -> ResponseReturnValue:
    """Delete one of the account's passkeys; it signs nobody in from now on."""
    from ..mfa.passkeys import delete_passkey

    user = _user()
    if not delete_passkey(user, passkey_id):
        return problem("bastion/accounts/message.html", 404, "There is no such passkey.")
    notify_second_factor(user, "passkey_deleted")
    if mfa_enrolment_due(user):
        # The last second factor of a role that needs one: held on the enrolment page
        # at once, as after turning the authenticator app off.
        session[MFA_ENROL_KEY] = True
        flash("Your role needs a second factor: set up an authenticator app.", "info")
        return done("bastion_accounts.mfa_totp", {"deleted": True})
    flash("The passkey is deleted.", "success")
    return done("bastion_accounts.passkeys", {"deleted": True})


@fresh_login_required
def register_options() -> ResponseReturnValue:
    """The options of ``navigator.credentials.create()`` for a new passkey."""
    from ..mfa.passkeys import registration_options

    return _json(registration_options(_user()))


@fresh_login_required
def register_verify() -> ResponseReturnValue:
    """Store the new passkey from the browser's answer (``credential``, and ``name``)."""
    from ..mfa.passkeys import DEFAULT_NAME, MAX_NAME, InvalidPasskey, register_passkey

    body = _body()
    name = body.get("name")
    name = name.strip()[:MAX_NAME] if isinstance(name, str) else ""
    user = _user()
    try:
        row = register_passkey(user, body.get("credential"), name or DEFAULT_NAME)
    except InvalidPasskey:
        return _refused()
    notify_second_factor(user, "passkey_added")
    session.pop(MFA_ENROL_KEY, None)
    flash("The passkey is added.", "success")
    return _json({"passkey": _listed(row), "redirect": url_for("bastion_accounts.passkeys")})


def _pending_user() -> t.Any | None:
    """The user of a half-signed-in session still in time, or ``None``."""
    pending = session.get(MFA_PENDING_KEY)
    if not isinstance(pending, dict) or accounts_state().clock() > pending["until"]:
        return None
    return load_user(pending["user"])


def login_options() -> ResponseReturnValue:
    """The options of ``navigator.credentials.get()``: any passkey of the site, or,
    after the password, only the pending user's."""
    from ..mfa.passkeys import authentication_options

    if session.get(MFA_PENDING_KEY) is not None:
        user = _pending_user()
        if user is None:
            return _refused(401, "The sign-in took too long. Enter your password again.")
        return _json(authentication_options(user))
    return _json(authentication_options())


def login_verify() -> ResponseReturnValue:
    """Sign in with the browser's answer (``credential``): the passkey alone, or as the
    second step after the password. Answers the user and where to go (``redirect``).

    Throttled like the password sign-in, by the client's address (the answer names no
    account before it is checked): every refused answer counts in the address's limit
    of failed sign-ins, and past it the answer is a 429 with ``Retry-After``."""
    from ..mfa.passkeys import InvalidPasskey, authenticate_passkey
    from .views import _home, _ip

    pending = session.get(MFA_PENDING_KEY)
    body = _body()
    throttle = throttle_for()
    ip = _ip()
    verdict = throttle.check_address(ip)
    if not verdict.allowed:
        emit(
            signals.login_failed,
            "accounts.login_failed",
            level=logging.WARNING,
            reason=verdict.reason,
            method="passkey",
            ip=ip,
        )
        response = _refused(429, THROTTLED)
        response.headers["Retry-After"] = str(max(verdict.retry_after, 1))
        return response
    state = accounts_state()
    try:
        user = authenticate_passkey(body.get("credential"))
        if not user.is_active or (
            state.settings.require_verified_email and not user.email_verified
        ):
            raise InvalidPasskey()
    except InvalidPasskey:
        throttle.failed_address(ip)
        return _refused(401)
    # A whole sign-in: the wrong passwords and codes before it stop counting.
    throttle.succeeded(user.email_key, ip)
    login_user(user, method="passkey")
    state.db().commit()
    if user.must_change_password:
        flash("Choose a new password to continue.", "info")
        target = url_for("bastion_accounts.password")
    else:
        after = pending.get("next") if isinstance(pending, dict) else body.get("next")
        target = safe_next(after) or _home()
    return _json({"user": {"id": user.get_id(), "email": user.email}, "redirect": target})
