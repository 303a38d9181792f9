"""Key ring checks (``12x``): secrets at rest encrypted under a key derived from
``SECRET_KEY``; stored values under an older key, or under a key no longer listed.

Without ``BASTION_CRYPTO_KEYS`` the key ring has one key, derived from ``SECRET_KEY``:
the key that signs every cookie, which sits on every web worker and in many CI jobs,
also guards every TOTP secret, and replacing it (after a leak) without keeping the old
one in ``SECRET_KEY_FALLBACKS`` makes every stored secret unreadable.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..config import BastionConfig
from ..crypto.keyring import keyring_for
from ..crypto.rotation import encrypted_column_names, rotations_for
from ..exceptions import ConfigurationError
from .registry import ERROR, WARNING, CheckMessage, message, register

W121 = message(
    WARNING,
    "BASTION_CRYPTO_KEYS is not set: secrets stored encrypted (TOTP secrets) use one key "
    "derived from SECRET_KEY.",
    "A leaked SECRET_KEY then also decrypts them, and the two cannot be rotated apart. Set "
    "BASTION_CRYPTO_KEYS to a key from `flask bastion generate-key` (docs/crypto.md "
    "explains moving the existing secrets to it).",
    "bastion.W121",
    settings=("BASTION_CRYPTO_KEYS", "SECRET_KEY"),
)


@register(deploy=True)
def check_derived_key(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # Accounts are what store encrypted secrets (second factors); an application
    # without them encrypts nothing unless it calls keyring_for() itself, which the
    # documentation tells it to pair with BASTION_CRYPTO_KEYS.
    if "bastion.accounts" not in app.extensions:
        return []
    return [W121] if config.crypto.keys is None else []


E122 = message(
    ERROR,
    "Encrypted columns are sealed under a key derived from SECRET_KEY: BASTION_CRYPTO_KEYS "
    "is not set.",
    "Set BASTION_CRYPTO_KEYS to a key from `flask bastion generate-key` before storing real "
    "data, with the derived key second until `flask bastion rotate-keys` reports 0 left "
    "(docs/crypto.md).",
    "bastion.E122",
    settings=("BASTION_CRYPTO_KEYS", "SECRET_KEY", "BASTION_PROFILE"),
)
W123 = message(
    WARNING,
    "Stored values are still sealed under an older key of BASTION_CRYPTO_KEYS: that key is "
    "still needed.",
    "Run `flask bastion rotate-keys` until it reports 0 left before removing the older key.",
    "bastion.W123",
    settings=("BASTION_CRYPTO_KEYS",),
)
E124 = message(
    ERROR,
    "Stored values are sealed under a key that is not in BASTION_CRYPTO_KEYS: they cannot be "
    "decrypted.",
    "Put the missing key back (after the newest) and run `flask bastion rotate-keys`; "
    "`rotate-keys --dry-run` lists the key IDs in use.",
    "bastion.E124",
    settings=("BASTION_CRYPTO_KEYS",),
)


@register(deploy=True)
def check_encrypted_columns_key(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if config.crypto.keys is not None or config.development:
        return []
    return [E122.about(name) for name in encrypted_column_names(app)]


@register(deploy=True)
def check_key_usage(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # Reads the stored values' key IDs (one GROUP BY per column, a header per file). A
    # database that cannot be reached, as in a CI job, is left to the other checks.
    found = []
    with app.app_context():
        try:
            ring = keyring_for(app)
        except ConfigurationError:  # no key at all: bastion.E001 reports SECRET_KEY
            return []
        for name, rotation in rotations_for(app).items():
            try:
                usage = rotation.usage()
            except (SQLAlchemyError, OSError):
                continue
            if any(kid not in ring.key_ids for kid in usage):
                found.append(E124.about(name))
            elif any(kid != ring.current_id for kid in usage):
                found.append(W123.about(name))
    return found
