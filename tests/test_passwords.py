"""Password hashing: argon2id, legacy upgrade, pepper, limits, configuration and the CLI."""

from __future__ import annotations

import json
import sys
import typing as t

import argon2
import bcrypt
import pytest
from click.testing import CliRunner
from werkzeug.security import generate_password_hash

from flask_bastion.cli import bastion_cli
from flask_bastion.exceptions import BastionError, ConfigurationError
from flask_bastion.passwords import (
    MAX_PASSWORD_LENGTH,
    PROFILES,
    MissingDependency,
    PasswordMismatch,
    PasswordRefused,
    Passwords,
    Profile,
    hashing,
    passwords_for,
)

from .conftest import make_app

#: argon2's lowest cost: tests that are not about the profile stay fast.
TINY = Profile(memory_cost=8, time_cost=1, parallelism=1)
OTHER_TINY = Profile(memory_cost=16, time_cost=1, parallelism=1)
PEPPER = "pepper-that-must-never-be-printed"


@pytest.fixture
def hasher() -> Passwords:
    return Passwords(TINY)


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> t.NoReturn:
        raise AssertionError("hashed a refused password")

    monkeypatch.setattr(argon2.PasswordHasher, "hash", fail)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", fail)
    monkeypatch.setattr(hashing, "check_password_hash", fail)
    monkeypatch.setattr(bcrypt, "checkpw", fail)


def test_round_trip(hasher: Passwords) -> None:
    """A hash is argon2id with the profile's parameters and verifies its password."""
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert hasher.verify(stored, "correct horse") is True
    assert hasher.hash("correct horse") != stored  # a new salt each time


def test_default_profile_is_owasp() -> None:
    """The default is the OWASP cheat sheet's argon2id minimum."""
    assert Passwords().profile == Profile(memory_cost=19_456, time_cost=2, parallelism=1)
    with pytest.raises(ValueError, match="fast"):
        Passwords("fast")


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param("wrong", id="wrong-password"),
        pytest.param("damaged", id="damaged-hash"),
        pytest.param("hunter2", id="plaintext"),
        pytest.param("plain$$hunter2", id="werkzeug-plain"),
        pytest.param("sha256$salt$0123", id="old-werkzeug"),
        pytest.param("$1$salt$hash", id="md5crypt"),
        pytest.param("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", id="argon2i"),
    ],
)
def test_one_opaque_error(hasher: Passwords, stored: str) -> None:
    """A wrong password, a damaged hash and an unknown or plaintext format all raise the
    same PasswordMismatch with the same message: no oracle about why."""
    good = hasher.hash("hunter2")
    value = {"wrong": good, "damaged": good[:-8]}.get(stored, stored)
    password = "not-it" if stored == "wrong" else "hunter2"
    with pytest.raises(PasswordMismatch) as info:
        hasher.verify(value, password)
    assert isinstance(info.value, BastionError)
    assert str(info.value) == "The password does not match."


def test_plaintext_never_compared(hasher: Passwords, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored value equal to the password is refused without reaching any verifier."""
    _no_hashing(monkeypatch)
    with pytest.raises(PasswordMismatch):
        hasher.verify("hunter2", "hunter2")


def test_needs_rehash_when_profile_changes() -> None:
    """A hash made under owasp needs a rehash under moderate, and not under owasp."""
    stored = Passwords("owasp").hash("pw")
    assert Passwords("owasp").needs_rehash(stored) is False
    assert Passwords("moderate").needs_rehash(stored) is True


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(generate_password_hash("legacy pw", "pbkdf2:sha256:1000"), id="pbkdf2"),
        pytest.param(generate_password_hash("legacy pw", "scrypt:1024:8:1"), id="scrypt"),
        pytest.param(bcrypt.hashpw(b"legacy pw", bcrypt.gensalt(4)).decode(), id="bcrypt-2b"),
        pytest.param(
            bcrypt.hashpw(b"legacy pw", bcrypt.gensalt(4, prefix=b"2a")).decode(), id="bcrypt-2a"
        ),
    ],
)
def test_legacy_hash_upgraded(hasher: Passwords, stored: str) -> None:
    """A Werkzeug or bcrypt hash verifies, needs a rehash, and is replaced by argon2id."""
    assert hasher.needs_rehash(stored) is True
    new = hasher.verify_and_upgrade(stored, "legacy pw")
    assert new is not None and new.startswith("$argon2id$")
    assert hasher.verify(new, "legacy pw") is True
    assert hasher.verify_and_upgrade(new, "legacy pw") is None
    with pytest.raises(PasswordMismatch):
        hasher.verify_and_upgrade(stored, "wrong pw")


def test_upgrade_on_parameter_change(hasher: Passwords) -> None:
    """verify_and_upgrade replaces an argon2id hash made under other parameters."""
    old = Passwords(OTHER_TINY).hash("pw")
    new = hasher.verify_and_upgrade(old, "pw")
    assert new is not None and "$m=8,t=1,p=1$" in new
    assert hasher.verify_and_upgrade(hasher.hash("pw"), "pw") is None


def test_bcrypt_without_package(hasher: Passwords, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bcrypt hash without the bcrypt package is an error naming the extra."""
    stored = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    monkeypatch.setitem(sys.modules, "bcrypt", None)
    with pytest.raises(MissingDependency, match=r"flask-bastion\[bcrypt\]"):
        hasher.verify(stored, "pw")


def test_pepper_required() -> None:
    """A peppered hash verifies with the pepper (str or bytes), not without or with another."""
    stored = Passwords(TINY, pepper=PEPPER).hash("pw")
    assert Passwords(TINY, pepper=PEPPER.encode()).verify(stored, "pw") is True
    for other in (None, "another pepper"):
        with pytest.raises(PasswordMismatch):
            Passwords(TINY, pepper=other).verify(stored, "pw")
    with pytest.raises(PasswordMismatch):
        Passwords(TINY, pepper=PEPPER).verify(Passwords(TINY).hash("pw"), "pw")
    assert PEPPER not in repr(Passwords(TINY, pepper=PEPPER))


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("x" * (MAX_PASSWORD_LENGTH + 1), id="over-long"),
        pytest.param("x" * 1_000_000, id="megabyte"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(None, id="none"),
        pytest.param(12345, id="int"),
    ],
)
def test_refused_before_hashing(
    hasher: Passwords, monkeypatch: pytest.MonkeyPatch, password: t.Any
) -> None:
    """Over-long and non-string passwords are refused before any hash function runs, on
    hash, verify and verify_and_upgrade alike."""
    stored = {
        "argon2id": hasher.hash("pw"),
        "pbkdf2": generate_password_hash("pw", "pbkdf2:sha256:1000"),
        "bcrypt": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode(),
    }
    _no_hashing(monkeypatch)
    with pytest.raises(PasswordRefused) as info:
        hasher.hash(password)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BastionError)
    for value in stored.values():
        with pytest.raises(PasswordRefused):
            hasher.verify(value, password)
        with pytest.raises(PasswordRefused):
            hasher.verify_and_upgrade(value, password)


def test_longest_password_accepted(hasher: Passwords) -> None:
    """A password of exactly the limit is hashed."""
    password = "x" * MAX_PASSWORD_LENGTH
    assert hasher.verify(hasher.hash(password), password) is True


def test_nfkc_equivalence(hasher: Passwords) -> None:
    """Composed and decomposed forms of one password verify against each other."""
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert composed != decomposed
    assert hasher.verify(hasher.hash(composed), decomposed) is True
    assert hasher.verify(hasher.hash(decomposed), composed) is True


def test_calibrate_prints_every_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """calibrate-hash prints one row per profile, with a median in milliseconds."""
    monkeypatch.setattr(hashing, "PROFILES", dict.fromkeys(PROFILES, TINY))
    result = CliRunner().invoke(bastion_cli, ["calibrate-hash", "--runs", "1"])
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()[1:]
    assert [row.split()[0] for row in rows] == list(PROFILES)
    assert all(row.endswith(" ms") for row in rows)


def test_calibrate_caps_runs() -> None:
    """The run count is bounded, so the command stays quick."""
    result = CliRunner().invoke(bastion_cli, ["calibrate-hash", "--runs", "1000"])
    assert result.exit_code == 2
    assert "1000" in result.output


def test_config_profile_validated() -> None:
    """An unknown profile name stops init_app with an error naming the key."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_PASSWORDS_PROFILE="fast")
    assert info.value.key == "BASTION_PASSWORDS_PROFILE"
    assert "'owasp'" in info.value.message


def test_passwords_for_app() -> None:
    """passwords_for builds a Passwords from the application's settings."""
    app = make_app(BASTION_PASSWORDS_PROFILE="moderate", BASTION_PASSWORDS_PEPPER=PEPPER)
    configured = passwords_for(app)
    assert configured.profile == PROFILES["moderate"]
    # The pepper from the configuration is the one used (checked on a cheap hash).
    stored = Passwords(TINY, pepper=PEPPER).hash("pw")
    assert configured.verify(stored, "pw") is True
    with pytest.raises(PasswordMismatch):
        passwords_for(make_app()).verify(stored, "pw")


def test_pepper_never_printed_by_config() -> None:
    """flask bastion config shows the pepper as [redacted], in text and JSON."""
    app = make_app(BASTION_PASSWORDS_PEPPER=PEPPER)
    runner = app.test_cli_runner()
    text = runner.invoke(args=["bastion", "config"]).output
    assert PEPPER not in text
    assert 'BASTION_PASSWORDS_PEPPER = "[redacted]"  (app.config)' in text.splitlines()
    output = runner.invoke(args=["bastion", "config", "--json"]).output
    assert PEPPER not in output
    rows = {row["key"]: row for row in json.loads(output)}
    assert rows["BASTION_PASSWORDS_PEPPER"]["value"] == "[redacted]"
    unset = make_app().test_cli_runner().invoke(args=["bastion", "config"]).output
    assert "BASTION_PASSWORDS_PEPPER = null  (default)" in unset.splitlines()


def test_bad_pepper_not_echoed() -> None:
    """A pepper of the wrong type is refused without its value in the error."""
    secret = 918273645546372819
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_PASSWORDS_PEPPER=secret)
    assert info.value.key == "BASTION_PASSWORDS_PEPPER"
    assert str(secret) not in str(info.value)


def test_expanding_normalisation_refused(
    hasher: Passwords, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short password whose NFKC form is huge (U+FDFA becomes 18 characters) is refused
    before hashing too."""
    _no_hashing(monkeypatch)
    with pytest.raises(PasswordRefused):
        hasher.hash("\ufdfa" * MAX_PASSWORD_LENGTH)


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(None, id="none"),
        pytest.param("pbkdf2:md9:1000$salt$00", id="werkzeug-unknown-digest"),
        pytest.param("scrypt:x:y:z$salt$00", id="werkzeug-bad-scrypt"),
        pytest.param("$2b$04$tooshort", id="bcrypt-damaged"),
    ],
)
def test_damaged_legacy_hash_is_a_mismatch(hasher: Passwords, stored: t.Any) -> None:
    """A damaged or unusable stored value is the same mismatch, never a crash."""
    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, "pw")


def test_damaged_argon2_hash_needs_rehash(hasher: Passwords) -> None:
    """An argon2id value that does not parse needs replacing."""
    assert hasher.needs_rehash("$argon2id$garbage") is True


def test_bcrypt_reads_72_bytes(hasher: Passwords) -> None:
    """A bcrypt hash made (by an older bcrypt) from a long password's first 72 bytes still
    verifies and is upgraded to an argon2id hash of the whole password."""
    long_password = "a" * 72 + "tail"
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    new = hasher.verify_and_upgrade(stored, long_password)
    assert new is not None
    assert hasher.verify(new, long_password) is True
    with pytest.raises(PasswordMismatch):
        hasher.verify(new, "a" * 72)


def test_unknown_profile_names_the_setting() -> None:
    """An unknown profile name is a ConfigurationError naming the setting."""
    from flask_bastion.exceptions import ConfigurationError
    from flask_bastion.passwords import Passwords

    with pytest.raises(ConfigurationError) as info:
        Passwords("fastest")
    assert info.value.key == "BASTION_PASSWORDS_PROFILE"
