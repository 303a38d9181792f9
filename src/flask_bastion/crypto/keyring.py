"""The key ring: authenticated encryption of secrets kept at rest, with key rotation.

Some secrets must be stored in a form the application can read back: a TOTP secret is
needed in clear to check every code. Stored in clear, a database dump, a backup or a
read-only SQL injection hands them over and the second factor is gone. The key ring
encrypts them with AES-256-GCM (``cryptography``), so that the database alone reveals
nothing and a changed byte is detected rather than decrypted into garbage.

Defends against:

* **Reading a stolen database.** Only ciphertext is stored; the keys live in the
  configuration (``BASTION_CRYPTO_KEYS``), not in the database.
* **Tampering and moving ciphertext between rows.** GCM authenticates the ciphertext and
  the *context* (associated data) it was sealed with, such as ``b"totp:" + user_id``: a
  ciphertext copied to another user's row, or edited, fails to decrypt.
* **Decryption oracles.** Every failure (unknown key, tampering, wrong context,
  malformed token) raises one :class:`DecryptionFailed` with one message.
* **Nonce reuse.** Each message gets a fresh 96-bit nonce from :func:`os.urandom`; it is
  never derived from a counter that could repeat across processes.
* **Keys that can never change.** Tokens name their key (``v1.<key-id>.<data>``); the
  ring decrypts with any of its keys and encrypts with the newest, and :meth:`KeyRing.rotate`
  re-encrypts an old token, so a key is retired without losing data.

Without ``BASTION_CRYPTO_KEYS``, the key is derived from ``SECRET_KEY`` with HKDF-SHA256
(and older ones from ``SECRET_KEY_FALLBACKS``, for decryption only); ``bastion.W121``
reports it. See docs/crypto.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
import typing as t
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask

from ..components import Stage
from ..config import BastionConfig
from ..config.parsers import CRYPTO_KEY_BYTES
from ..context import get_state
from ..exceptions import ConfigurationError, DecryptionFailed

__all__ = [
    "HKDF_INFO",
    "DecryptionFailed",
    "Encryption",
    "KeyRing",
    "derive_key",
    "key_id",
    "keyring_for",
    "new_key",
    "token_key_id",
]

#: The version of the token format, its first field.
VERSION = "v1"
#: HKDF's ``info`` for the key derived from ``SECRET_KEY``: it separates this key from
#: anything else derived from the same secret.
HKDF_INFO = b"flask-bastion keyring v1"
#: Bytes of a GCM nonce (96 bits, as NIST SP 800-38D recommends) and of its tag.
NONCE_BYTES = 12
TAG_BYTES = 16
#: A key ID: 8 lower-case hex digits (:func:`key_id`).
KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
_TOKEN_RE = re.compile(r"v1\.([0-9a-f]{8})\.([A-Za-z0-9_-]+)")


def key_id(key: bytes) -> str:
    """The non-secret name of ``key`` in tokens: the first 8 hex digits of its SHA-256
    (32 bits: enough to tell the keys of one ring apart, far too few to learn anything
    about the key)."""
    return hashlib.sha256(key).hexdigest()[:8]


def token_key_id(token: str) -> str:
    """The ID of the key a token names, read without any key.

    :raises DecryptionFailed: when ``token`` is not of the token's form.
    """
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise DecryptionFailed()
    return match.group(1)


def derive_key(secret: str | bytes) -> bytes:
    """The 32-byte key derived from ``secret`` (``SECRET_KEY``) with HKDF-SHA256 and
    :data:`HKDF_INFO`."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    hkdf = HKDF(algorithm=hashes.SHA256(), length=CRYPTO_KEY_BYTES, salt=None, info=HKDF_INFO)
    return hkdf.derive(material)


def new_key() -> str:
    """A new random key as base64url text (43 characters, no padding), as
    ``BASTION_CRYPTO_KEYS`` takes it."""
    return base64.urlsafe_b64encode(os.urandom(CRYPTO_KEY_BYTES)).rstrip(b"=").decode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KeyRing:
    """AES-256-GCM under a list of keys, newest first: the first encrypts, each decrypts.

    ::

        ring = KeyRing([new, old])
        token = ring.encrypt(secret, context=b"totp:42")   # 'v1.3f0a9c21.Qm9...'
        ring.decrypt(token, context=b"totp:42") == secret
        if ring.needs_rotation(token):
            token = ring.rotate(token, context=b"totp:42")

    :param keys: 32-byte keys, newest first.
    :raises ValueError: when there is no key, a key is not 32 bytes, or two keys have
        the same :func:`key_id`.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        for key in keys:
            if not isinstance(key, bytes) or len(key) != CRYPTO_KEY_BYTES:
                raise ValueError(f"every key must be {CRYPTO_KEY_BYTES} bytes")
            kid = key_id(key)
            if kid in self._keys:
                raise ValueError("two keys of the ring have the same ID (a key listed twice?)")
            self._keys[kid] = AESGCM(key)
        #: The ID of the key that encrypts: the first.
        self.current_id = key_id(keys[0])

    @property
    def key_ids(self) -> list[str]:
        """The IDs of the keys, newest first (not secret: they appear in every token)."""
        return list(self._keys)

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> str:
        """Encrypt ``plaintext`` under the newest key.

        :param context: associated data that is authenticated but not stored: the same
            bytes must be given to :meth:`decrypt`. Bind the ciphertext to where it is
            kept (``b"totp:" + user_id``) so that it cannot be moved to another row.
        :returns: ``v1.<key-id>.<base64url(nonce | ciphertext | tag)>``, ASCII.
        """
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(
            nonce, plaintext, self._aad(self.current_id, context)
        )
        return f"{VERSION}.{self.current_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: bytes = b"") -> bytes:
        """The plaintext of ``token``, checked against ``context``.

        :raises DecryptionFailed: for a malformed token, a key not in the ring, a token
            or context that differs in any byte from what was encrypted.
        """
        kid, data = self._parse(token)
        aead = self._keys.get(kid)
        if aead is None:
            raise DecryptionFailed()
        try:
            return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], self._aad(kid, context))
        except InvalidTag:
            raise DecryptionFailed() from None

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` was encrypted under a key other than the newest.

        :raises DecryptionFailed: when ``token`` is malformed.
        """
        kid, _ = self._parse(token)
        return not hmac.compare_digest(kid, self.current_id)

    def rotate(self, token: str, *, context: bytes = b"") -> str:
        """``token`` re-encrypted under the newest key (with a new nonce).

        :raises DecryptionFailed: as :meth:`decrypt`.
        """
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @staticmethod
    def _aad(kid: str, context: bytes) -> bytes:
        # The header is authenticated too: a token's version and key ID cannot be edited.
        return f"{VERSION}.{kid}.".encode("ascii") + context

    @staticmethod
    def _parse(token: object) -> tuple[str, bytes]:
        match = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise DecryptionFailed()
        kid, body = match.groups()
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionFailed() from None
        # One spelling per token: unused trailing bits must be zero, so no two strings
        # decrypt to the same message.
        if len(data) < NONCE_BYTES + TAG_BYTES or _b64encode(data) != body:
            raise DecryptionFailed()
        return kid, data


class Encryption:
    """Component: the application's :class:`KeyRing` (no request hook).

    Built from ``BASTION_CRYPTO_KEYS`` or, without it, from ``SECRET_KEY`` (and
    ``SECRET_KEY_FALLBACKS``) on first use, so that a key set after ``init_app`` still
    counts. Reach it with :func:`keyring_for`.
    """

    name = "crypto"
    # No hook: its stage only places it in the list of components.
    stage = Stage.RESPONSE

    def __init__(self, config: BastionConfig) -> None:
        self.keys = config.crypto.keys
        self._ring: KeyRing | None = None
        self._lock = threading.Lock()
        #: What ``flask bastion rotate-keys`` runs besides the built-in rotations, by
        #: name (:func:`~flask_bastion.crypto.register_rotation`).
        self.rotations: dict[str, t.Any] = {}

    def init_app(self, app: Flask) -> None:
        """Nothing to register: the ring is built on first use."""

    def keyring(self, app: Flask) -> KeyRing:
        """The key ring of ``app``, built once.

        :raises ConfigurationError: when ``BASTION_CRYPTO_KEYS`` is unset and so is
            ``SECRET_KEY``.
        """
        with self._lock:  # not on the hot path: once per encryption or decryption
            if self._ring is None:
                self._ring = KeyRing(self.keys or _derived_keys(app))
            return self._ring


def _derived_keys(app: Flask) -> list[bytes]:
    secret = app.config.get("SECRET_KEY")
    if not secret:
        raise ConfigurationError(
            "BASTION_CRYPTO_KEYS",
            "is unset and so is SECRET_KEY, from which the key would be derived. Set "
            "BASTION_CRYPTO_KEYS to the output of `flask bastion generate-key`.",
        )
    fallbacks: t.Iterable[str | bytes] = app.config.get("SECRET_KEY_FALLBACKS") or ()
    keys = [derive_key(secret)]
    keys.extend(k for k in map(derive_key, fallbacks) if k not in keys)
    return keys


def keyring_for(app: Flask) -> KeyRing:
    """The :class:`KeyRing` of ``app`` (built on first use, then cached).

    :raises ConfigurationError: when there is neither ``BASTION_CRYPTO_KEYS`` nor
        ``SECRET_KEY``.
    """
    component = t.cast(Encryption, get_state(app).components[Encryption.name])
    return component.keyring(app)
