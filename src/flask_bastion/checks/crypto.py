"""Key ring checks (``12x``): secrets at rest encrypted under a key derived from
``SECRET_KEY``.

Without ``BASTION_CRYPTO_KEYS`` the key ring has one key, derived from ``SECRET_KEY``:
the key that signs every cookie, which sits on every web worker and in many CI jobs,
also guards every TOTP secret, and replacing it (after a leak) without keeping the old
one in ``SECRET_KEY_FALLBACKS`` makes every stored secret unreadable.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

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
