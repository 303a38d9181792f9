"""The keys of the limits that count an account or a bearer token rather than a client
address: the ``email`` an authentication form posts, the user waiting for a second
factor, the token of a bearer request.

Each is keyed by an HMAC under a key derived from ``SECRET_KEY`` (:func:`key_secret`), so
the rate-limit store holds no address and no token, and each kind is hashed apart from
the others: a posted "email" ``user:7`` never spends user 7's budget.
"""

from __future__ import annotations

import hashlib
import hmac
import typing as t

from flask import Flask, request

from ..accounts.throttle.verdicts import normalise_identifier
from ..sessions import peek_session_value

#: Purpose label of the key, derived from ``SECRET_KEY``, that hashes account names.
KEY_LABEL = b"flask-bastion rate-limit keys v1"
#: The steps of a sign-in waiting for its second factor.
SECOND_FACTOR_ENDPOINTS = frozenset(
    "bastion_accounts." + name
    for name in ("login_verify", "login_passkey_options", "login_passkey_verify")
)
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
#: The session key of a sign-in waiting for its second factor.
_MFA_PENDING_KEY = "_bastion_mfa_pending"


def key_secret(app: Flask) -> bytes:
    """The HMAC key of ``app``'s account and token keys, derived from its ``SECRET_KEY``."""
    key = app.secret_key or b""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, KEY_LABEL, hashlib.sha256).digest()


def account_key(secret: bytes) -> str | None:
    """The account an authentication post is about: its ``email`` field (form or JSON
    body), normalised as the lockout normalises it (NFKC, case-folded) so spelling
    variants share one budget, or the user waiting for a second factor. On the
    second-factor endpoints that user comes first: a posted field must not give each
    code guess a fresh budget. Keyed by HMAC, so the store holds no address, with the
    two kinds apart: a posted "email" ``user:7`` must not spend user 7's budget."""
    pending = peek_session_value(_MFA_PENDING_KEY) if "HTTP_COOKIE" in request.environ else None
    user = pending.get("user") if isinstance(pending, dict) else None
    email = None
    if user is None or request.endpoint not in SECOND_FACTOR_ENDPOINTS:
        email = posted_email()
    if email is not None:
        text = b"email\0" + normalise_identifier(email).encode("utf-8", "surrogatepass")
    elif user is not None:
        text = b"user\0" + str(user).encode("utf-8", "surrogatepass")
    else:
        return None
    return "a:" + hmac.new(secret, text, hashlib.sha256).hexdigest()[:32]


def bearer_key(secret: bytes) -> str | None:
    """A bearer request's key for the signed-in-user limits (``page_budget``'s
    ``per_user``, ``limit(key="user")``): the token's HMAC. The token is checked only
    at the authentication stage, after the limits, so it is counted as itself, never
    as the user it names: a script that spreads one token over many addresses meets
    the token's budget, while a forged token spends a budget of its own (and is
    refused at authentication), never a real user's."""
    header = request.environ.get("HTTP_AUTHORIZATION") or ""
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        return None
    text = b"token\0" + token.encode("utf-8", "surrogatepass")
    return "t:" + hmac.new(secret, text, hashlib.sha256).hexdigest()[:32]


def posted_email() -> str | None:
    """The ``email`` field of the current request's form or JSON body, an IDNA domain
    spelled in Unicode; ``None`` when there is none or it is blank."""
    value: t.Any = None
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get("email") if isinstance(body, dict) else None
    elif request.mimetype in _FORM_TYPES:
        value = request.form.get("email")
    if not isinstance(value, str) or not value.strip():
        return None
    local, at, domain = value.rpartition("@")
    if "xn--" in domain.lower():  # the same account as its Unicode spelling
        try:
            return local + at + domain.strip().lower().encode("ascii").decode("idna")
        except UnicodeError:
            pass
    return value
