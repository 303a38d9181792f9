"""Encryption at rest: the key ring, encrypted columns, encrypted files, key rotation.

* :mod:`.keyring`: AES-256-GCM tokens under a ring of keys (``BASTION_CRYPTO_KEYS``,
  newest first), with one opaque error for every failure; the TOTP secrets use it.
* :mod:`.columns`: ``EncryptedText`` / ``EncryptedBytes`` SQLAlchemy columns, each value
  bound to its table, column and row; :mod:`.primary_keys` settles that row's key
  before it is written.
* :mod:`.streams`: files encrypted in authenticated chunks, streamed in constant memory.
* :mod:`.rotation` and :mod:`.cli`: ``flask bastion rotate-keys``, resumable batches
  that move every sealed value under the newest key.

See docs/crypto.md.
"""

from __future__ import annotations

from ..exceptions import DecryptionFailed, UnreadableValue
from .columns import (
    KEYRING_INFO,
    Ciphertext,
    EncryptedBytes,
    EncryptedText,
    PlaintextRefused,
    PrimaryKeyUnknown,
    column_context,
    encrypted_columns,
)
from .keyring import (
    HKDF_INFO,
    Encryption,
    KeyRing,
    derive_key,
    key_id,
    keyring_for,
    new_key,
    token_key_id,
)
from .rotation import (
    Batch,
    ColumnRotation,
    FolderRotation,
    Rotation,
    column_rotations,
    register_rotation,
    rotations_for,
)
from .streams import (
    CHUNK_SIZE,
    DecryptingReader,
    decrypt_stream,
    encrypt_stream,
    open_decrypted,
    rotate_file,
    stream_key_id,
)

__all__ = [
    "CHUNK_SIZE",
    "HKDF_INFO",
    "KEYRING_INFO",
    "Batch",
    "Ciphertext",
    "ColumnRotation",
    "DecryptingReader",
    "DecryptionFailed",
    "EncryptedBytes",
    "EncryptedText",
    "Encryption",
    "FolderRotation",
    "KeyRing",
    "PlaintextRefused",
    "PrimaryKeyUnknown",
    "Rotation",
    "UnreadableValue",
    "column_context",
    "column_rotations",
    "decrypt_stream",
    "derive_key",
    "encrypt_stream",
    "encrypted_columns",
    "key_id",
    "keyring_for",
    "new_key",
    "open_decrypted",
    "register_rotation",
    "rotate_file",
    "rotations_for",
    "stream_key_id",
    "token_key_id",
]
