"""The key ring: AES-256-GCM tokens, rotation, one opaque error, its configuration, the
generate-key command and the derived key."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest
from click.testing import CliRunner

from flask_bastion.__main__ import main as module_main
from flask_bastion.config import is_secret
from flask_bastion.crypto import (
    HKDF_INFO,
    DecryptionFailed,
    KeyRing,
    derive_key,
    key_id,
    keyring_for,
)
from flask_bastion.exceptions import ConfigurationError

from .conftest import SECRET, make_app

OLD = bytes(range(32))
NEW = bytes(range(32, 64))
CONTEXT = b"totp:42"
KEY_LINE = re.compile(r"[A-Za-z0-9_-]{43}\n")
TOKEN_RE = re.compile(r"v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+")


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([OLD])


@pytest.fixture
def token(ring: KeyRing) -> str:
    return ring.encrypt(b"JBSWY3DPEHPK3PXP", context=CONTEXT)


# -- tokens --------------------------------------------------------------------------------------


def test_round_trip(ring: KeyRing, token: str) -> None:
    """decrypt gives back what encrypt sealed, with the same context."""
    assert ring.decrypt(token, context=CONTEXT) == b"JBSWY3DPEHPK3PXP"


def test_token_names_version_and_key(ring: KeyRing, token: str) -> None:
    """A token is v1.<first 8 hex of the key's SHA-256>.<base64url>, and holds no
    plaintext."""
    assert TOKEN_RE.fullmatch(token)
    assert token.split(".")[1] == key_id(OLD) == ring.current_id
    assert "JBSWY3DP" not in token


def test_each_encryption_uses_a_new_nonce(ring: KeyRing) -> None:
    """Encrypting the same message twice gives two different tokens (random nonces)."""
    tokens = {ring.encrypt(b"same", context=CONTEXT) for _ in range(50)}
    nonces = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:12] for t in tokens}
    assert (len(tokens), len(nonces)) == (50, 50)


def test_empty_plaintext_and_context_round_trip(ring: KeyRing) -> None:
    """The empty message under the empty context decrypts."""
    assert ring.decrypt(ring.encrypt(b"")) == b""


def test_every_changed_character_fails(ring: KeyRing, token: str) -> None:
    """Changing any one character of a token (version, key ID, nonce, ciphertext, tag,
    or the last character's unused bits) raises DecryptionFailed."""
    accepted = []
    for i, char in enumerate(token):
        for other in "Aa0_-.v":
            if other != char:
                forged = token[:i] + other + token[i + 1 :]
                try:
                    ring.decrypt(forged, context=CONTEXT)
                except DecryptionFailed:
                    continue
                accepted.append(forged)
    assert accepted == []


def test_every_flipped_byte_fails(ring: KeyRing, token: str) -> None:
    """Flipping any bit of the nonce, ciphertext or tag raises DecryptionFailed."""
    head, body = token.rsplit(".", 1)
    data = base64.urlsafe_b64decode(body + "==")
    failures = 0
    for i in range(len(data)):
        changed = data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]
        forged = f"{head}.{base64.urlsafe_b64encode(changed).rstrip(b'=').decode()}"
        with pytest.raises(DecryptionFailed):
            ring.decrypt(forged, context=CONTEXT)
        failures += 1
    assert failures == len(data) == 12 + 16 + 16


def test_wrong_context_fails(ring: KeyRing, token: str) -> None:
    """A token sealed for one row does not decrypt for another (context is bound)."""
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, context=b"totp:43")


def test_missing_context_fails(ring: KeyRing, token: str) -> None:
    """A token sealed with a context does not decrypt without it."""
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token)


def test_unknown_key_fails(token: str) -> None:
    """A ring without the token's key refuses it."""
    with pytest.raises(DecryptionFailed):
        KeyRing([NEW]).decrypt(token, context=CONTEXT)


def test_key_id_of_another_key_in_the_ring_fails(token: str) -> None:
    """Renaming the key of a token to another key of the ring does not decrypt it."""
    forged = token.replace(key_id(OLD), key_id(NEW))
    with pytest.raises(DecryptionFailed):
        KeyRing([NEW, OLD]).decrypt(forged, context=CONTEXT)


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "v1",
        "v1..",
        "v2.00000000.AAAA",
        "v1.0000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.0000000G.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "V1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.00000000.AAAA",
        "v1.00000000.A",
        "v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/",
        "v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        " v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
        None,
        b"v1.00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=[
        "empty",
        "version-only",
        "empty-fields",
        "other-version",
        "short-key-id",
        "non-hex-key-id",
        "upper-case-version",
        "too-short-for-nonce-and-tag",
        "impossible-base64-length",
        "padding",
        "standard-base64-alphabet",
        "trailing-newline",
        "leading-space",
        "four-fields",
        "none",
        "bytes",
    ],
)
def test_malformed_token_fails(ring: KeyRing, forged: object) -> None:
    """Anything that is not a well-formed v1 token raises DecryptionFailed."""
    with pytest.raises(DecryptionFailed):
        ring.decrypt(forged, context=CONTEXT)  # type: ignore[arg-type]


def test_error_is_the_same_for_every_cause(token: str) -> None:
    """Unknown key, tampering, wrong context and malformed input give one message."""
    ring = KeyRing([OLD])
    causes = [
        lambda: KeyRing([NEW]).decrypt(token, context=CONTEXT),
        lambda: ring.decrypt(token[:-2] + ("AA" if token[-2:] != "AA" else "BA"), context=CONTEXT),
        lambda: ring.decrypt(token, context=b"other"),
        lambda: ring.decrypt("garbage"),
    ]
    messages = set()
    for cause in causes:
        with pytest.raises(DecryptionFailed) as caught:
            cause()
        error = caught.value  # and no chained cryptography error to tell causes apart
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
        messages.add(str(caught.value))
    assert messages == {"The token could not be decrypted."}


# -- rotation ------------------------------------------------------------------------------------


def test_old_key_still_decrypts_after_a_new_one_is_added(token: str) -> None:
    """With a new key first, tokens under the old one still decrypt."""
    assert KeyRing([NEW, OLD]).decrypt(token, context=CONTEXT) == b"JBSWY3DPEHPK3PXP"


def test_newest_key_encrypts() -> None:
    """The first key of the ring encrypts."""
    fresh = KeyRing([NEW, OLD]).encrypt(b"x")
    assert fresh.split(".")[1] == key_id(NEW)
    with pytest.raises(DecryptionFailed):
        KeyRing([OLD]).decrypt(fresh)


def test_needs_rotation_for_an_old_key_only(token: str) -> None:
    """needs_rotation is true for a token under an older key, false under the newest."""
    ring = KeyRing([NEW, OLD])
    assert (ring.needs_rotation(token), ring.needs_rotation(ring.encrypt(b"x"))) == (True, False)


def test_rotate_re_encrypts_under_the_newest_key(token: str) -> None:
    """rotate gives a token under the newest key with the same plaintext, which the
    new key alone decrypts."""
    rotated = KeyRing([NEW, OLD]).rotate(token, context=CONTEXT)
    assert not KeyRing([NEW, OLD]).needs_rotation(rotated)
    assert KeyRing([NEW]).decrypt(rotated, context=CONTEXT) == b"JBSWY3DPEHPK3PXP"


def test_rotate_checks_the_context(token: str) -> None:
    """rotate refuses a token under the wrong context, like decrypt."""
    with pytest.raises(DecryptionFailed):
        KeyRing([NEW, OLD]).rotate(token, context=b"totp:43")


def test_needs_rotation_refuses_a_malformed_token() -> None:
    """needs_rotation raises DecryptionFailed for a malformed token."""
    with pytest.raises(DecryptionFailed):
        KeyRing([OLD]).needs_rotation("v1.nothex00.AAAA")


@pytest.mark.parametrize(
    "keys",
    [[], [b"short"], [OLD + b"x"], [OLD, OLD], ["a" * 32]],
    ids=["none", "short", "long", "twice", "text"],
)
def test_ring_refuses_bad_keys(keys: list[bytes]) -> None:
    """A ring needs at least one key, each exactly 32 bytes, none twice."""
    with pytest.raises(ValueError):
        KeyRing(keys)


def test_key_ids_are_listed_newest_first() -> None:
    """key_ids lists the IDs in the ring's order."""
    assert KeyRing([NEW, OLD]).key_ids == [key_id(NEW), key_id(OLD)]


# -- the application's ring ----------------------------------------------------------------------


def test_configured_keys_make_the_ring() -> None:
    """BASTION_CRYPTO_KEYS (newest first) is the application's ring."""
    app = make_app(BASTION_CRYPTO_KEYS=[b64(NEW), b64(OLD)])
    assert keyring_for(app).key_ids == [key_id(NEW), key_id(OLD)]


def test_keys_from_one_comma_separated_string() -> None:
    """From the environment, the keys come as one comma-separated string, padding
    optional."""
    app = make_app(BASTION_CRYPTO_KEYS=f"{b64(NEW).rstrip('=')}, {b64(OLD)}")
    assert keyring_for(app).key_ids == [key_id(NEW), key_id(OLD)]


def test_ring_is_built_once_per_application() -> None:
    """keyring_for returns the same ring for one app, another for a second app."""
    first, second = make_app(), make_app(BASTION_CRYPTO_KEYS=[b64(NEW)])
    assert keyring_for(first) is keyring_for(first)
    assert keyring_for(first).current_id != keyring_for(second).current_id


def test_unset_keys_derive_one_from_secret_key() -> None:
    """Without BASTION_CRYPTO_KEYS the one key is HKDF-SHA256(SECRET_KEY) with the
    documented info string."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    expected = HKDF(hashes.SHA256(), 32, salt=None, info=b"flask-bastion keyring v1").derive(
        SECRET.encode()
    )
    assert HKDF_INFO == b"flask-bastion keyring v1"
    assert keyring_for(make_app()).key_ids == [key_id(expected)]


def test_secret_key_fallbacks_decrypt_but_do_not_encrypt() -> None:
    """After SECRET_KEY is replaced and the old one kept in SECRET_KEY_FALLBACKS, tokens
    made under the old one still decrypt; new ones use the new key."""
    before = keyring_for(make_app(SECRET_KEY="old-" + SECRET)).encrypt(b"s", context=CONTEXT)
    app = make_app(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=["old-" + SECRET, SECRET])
    ring = keyring_for(app)
    assert ring.decrypt(before, context=CONTEXT) == b"s"
    assert ring.current_id == key_id(derive_key(SECRET))
    assert len(ring.key_ids) == 2


def test_bytes_secret_key_derives_the_same_key() -> None:
    """A bytes SECRET_KEY derives the key of its UTF-8 text."""
    assert derive_key(SECRET.encode()) == derive_key(SECRET)


def test_no_keys_and_no_secret_key_is_a_configuration_error() -> None:
    """Without BASTION_CRYPTO_KEYS and SECRET_KEY, keyring_for raises
    ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError, match="BASTION_CRYPTO_KEYS"):
        keyring_for(make_app(SECRET_KEY=None))


@pytest.mark.parametrize(
    "value",
    [
        [],
        "",
        "not base64!",
        [b64(OLD)[:-4]],
        [b64(OLD + b"x")],
        [b64(OLD), b64(OLD)],
        [OLD],
        42,
        b64(OLD) + "A",
    ],
    ids=[
        "empty-list",
        "empty-string",
        "not-base64",
        "short",
        "long",
        "twice",
        "raw-bytes",
        "number",
        "bad-length",
    ],
)
def test_bad_keys_are_refused_without_echoing_them(value: object) -> None:
    """An invalid BASTION_CRYPTO_KEYS raises ConfigurationError whose message shows no
    key material."""
    with pytest.raises(ConfigurationError, match="BASTION_CRYPTO_KEYS") as caught:
        make_app(BASTION_CRYPTO_KEYS=value)
    assert b64(OLD)[:12] not in str(caught.value)
    assert "not base64" not in str(caught.value)


def test_keys_are_a_secret_setting() -> None:
    """BASTION_CRYPTO_KEYS is secret; the Redis key-prefix settings are not."""
    assert (is_secret("BASTION_CRYPTO_KEYS"), is_secret("BASTION_SESSIONS_KEY_PREFIX")) == (
        True,
        False,
    )


def test_config_command_redacts_the_keys() -> None:
    """flask bastion config shows [redacted] for the keys, and no key anywhere."""
    app = make_app(BASTION_CRYPTO_KEYS=[b64(NEW), b64(OLD)])
    result = app.test_cli_runner().invoke(args=["bastion", "config", "--json"])
    rows = {row["key"]: row["value"] for row in json.loads(result.output)}
    assert rows["BASTION_CRYPTO_KEYS"] == "[redacted]"
    assert b64(NEW)[:20] not in result.output and b64(OLD)[:20] not in result.output


def test_config_command_shows_unset_keys_as_null() -> None:
    """Unset keys are shown as null, so the operator sees the ring is derived."""
    result = make_app().test_cli_runner().invoke(args=["bastion", "config", "--json"])
    rows = {row["key"]: row["value"] for row in json.loads(result.output)}
    assert rows["BASTION_CRYPTO_KEYS"] is None


# -- generate-key --------------------------------------------------------------------------------


def test_generate_key_prints_a_usable_key() -> None:
    """generate-key prints 43 base64url characters that BASTION_CRYPTO_KEYS accepts."""
    result = make_app().test_cli_runner().invoke(args=["bastion", "generate-key"])
    assert result.exit_code == 0 and KEY_LINE.fullmatch(result.output)
    app = make_app(BASTION_CRYPTO_KEYS=result.output.strip())
    assert len(keyring_for(app).key_ids) == 1


def test_generate_key_differs_each_run() -> None:
    """Two runs print two different keys."""
    runner = make_app().test_cli_runner()
    first, second = (runner.invoke(args=["bastion", "generate-key"]).output for _ in "ab")
    assert first != second


def test_module_entry_point_generates_a_key() -> None:
    """python -m flask_bastion generate-key prints a key without an application."""
    env = {k: v for k, v in os.environ.items() if k != "FLASK_APP"}
    result = CliRunner(env=env).invoke(module_main, ["generate-key"])
    assert result.exit_code == 0 and KEY_LINE.fullmatch(result.output)
