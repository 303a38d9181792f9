"""Recovery codes: single-use codes that stand in for the second factor when the
authenticator is lost.

Defends against:

* **A stolen database.** Codes are stored only as salted SHA-256 digests. A fast hash is
  enough here, unlike for passwords: a code is 80 random bits from :mod:`secrets`, not
  something a person chose, so there is no dictionary to try, and searching 2**80
  candidates per code (each code has its own salt, so no work is shared between codes
  or accounts) is out of reach. A slow hash such as argon2 would add nothing against
  that search, and would make every attempt cost up to ten slow hashes (one per unused
  code) on the server.
* **Guessing.** 80 bits per code, ten codes: a guess succeeds with probability
  10 / 2**80. Attempts still go through the sign-in throttle.
* **Reuse.** A code works once: the database marks it used with an atomic
  ``UPDATE ... WHERE used_at IS NULL`` (:mod:`flask_bastion.mfa.core`).
* **Timing.** :func:`consume` compares the candidate with every stored digest using
  :func:`hmac.compare_digest`, whichever matches.

Codes are shown as ``xxxx-xxxx-xxxx-xxxx`` in lower-case base32 (no ``0``, ``1``, ``8``
or ``9``, so nothing to confuse with ``o``, ``l``, ``b`` or ``g``); what the user types
is compared without case, spaces or hyphens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

__all__ = ["CODE_COUNT", "consume", "generate_codes", "hash_code", "normalise"]

#: Codes in a set.
CODE_COUNT = 10
#: Characters of a code (16 base32 characters: 80 bits) and of each group shown.
CODE_LENGTH = 16
GROUP = 4
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_CODE_RE = re.compile(rf"[{_ALPHABET}]{{{CODE_LENGTH}}}")
#: Prefix of a stored digest: the scheme, so that another one can follow.
SCHEME = "s256"
SALT_BYTES = 16


def generate_codes(n: int = CODE_COUNT) -> list[str]:
    """``n`` new codes, each 80 random bits as ``xxxx-xxxx-xxxx-xxxx``."""
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
        codes.append("-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP)))
    return codes


def normalise(code: object) -> str | None:
    """``code`` as stored: lower case, without spaces or hyphens; ``None`` when it is not
    a code at all."""
    if not isinstance(code, str):
        return None
    bare = code.replace("-", "").replace(" ", "").lower()
    return bare if _CODE_RE.fullmatch(bare) else None


def _digest(salt: bytes, code: str) -> str:
    return hashlib.sha256(salt + code.encode("ascii")).hexdigest()


def hash_code(code: str) -> str:
    """What is stored for ``code``: ``s256$<salt hex>$<sha256 hex>``, with a new random
    salt.

    :raises ValueError: when ``code`` is not a recovery code.
    """
    bare = normalise(code)
    if bare is None:
        raise ValueError("not a recovery code")
    salt = secrets.token_bytes(SALT_BYTES)
    return f"{SCHEME}${salt.hex()}${_digest(salt, bare)}"


def consume(code: object, stored_hashes: Sequence[str]) -> int | None:
    """The index in ``stored_hashes`` of the digest ``code`` matches, or ``None``.

    Every digest is computed and compared, so the time does not depend on which one
    matched. This only finds the code: marking it used, once, is the caller's job
    (:func:`flask_bastion.mfa.use_recovery_code` does both).
    """
    bare = normalise(code)
    found: int | None = None
    for index, stored in enumerate(stored_hashes):
        scheme, _, rest = stored.partition("$")
        salt_hex, _, digest = rest.partition("$")
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            salt = b""
        candidate = _digest(salt, bare or "")
        # Compared even when the code is malformed or the row is, to keep the time flat.
        matched = hmac.compare_digest(candidate, digest) and scheme == SCHEME
        if matched and bare is not None and salt and found is None:
            found = index
    return found
