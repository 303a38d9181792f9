"""The two-factor pages of an account: the overview, enrolling an authenticator app,
new recovery codes, and turning the second factor off.

Defends against:

* **A stolen session swapping the factor.** Every page needs a fresh sign-in
  (``fresh_login_required``), and the blueprint refuses bearer tokens, so neither a
  copied cookie past its fresh window nor a leaked API token can enrol its own app,
  read new recovery codes or turn the factor off.
* **Recovery codes kept by a cache.** They are shown once, in the response to the POST
  that made them, with ``Cache-Control: no-store``; afterwards only their count is shown.
* **Writes on a GET.** The secret being enrolled waits in the session, sealed by the key
  ring (:mod:`flask_bastion.mfa.enrolment`); the credential is stored only once a code
  confirms it, so showing the page changes nothing in the database.
* **A role that must use a second factor without one.** Turning it off puts the account
  back on the enrolment page (``BASTION_ACCOUNTS_MFA_REQUIRED_ROLES``).
"""

from __future__ import annotations

import typing as t

from flask import Blueprint, Response, current_app, flash, request, session
from flask.typing import ResponseReturnValue

from ..context import get_state
from .core import MFA_ENROL_KEY, current_user, mfa_enrolment_due
from .forms import Form, answer, done, problem
from .required import fresh_login_required
from .services import notify_second_factor

CODES_TEMPLATE = "bastion/accounts/mfa_codes.html"
#: Session key of the secret being enrolled, sealed by the key ring.
TOTP_PENDING_KEY = "_bastion_mfa_totp_pending"


def register(bp: Blueprint) -> None:
    """Add the two-factor pages to ``bp``."""
    bp.add_url_rule("/account/mfa", "mfa", overview)
    bp.add_url_rule("/account/mfa/totp", "mfa_totp", totp, methods=["GET", "POST"])
    bp.add_url_rule("/account/mfa/recovery", "mfa_recovery", recovery, methods=["POST"])
    bp.add_url_rule("/account/mfa/disable", "mfa_disable", disable, methods=["POST"])


def _user() -> t.Any:
    return current_user._get_current_object()


def _codes_once(codes: list[str], **context: t.Any) -> Response:
    """The page (or JSON) showing ``codes``, never stored by a cache."""
    response = answer(CODES_TEMPLATE, data={"recovery_codes": codes}, codes=codes, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


@fresh_login_required
def overview() -> ResponseReturnValue:
    """Whether the second factor is on, and how many recovery codes are left."""
    from ..mfa import has_passkey, recovery_codes_left, totp_enabled

    user = _user()
    enabled = totp_enabled(user)
    left = recovery_codes_left(user) if enabled else 0
    return answer(
        "bastion/accounts/mfa.html",
        data={"totp": enabled, "recovery_codes_left": left},
        enabled=enabled,
        left=left,
        passkey=has_passkey(user),
    )


def _shown_secret(user: t.Any) -> str:
    """The secret this session's enrolment shows: the one kept (sealed) in the session
    for ``user``, or a new one put there. Nothing is written to the database."""
    from ..crypto import DecryptionFailed
    from ..mfa import new_secret, open_totp_secret, seal_totp_secret

    kept = session.get(TOTP_PENDING_KEY)
    if isinstance(kept, str):
        try:
            return open_totp_secret(user, kept)
        except DecryptionFailed:  # another user's, or under a key no longer in the ring
            pass
    secret = new_secret()
    session[TOTP_PENDING_KEY] = seal_totp_secret(user, secret)
    return secret


@fresh_login_required
def totp() -> ResponseReturnValue:
    """Enrol an authenticator app: GET shows the QR code and the secret (the same one
    again on a reload), POST confirms with a code and shows the recovery codes once.

    The pending secret is kept in the session, sealed by the key ring, not in the
    database: a GET writes no row, and a secret shown to one browser is confirmed only
    from that browser."""
    from ..mfa import InvalidCode, confirm_totp_secret, provisioning_uri, qr_svg, totp_enabled

    user = _user()
    if totp_enabled(user):
        session.pop(TOTP_PENDING_KEY, None)
        flash("An authenticator app is already set up.", "info")
        return done("bastion_accounts.mfa", {"totp": True})
    template = "bastion/accounts/mfa_totp.html"
    errors: dict[str, list[str]] = {}
    secret = _shown_secret(user)
    if request.method == "POST":
        form = Form()
        code = form.text("code", limit=16)
        if form.ok:
            try:
                codes = confirm_totp_secret(user, secret, code)
            except InvalidCode:
                form.error("code", "The code is incorrect. Enter the code the app shows now.")
            else:
                session.pop(MFA_ENROL_KEY, None)
                session.pop(TOTP_PENDING_KEY, None)
                notify_second_factor(user, "totp_on")
                return _codes_once(codes, enrolled=True)
        errors = form.errors
    issuer = get_state(current_app).config.passwords.site_name or current_app.name
    uri = provisioning_uri(secret, user.email, issuer)
    context: dict[str, t.Any] = {
        "secret": secret,
        "qr": qr_svg(uri),
        "required": bool(session.get(MFA_ENROL_KEY)),
    }
    if errors:
        return problem(template, 422, "Please correct the field below.", errors=errors, **context)
    data = {"secret": secret, "uri": uri}
    response = answer(template, data=data, errors={}, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


@fresh_login_required
def recovery() -> ResponseReturnValue:
    """A new set of recovery codes, shown once; the old ones stop working."""
    from ..mfa import regenerate_recovery_codes, totp_enabled

    user = _user()
    if not totp_enabled(user):
        return problem("bastion/accounts/message.html", 409, "Set up an authenticator first.")
    codes = regenerate_recovery_codes(user)
    notify_second_factor(user, "codes")
    return _codes_once(codes, enrolled=False)


@fresh_login_required
def disable() -> ResponseReturnValue:
    """Turn the second factor off: the app and the recovery codes are deleted."""
    from ..mfa import disable_mfa

    user = _user()
    if disable_mfa(user):
        notify_second_factor(user, "totp_off")
    if mfa_enrolment_due(user):
        session[MFA_ENROL_KEY] = True
        flash("Your role needs a second factor: set up an authenticator app.", "info")
        return done("bastion_accounts.mfa_totp", {"totp": False})
    flash("Two-factor authentication is off.", "success")
    return done("bastion_accounts.mfa", {"totp": False})
