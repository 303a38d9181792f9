"""Two-factor authentication: TOTP authenticator apps and recovery codes.

The building blocks, without views: :mod:`.totp` (secrets, codes with replay protection,
the enrolment URI and its QR code as inline SVG), :mod:`.recovery` (single-use codes,
stored as salted digests), :mod:`.models` (their tables, beside the accounts tables) and
the functions that keep them in the accounts database (:mod:`.core`), with the TOTP
secret encrypted by the key ring (:mod:`flask_bastion.crypto`). What each part defends
against is in ``docs/mfa.md``.

::

    from flask_bastion.mfa import enrol_totp, confirm_totp, verify_totp, qr_svg

    secret = enrol_totp(current_user)                      # pending until confirmed
    svg = qr_svg(provisioning_uri(secret, current_user.email, "Vault"))
    codes = confirm_totp(current_user, request.form["code"])   # on; recovery codes
    verify_totp(user, request.form["code"])                # at sign-in, once per code
"""

from __future__ import annotations

from .core import (
    AlreadyEnrolled,
    confirm_totp,
    disable_mfa,
    enrol_totp,
    pending_totp_secret,
    recovery_codes_left,
    regenerate_recovery_codes,
    rotate_totp_secrets,
    totp_context,
    totp_enabled,
    use_recovery_code,
    verify_totp,
)
from .enrolment import confirm_totp_secret, open_totp_secret, seal_totp_secret
from .models import Passkey, RecoveryCode, TotpCredential
from .passkeys import (
    InvalidPasskey,
    authenticate_passkey,
    authentication_options,
    delete_passkey,
    has_passkey,
    passkeys_of,
    register_passkey,
    registration_options,
    rename_passkey,
)
from .recovery import generate_codes
from .reset import reset_second_factors
from .totp import InvalidCode, new_secret, provisioning_uri, qr_svg, verify

__all__ = [
    "AlreadyEnrolled",
    "InvalidCode",
    "InvalidPasskey",
    "Passkey",
    "RecoveryCode",
    "TotpCredential",
    "authenticate_passkey",
    "authentication_options",
    "confirm_totp",
    "confirm_totp_secret",
    "delete_passkey",
    "disable_mfa",
    "enrol_totp",
    "generate_codes",
    "has_passkey",
    "new_secret",
    "open_totp_secret",
    "passkeys_of",
    "pending_totp_secret",
    "provisioning_uri",
    "qr_svg",
    "recovery_codes_left",
    "regenerate_recovery_codes",
    "register_passkey",
    "registration_options",
    "rename_passkey",
    "reset_second_factors",
    "rotate_totp_secrets",
    "seal_totp_secret",
    "totp_context",
    "totp_enabled",
    "use_recovery_code",
    "verify",
    "verify_totp",
]
