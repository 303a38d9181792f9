"""Configuration of accounts: password hashing and policy, the account pages."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ...passwords import DEFAULT_PROFILE, PROFILES
from ...passwords.breached import check_range_url
from ...passwords.hashing import MAX_PASSWORD_LENGTH
from ...passwords.policy import (
    DEFAULT_MIN_LENGTH,
    DEFAULT_MIN_LENGTH_SECOND_FACTOR,
    FAIL_CLOSED,
    FAIL_OPEN,
    LEAST_MAX_LENGTH,
)
from ..parsers import (
    Invalid,
    boolean,
    choice,
    int_range,
    optional_str,
    seconds,
    setting,
    string_tuple,
    subset,
    url_prefix,
)


def secret(value: object) -> str | bytes | None:
    """A secret as a string or bytes, or None; the message never echoes it."""
    if value is None or isinstance(value, str | bytes):
        return value or None
    raise Invalid("expected a string, bytes or None")


def range_api_url(value: object) -> str | None:
    """``None``, or the URL of a Pwned Passwords ``range`` API: ``https://``, or
    ``http://`` to a loopback host."""
    if value is None or value == "":
        return None
    try:
        return check_range_url(t.cast(str, value))
    except ValueError as exc:
        raise Invalid(str(exc)) from None


@dataclass(frozen=True)
class PasswordsConfig:
    """Password hashing and the policy for new passwords (``passwords/``)."""

    profile: str = setting(
        DEFAULT_PROFILE,
        choice(*PROFILES),
        "argon2id cost profile: 'owasp' (19 MiB, t=2), 'moderate' (64 MiB, t=3) or "
        "'sensitive' (256 MiB, t=4). Hashes made under another profile are replaced on the "
        "next login. `flask bastion calibrate-hash` times each on this machine.",
    )
    pepper: str | bytes | None = setting(
        None,
        secret,
        "A secret mixed into every password hash with HMAC-SHA256, kept out of the "
        "database. Changing or losing it invalidates every password hash made with it. "
        "Never printed: `flask bastion config` shows it as [redacted].",
    )
    min_length: int = setting(
        DEFAULT_MIN_LENGTH,
        int_range(1, LEAST_MAX_LENGTH),
        "The fewest characters (code points after NFKC) of a new password, for an account "
        "whose password is its only factor. NIST SP 800-63B-4 asks for 15.",
        danger=f"below {DEFAULT_MIN_LENGTH}",
    )
    min_length_second_factor: int = setting(
        DEFAULT_MIN_LENGTH_SECOND_FACTOR,
        int_range(1, LEAST_MAX_LENGTH),
        "The fewest characters of a new password when the account has a second factor "
        "(never more than min_length). NIST SP 800-63B-4 asks for 8.",
        danger=f"below {DEFAULT_MIN_LENGTH_SECOND_FACTOR}",
    )
    max_length: int = setting(
        MAX_PASSWORD_LENGTH,
        int_range(LEAST_MAX_LENGTH, MAX_PASSWORD_LENGTH),
        "The most characters of a new password. NIST SP 800-63B-4 asks that at least 64 be "
        "accepted; the hasher refuses more than 1024.",
    )
    site_name: str | None = setting(
        None,
        optional_str,
        "The site's name, which no new password may contain (with the user's address and "
        "name); default the application's name.",
    )
    blocklist: bool = setting(
        True,
        boolean,
        "Refuse the 100,000 most common passwords shipped with Flask-Bastion, and passwords "
        "that are one short block repeated or one run such as '123456789012345'.",
        danger="False",
    )
    breached_url: str | None = setting(
        None,
        range_api_url,
        "A Pwned Passwords range API ('https://api.pwnedpasswords.com/range') asked, with "
        "k-anonymity, whether a new password is in a breach corpus. None: not asked.",
    )
    breached_fail: str = setting(
        FAIL_OPEN,
        choice(FAIL_OPEN, FAIL_CLOSED),
        "When the range API cannot be asked: 'open' accepts the password (and logs a "
        "warning), 'closed' refuses it with 'try again shortly'.",
    )
    breached_timeout: float = setting(
        2.0,
        seconds(30),
        "Seconds to wait for the range API to connect and for each read.",
    )


#: The parts of the accounts blueprint an application can switch off, each a set of views.
ACCOUNT_FEATURES = ("register", "reset", "email", "sessions", "tokens", "delete")


@dataclass(frozen=True)
class AccountsConfig:
    """Accounts: sign-in, registration, recovery and the account pages (``accounts/``)."""

    url_prefix: str = setting(
        "", url_prefix, "Path prefix of the accounts views (`''` gives `/login`, `/register`...)."
    )
    database_url: str | None = setting(
        None,
        optional_str,
        "Database of the accounts tables when the application passes no session factory; "
        "default `DATABASE_URL`, else SQLite in the instance folder.",
    )
    features: tuple[str, ...] = setting(
        ACCOUNT_FEATURES,
        subset(*ACCOUNT_FEATURES),
        "The optional parts of the blueprint: 'register' (sign-up and email verification), "
        "'reset' (forgot password), 'email' (change of address), 'sessions' (your devices), "
        "'tokens' (personal API tokens), 'delete' (account deletion). Sign-in, sign-out, the "
        "overview and the password change are always there.",
    )
    require_verified_email: bool = setting(
        True,
        boolean,
        "Refuse sign-in until the address is confirmed (the answer is the same as for a "
        "wrong password, so it reveals nothing).",
        danger="False",
    )
    fresh_max_age: int = setting(
        600,
        int_range(30, 86_400),
        "Seconds a sign-in counts as fresh for `fresh_login_required` views (password, "
        "email, tokens, deletion) before the password is asked for again.",
    )
    verify_token_ttl: int = setting(
        86_400, int_range(300, 7 * 86_400), "Seconds an email verification link is valid."
    )
    reset_token_ttl: int = setting(
        3_600, int_range(300, 86_400), "Seconds a password reset link is valid."
    )
    email_token_ttl: int = setting(
        86_400, int_range(300, 7 * 86_400), "Seconds a change-of-address link is valid."
    )
    api_token_max_days: int = setting(
        365,
        int_range(1, 3_650),
        "Longest lifetime, in days, a personal API token may be created with; every token expires.",
    )
    mfa_required_roles: tuple[str, ...] = setting(
        ("admin",),
        string_tuple,
        "Roles whose members must have a second factor: after the password, a member "
        "without one is held on the enrolment page (`/account/mfa/totp`) until it is set up.",
        danger="() (no role must use a second factor)",
    )
    webauthn_rp_id: str | None = setting(
        None,
        optional_str,
        "The WebAuthn relying party ID of passkeys: the site's domain (such as 'example.org'), "
        "which browsers bind every passkey to. Default: the host of `SERVER_NAME`, else the "
        "request's host when `TRUSTED_HOSTS` checked it. Changing it later orphans every "
        "passkey already registered.",
    )
    webauthn_rp_name: str | None = setting(
        None,
        optional_str,
        "The site's name that the browser shows when a passkey is made; default "
        "`BASTION_PASSWORDS_SITE_NAME`, else the application's name.",
    )
