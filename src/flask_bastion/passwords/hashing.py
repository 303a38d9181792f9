"""Password hashing: argon2id, with transparent upgrade of older hashes on login.

Defends against offline cracking of a stolen password table: each password is hashed with
argon2id (RFC 9106), a memory-hard function, under a cost profile from the OWASP Password
Storage Cheat Sheet. Hashes made by Werkzeug's ``generate_password_hash`` (``pbkdf2:``,
``scrypt:``) or by bcrypt (``$2b$``, ``$2a$``, ``$2y$``) still verify, and
:meth:`Passwords.verify_and_upgrade` returns their argon2id replacement on the next
successful login. A stored value in any other format (plaintext included) never verifies.

* Passwords are normalised with NFKC before hashing and verifying, so the composed and the
  decomposed forms of "é" are one password.
* Passwords over :data:`MAX_PASSWORD_LENGTH` characters are refused before any hashing:
  an attacker must not make the server spend the cost of a hash on megabytes of input.
* An optional pepper (a secret kept out of the database) is mixed in with HMAC-SHA256
  before argon2id. Changing it invalidates every hash made with it.

See docs/passwords.md.
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
import time
import typing as t
import unicodedata
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

from ..exceptions import BastionError, ConfigurationError

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_PASSWORD_LENGTH",
    "PROFILES",
    "PasswordError",
    "PasswordMismatch",
    "PasswordRefused",
    "Passwords",
    "Profile",
    "calibrate",
    "passwords_for",
]

#: The longest password accepted, in characters. Far above what any person types or any
#: password manager generates, and low enough that the HMAC and the normalisation of the
#: input cost nothing next to one argon2id hash.
MAX_PASSWORD_LENGTH = 1024

#: The prefixes of Werkzeug's ``generate_password_hash`` formats.
_WERKZEUG_PREFIXES = ("pbkdf2:", "scrypt:")
#: The prefixes of bcrypt hashes ($2a$ and $2y$ come from older libraries and PHP).
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_ARGON2ID_PREFIX = "$argon2id$"
#: The bytes of a password that bcrypt reads.
_BCRYPT_MAX_BYTES = 72


class PasswordError(BastionError):
    """Base of the password errors."""


class PasswordMismatch(PasswordError):
    """The password does not match the stored hash. Raised alike for a wrong password, a
    stored value in an unknown format and a damaged hash, so that the caller, and whoever
    it answers, learns nothing about why."""

    def __init__(self) -> None:
        super().__init__("The password does not match.")


class PasswordRefused(PasswordError, ValueError):
    """The password is not a string, or is longer than :data:`MAX_PASSWORD_LENGTH`; it
    was refused before any hashing."""


class MissingDependency(PasswordError, RuntimeError):
    """A stored hash needs a package that is not installed (bcrypt)."""


@dataclass(frozen=True)
class Profile:
    """The argon2id cost parameters.

    :param memory_cost: memory in KiB.
    :param time_cost: number of passes.
    :param parallelism: number of lanes.
    """

    memory_cost: int
    time_cost: int
    parallelism: int = 1


#: Named profiles. "owasp" is the first argon2id configuration of the OWASP Password
#: Storage Cheat Sheet (19 MiB, t=2, p=1): its minimum, and the default. "moderate"
#: (64 MiB, t=3) is RFC 9106's second recommended option with one lane instead of four,
#: since a web worker hashes on one core. "sensitive" (256 MiB, t=4) has four times its
#: memory and one more pass, for few, valuable accounts. Run ``flask bastion
#: calibrate-hash`` to see what each costs on your servers (docs/passwords.md).
PROFILES: dict[str, Profile] = {
    "owasp": Profile(memory_cost=19_456, time_cost=2, parallelism=1),
    "moderate": Profile(memory_cost=65_536, time_cost=3, parallelism=1),
    "sensitive": Profile(memory_cost=262_144, time_cost=4, parallelism=1),
}
DEFAULT_PROFILE = "owasp"


def _checked(password: object) -> str:
    """``password`` normalised, or :class:`PasswordRefused` before any hashing."""
    if not isinstance(password, str):
        raise PasswordRefused("The password must be a string.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRefused(
            f"The password is longer than {MAX_PASSWORD_LENGTH} characters and was refused."
        )
    normalised = unicodedata.normalize("NFKC", password)
    # NFKC can lengthen a string (one ligature becomes three letters): check again.
    if len(normalised) > MAX_PASSWORD_LENGTH * 4:
        raise PasswordRefused("The password is too long and was refused.")
    return normalised


class Passwords:
    """Hash and verify passwords with argon2id.

    :param profile: a name in :data:`PROFILES` or a :class:`Profile`.
    :param pepper: a secret mixed into every new argon2id hash with HMAC-SHA256, or
        ``None``.

    .. danger::
        Changing or losing the pepper invalidates every hash made with it: nobody can log
        in until they reset their password.
    """

    def __init__(
        self, profile: str | Profile = DEFAULT_PROFILE, *, pepper: str | bytes | None = None
    ) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ConfigurationError(
                    "BASTION_PASSWORDS_PROFILE",
                    f"unknown password profile {profile!r}; one of {list(PROFILES)}.",
                )
            profile = PROFILES[profile]
        self.profile = profile
        if isinstance(pepper, str):
            pepper = pepper.encode()
        self._pepper = pepper or None
        self._hasher = argon2.PasswordHasher(
            time_cost=profile.time_cost,
            memory_cost=profile.memory_cost,
            parallelism=profile.parallelism,
            type=argon2.Type.ID,
        )

    def __repr__(self) -> str:
        # Never the pepper.
        return f"Passwords(profile={self.profile!r}, pepper={'set' if self._pepper else None})"

    def _secret(self, normalised: str) -> bytes:
        data = normalised.encode()
        if self._pepper is None:
            return data
        return hmac.new(self._pepper, data, hashlib.sha256).hexdigest().encode()

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password``, with a new random salt.

        :raises PasswordRefused: for a non-string or over-long password.
        """
        return self._hasher.hash(self._secret(_checked(password)))

    def verify(self, stored_hash: str, password: str) -> t.Literal[True]:
        """Return ``True`` when ``password`` matches ``stored_hash``.

        :raises PasswordMismatch: when it does not, whatever the reason.
        :raises PasswordRefused: for a non-string or over-long password.
        :raises MissingDependency: for a bcrypt hash when bcrypt is not installed.
        """
        normalised = _checked(password)
        if not isinstance(stored_hash, str):
            raise PasswordMismatch()
        if stored_hash.startswith(_ARGON2ID_PREFIX):
            try:
                self._hasher.verify(stored_hash, self._secret(normalised))
            except (VerificationError, InvalidHashError):
                raise PasswordMismatch() from None
            return True
        if stored_hash.startswith(_WERKZEUG_PREFIXES):
            # Legacy hashes were made from the password as typed, without the pepper.
            try:
                matched = check_password_hash(stored_hash, password)
            except (ValueError, TypeError):
                matched = False
            if not matched:
                raise PasswordMismatch()
            return True
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            if _bcrypt_checkpw(password, stored_hash):
                return True
            raise PasswordMismatch()
        # Plaintext or an unknown format: never compared.
        raise PasswordMismatch()

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` should be replaced by a new hash: it is not argon2id,
        or its parameters are not the current profile's."""
        if not stored_hash.startswith(_ARGON2ID_PREFIX):
            return True
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def verify_and_upgrade(self, stored_hash: str, password: str) -> str | None:
        """Verify ``password``, and return a new argon2id hash to store in place of
        ``stored_hash`` when that one :meth:`needs_rehash`, else ``None``.

        :raises PasswordMismatch: when the password does not match.
        """
        self.verify(stored_hash, password)
        if self.needs_rehash(stored_hash):
            return self.hash(password)
        return None


def _bcrypt_checkpw(password: str, stored_hash: str) -> bool:
    try:
        import bcrypt  # optional: only applications migrating bcrypt hashes
    except ImportError:
        raise MissingDependency(
            "A bcrypt hash needs the bcrypt package: pip install 'flask-bastion[bcrypt]'."
        ) from None
    # bcrypt reads 72 bytes; before bcrypt 5 the library cut longer passwords there
    # silently, so that is what the stored hash was made from. bcrypt 5 raises instead.
    secret = password.encode()[:_BCRYPT_MAX_BYTES]
    try:
        return bool(bcrypt.checkpw(secret, stored_hash.encode()))
    except ValueError:  # a damaged hash
        return False


def passwords_for(app: Flask) -> Passwords:
    """A :class:`Passwords` configured from ``app``'s ``BASTION_PASSWORDS_*`` settings."""
    from ..context import get_state  # the context imports Flask machinery

    section = get_state(app).config.passwords
    return Passwords(profile=section.profile, pepper=section.pepper)


def calibrate(
    runs: int = 3, profiles: t.Mapping[str, Profile] | None = None
) -> list[tuple[str, Profile, float]]:
    """Time each profile on this machine: ``(name, profile, median milliseconds)``."""
    result = []
    for name, profile in (PROFILES if profiles is None else profiles).items():
        hasher = Passwords(profile)
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            hasher.hash("calibration password")
            timings.append((time.perf_counter() - start) * 1000)
        result.append((name, profile, statistics.median(timings)))
    return result
