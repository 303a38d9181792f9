"""Passkeys (WebAuthn), with the ``webauthn`` library: registering one on an account,
signing in with it alone, and the list a user keeps.

Every function works in the current request, on the accounts database
(:func:`~flask_bastion.accounts.accounts_state`), with the accounts clock.

Defends against:

* **Phishing.** The browser binds a passkey to the relying party ID (the site's
  domain, ``BASTION_ACCOUNTS_WEBAUTHN_RP_ID``) and signs the origin it was used on; an
  answer is accepted only for this RP ID and the site's own origin, taken from
  ``SERVER_NAME`` or a ``Host`` that ``TRUSTED_HOSTS`` checked, never from an unchecked
  header. A look-alike site gets nothing it can replay here.
* **Replay.** Each ceremony's challenge is 64 random bytes kept in the server-side
  session, used once (it is removed before the answer is checked) and only for
  :data:`CHALLENGE_TTL` seconds on the accounts clock. A signature counter that does
  not move forward is refused, and the new count is stored by one atomic
  ``UPDATE ... WHERE sign_count = :seen``, so two requests cannot both pass with it.
* **A device in someone else's hand.** User verification (the device's PIN or
  biometric) is **required** at registration and sign-in, so a passkey is a whole
  sign-in on its own, and counts as a second factor after the password.
* **A stolen database.** A row holds a public key: nothing in it signs anyone in.
* **Oracles.** Every refusal is the same :class:`InvalidPasskey`.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import typing as t
from urllib.parse import urlsplit

from flask import current_app, request, session
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import signals
from ..accounts.core import accounts_state, load_user
from ..accounts.events import emit
from ..accounts.models import SECOND_FACTOR_ATTR, UserLike
from ..context import get_state
from ..exceptions import BastionError, ConfigurationError
from .models import Passkey

__all__ = [
    "CHALLENGE_TTL",
    "InvalidPasskey",
    "authenticate_passkey",
    "authentication_options",
    "delete_passkey",
    "has_passkey",
    "passkeys_of",
    "register_passkey",
    "registration_options",
    "rename_passkey",
]

#: Seconds a challenge waits for the browser's answer.
CHALLENGE_TTL = 300
#: Session key of the pending ceremony.
CHALLENGE_KEY = "_bastion_webauthn"
#: Characters of a passkey's name.
MAX_NAME = 80
DEFAULT_NAME = "Passkey"
#: What the browser waits for, in milliseconds: the challenge's own lifetime.
_TIMEOUT_MS = CHALLENGE_TTL * 1000
_TRANSPORTS = frozenset(item.value for item in AuthenticatorTransport)
_REGISTER = "register"
_SIGN_IN = "sign-in"
#: The exceptions a malformed answer raises inside the library's parsers.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


class InvalidPasskey(BastionError, ValueError):
    """The browser's answer is malformed, for another site, challenge or user, expired,
    not user-verified, replayed, or names no passkey of this site. One error for every
    case."""

    def __init__(self) -> None:
        super().__init__("The passkey was not accepted.")


def _hostname(host: str) -> str:
    return urlsplit("//" + host).hostname or ""


def rp_id() -> str:
    """The relying party ID: ``BASTION_ACCOUNTS_WEBAUTHN_RP_ID``, else the host of
    ``SERVER_NAME``, else the request's host when ``TRUSTED_HOSTS`` checked it.

    :raises ConfigurationError: when none of these vouches for a host.
    """
    configured = accounts_state().settings.webauthn_rp_id
    if configured:
        return configured
    server_name: str | None = current_app.config["SERVER_NAME"]
    if server_name:
        return _hostname(server_name)
    return _hostname(_trusted_host())


def _trusted_host() -> str:
    # Flask copies TRUSTED_HOSTS to request.trusted_hosts and checks request.host against
    # it before any view runs; an empty list trusts every host, so it vouches for none.
    if request.trusted_hosts:
        return request.host
    raise ConfigurationError(
        "BASTION_ACCOUNTS_WEBAUTHN_RP_ID",
        "passkeys need a host the client cannot choose: set SERVER_NAME or TRUSTED_HOSTS "
        "(or BASTION_ACCOUNTS_WEBAUTHN_RP_ID with one of them).",
    )


def expected_origin() -> str:
    """The origin the browser must report: the request's scheme with ``SERVER_NAME``, or
    with the request's host when ``TRUSTED_HOSTS`` checked it."""
    server_name: str | None = current_app.config["SERVER_NAME"]
    return f"{request.scheme}://{server_name or _trusted_host()}"


def rp_name() -> str:
    """The site's name shown by the browser: ``BASTION_ACCOUNTS_WEBAUTHN_RP_NAME``, else
    ``BASTION_PASSWORDS_SITE_NAME``, else the application's name."""
    config = get_state(current_app).config
    return config.accounts.webauthn_rp_name or config.passwords.site_name or current_app.name


def user_handle(user: UserLike) -> bytes:
    """The WebAuthn user handle of ``user``: its ID as UTF-8 (opaque, no address)."""
    return user.get_id().encode("utf-8")


def _forget(user: UserLike) -> None:
    vars(user).pop(SECOND_FACTOR_ATTR, None)


def _begin(purpose: str, challenge: bytes, user: UserLike | None) -> None:
    session[CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "until": accounts_state().clock() + CHALLENGE_TTL,
        "user": user.get_id() if user is not None else None,
    }


def _take_challenge(purpose: str) -> tuple[bytes, str | None]:
    """The pending ceremony's challenge and user, removed from the session (used once).

    :raises InvalidPasskey: when there is none for ``purpose``, or it expired.
    """
    pending = session.pop(CHALLENGE_KEY, None)
    if (
        not isinstance(pending, dict)
        or pending.get("purpose") != purpose
        or accounts_state().clock() > pending.get("until", 0)
    ):
        raise InvalidPasskey()
    return base64url_to_bytes(pending["challenge"]), pending.get("user")


def _descriptors(rows: t.Iterable[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(row.credential_id),
            transports=[AuthenticatorTransport(x) for x in row.transports.split()],
        )
        for row in rows
    ]


def _as_dict(options: t.Any) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", json.loads(options_to_json(options)))


def passkeys_of(user: UserLike) -> list[Passkey]:
    """``user``'s passkeys, oldest first."""
    db = accounts_state().db()
    query = select(Passkey).where(Passkey.user_id == user.get_id()).order_by(Passkey.id)
    return list(db.scalars(query).all())


def has_passkey(user: UserLike) -> bool:
    """Whether ``user`` has at least one passkey."""
    db = accounts_state().db()
    return bool(db.scalar(select(exists().where(Passkey.user_id == user.get_id()))))


def registration_options(user: UserLike) -> dict[str, t.Any]:
    """Start registering a passkey for ``user`` (who must be signed in, freshly): the
    ``PublicKeyCredentialCreationOptions`` for ``navigator.credentials.create()``, as
    JSON-ready data. The challenge is kept in the session for :func:`register_passkey`.

    A discoverable credential (resident key) with user verification is required; the
    user's passkeys are excluded, so one authenticator is not registered twice.
    """
    challenge = secrets.token_bytes(64)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=rp_name(),
        user_name=user.email,
        user_id=user_handle(user),
        user_display_name=user.email,
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(passkeys_of(user)),
    )
    _begin(_REGISTER, challenge, user)
    return _as_dict(options)


def _transports(credential: object) -> str:
    found = t.cast("dict[str, t.Any]", credential).get("response", {}).get("transports")
    if not isinstance(found, list):
        return ""
    return " ".join(sorted({x for x in found if isinstance(x, str) and x in _TRANSPORTS}))


def register_passkey(user: UserLike, credential: object, name: str = DEFAULT_NAME) -> Passkey:
    """Check the browser's answer to :func:`registration_options` (the JSON of the
    ``PublicKeyCredential``, as a dict) and store the passkey under ``name``.

    :raises InvalidPasskey: when the answer does not match the challenge, the site or
        the user, is not user-verified, or the passkey is already registered.
    """
    state = accounts_state()
    try:
        challenge, owner = _take_challenge(_REGISTER)
        if owner != user.get_id() or not isinstance(credential, dict):
            raise InvalidPasskey()
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            require_user_verification=True,
        )
    except (InvalidPasskey, *_MALFORMED):
        emit(signals.mfa_failed, "mfa.failed", user=user, level=logging.WARNING, method="passkey")
        raise InvalidPasskey() from None
    now = state.clock()
    row = Passkey(
        user_id=user.get_id(),
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name[:MAX_NAME] or DEFAULT_NAME,
        created_at=now,
        transports=_transports(credential),
    )
    db = state.db()
    db.add(row)
    try:
        db.commit()
    except IntegrityError:  # this credential is already registered (here or elsewhere)
        db.rollback()
        raise InvalidPasskey() from None
    _forget(user)
    emit(signals.mfa_enabled, "mfa.enabled", user=user, method="passkey")
    return row


def authentication_options(user: UserLike | None = None) -> dict[str, t.Any]:
    """Start a sign-in with a passkey: the ``PublicKeyCredentialRequestOptions`` for
    ``navigator.credentials.get()``, as JSON-ready data.

    :param user: the user whose password was right (the passkey as a second factor):
        only their passkeys are offered and accepted. Without it, the browser offers
        every passkey it holds for the site (discoverable credentials).
    """
    challenge = secrets.token_bytes(64)
    allowed = _descriptors(passkeys_of(user)) if user is not None else None
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _begin(_SIGN_IN, challenge, user)
    return _as_dict(options)


def authenticate_passkey(credential: object) -> t.Any:
    """Check the browser's answer to :func:`authentication_options`; the user whose
    passkey signed it. The caller signs that user in (``login_user(user,
    method="passkey")``) after its own checks (an active account...).

    :raises InvalidPasskey: when the answer is malformed, expired, for another
        challenge, site or user, not user-verified, names an unknown passkey, or its
        signature counter did not move forward.
    """
    state = accounts_state()
    db = state.db()
    user: t.Any = None
    try:
        challenge, expected_user = _take_challenge(_SIGN_IN)
        parsed = parse_authentication_credential_json(t.cast(t.Any, credential))
        row = db.scalars(
            select(Passkey).where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id))
        ).first()
        if row is None:
            raise InvalidPasskey()
        user = load_user(row.user_id)
        handle = parsed.response.user_handle
        if (
            user is None
            or (expected_user is not None and expected_user != row.user_id)
            or (handle is not None and not hmac.compare_digest(handle, user_handle(user)))
        ):
            raise InvalidPasskey()
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=True,
        )
        claimed = db.execute(
            update(Passkey)
            .where(Passkey.id == row.id, Passkey.sign_count == row.sign_count)
            .values(sign_count=verified.new_sign_count, last_used_at=state.clock())
        )
        db.commit()
        if getattr(claimed, "rowcount", 0) != 1:  # another request used this count
            raise InvalidPasskey()
    except (InvalidPasskey, *_MALFORMED):
        if user is not None:
            emit(
                signals.mfa_failed, "mfa.failed", user=user, level=logging.WARNING, method="passkey"
            )
        raise InvalidPasskey() from None
    return user


def rename_passkey(user: UserLike, passkey_id: int, name: str) -> bool:
    """Rename one of ``user``'s passkeys; whether it was theirs."""
    db = accounts_state().db()
    result = db.execute(
        update(Passkey)
        .where(Passkey.id == passkey_id, Passkey.user_id == user.get_id())
        .values(name=name[:MAX_NAME] or DEFAULT_NAME)
    )
    db.commit()
    return getattr(result, "rowcount", 0) == 1


def delete_passkey(user: UserLike, passkey_id: int) -> bool:
    """Delete one of ``user``'s passkeys (ask for a fresh sign-in first); whether it was
    theirs."""
    db = accounts_state().db()
    result = db.execute(
        delete(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.get_id())
    )
    db.commit()
    gone = getattr(result, "rowcount", 0) == 1
    if gone:
        _forget(user)
        emit(signals.mfa_disabled, "mfa.disabled", user=user, method="passkey")
    return gone
