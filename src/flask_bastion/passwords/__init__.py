"""Passwords: argon2id hashing (:mod:`.hashing`) and the NIST SP 800-63B-4 policy for new
passwords (:mod:`.policy`), with its offline blocklist (:mod:`.blocklist`) and the
optional breached-password lookup (:mod:`.breached`).

Defends against offline cracking of a stolen password table, and against passwords an
attacker guesses first: short, common, repetitive, made of the user's own names, or
leaked from another site. See docs/passwords.md.
"""

from __future__ import annotations

from .breached import BreachedCheckFailed, BreachedPasswords
from .hashing import (
    DEFAULT_PROFILE,
    MAX_PASSWORD_LENGTH,
    PROFILES,
    MissingDependency,
    PasswordError,
    PasswordMismatch,
    PasswordRefused,
    Passwords,
    Profile,
    calibrate,
    passwords_for,
)
from .policy import (
    BREACHED,
    BREACHED_UNAVAILABLE,
    COMMON,
    CONTEXT,
    REPETITIVE,
    TOO_LONG,
    TOO_SHORT,
    Feedback,
    PasswordPolicy,
    PasswordRejected,
    Problem,
    password_policy,
)

__all__ = [
    "BREACHED",
    "BREACHED_UNAVAILABLE",
    "COMMON",
    "CONTEXT",
    "DEFAULT_PROFILE",
    "MAX_PASSWORD_LENGTH",
    "PROFILES",
    "REPETITIVE",
    "TOO_LONG",
    "TOO_SHORT",
    "BreachedCheckFailed",
    "BreachedPasswords",
    "Feedback",
    "MissingDependency",
    "PasswordError",
    "PasswordMismatch",
    "PasswordPolicy",
    "PasswordRefused",
    "PasswordRejected",
    "Passwords",
    "Problem",
    "Profile",
    "calibrate",
    "password_policy",
    "passwords_for",
]
