"""The application factory: configuration layers, secret key, two apps in one process."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect

from flask_bastion.crypto import keyring_for, new_key
from vault import create_app, load_crypto_key, load_secret_key
from vault.db import database


def test_test_config_wins_over_environment(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    """test_config overrides DATABASE_URL and VAULT_* from the environment."""
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.sqlite3")
    monkeypatch.setenv("VAULT_DATABASE_URL", "sqlite:///from-prefixed-env.sqlite3")
    app = make_app(DATABASE_URL="sqlite:///from-test-config.sqlite3")
    assert app.config["DATABASE_URL"] == "sqlite:///from-test-config.sqlite3"


def test_database_url_environment_wins_over_prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DATABASE_URL environment variable overrides VAULT_DATABASE_URL and the default."""
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.sqlite3")
    monkeypatch.setenv("VAULT_DATABASE_URL", "sqlite:///from-prefixed-env.sqlite3")
    app = create_app({"SECRET_KEY": "test", "BASTION_CRYPTO_KEYS": [new_key()]})
    assert app.config["DATABASE_URL"] == "sqlite:///from-env.sqlite3"


def test_database_url_defaults_to_instance_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without configuration the database is SQLite in the instance folder."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VAULT_DATABASE_URL", raising=False)
    app = create_app({"SECRET_KEY": "test", "BASTION_CRYPTO_KEYS": [new_key()]})
    expected = "sqlite:///" + os.path.join(app.instance_path, "vault.sqlite3")
    assert app.config["DATABASE_URL"] == expected


def test_prefixed_environment_configures_bastion(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    """VAULT_BASTION_HTTPS_REDIRECT=false turns the HTTPS redirect off, as in the demo."""
    monkeypatch.setenv("VAULT_BASTION_HTTPS_REDIRECT", "false")
    app = make_app()
    assert app.config["BASTION_HTTPS_REDIRECT"] is False
    assert app.test_client().get("/").status_code == 200


def test_secret_key_created_once(tmp_path: Path) -> None:
    """The secret key file is created private on first use and reused afterwards."""
    first = load_secret_key(str(tmp_path))
    assert len(first) == 64
    assert int(first, 16) > 0
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert load_secret_key(str(tmp_path)) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_empty_secret_key_file_rejected(tmp_path: Path) -> None:
    """An empty secret key file is an error, not an empty key."""
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):
        load_secret_key(str(tmp_path))


def test_crypto_key_created_once(tmp_path: Path) -> None:
    """The key ring key file is created private on first use (256 bits, base64url) and
    reused afterwards."""
    first = load_crypto_key(str(tmp_path))
    assert len(first) == 43
    assert stat.S_IMODE((tmp_path / "crypto_key").stat().st_mode) == 0o600
    assert load_crypto_key(str(tmp_path)) == first


def test_empty_crypto_key_file_rejected(tmp_path: Path) -> None:
    """An empty key file is an error that says not to replace it blindly."""
    (tmp_path / "crypto_key").write_text("\n")
    with pytest.raises(RuntimeError, match="restore it from a backup"):
        load_crypto_key(str(tmp_path))


def test_crypto_keys_from_environment(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    """In production the key ring comes from VAULT_BASTION_CRYPTO_KEYS, newest first."""
    new, old = new_key(), new_key()
    monkeypatch.setenv("VAULT_BASTION_CRYPTO_KEYS", f"{new},{old}")
    app = create_app({"SECRET_KEY": "test"})
    ring = keyring_for(app)
    assert len(ring.key_ids) == 2
    assert ring.current_id == keyring_for(make_app(BASTION_CRYPTO_KEYS=[new])).current_id


def test_crypto_key_not_derived_from_secret_key(make_app: Callable[..., Flask]) -> None:
    """Vault never leaves the key ring to SECRET_KEY (no bastion.W121)."""
    from flask_bastion.checks import run_checks

    app = make_app()
    assert "bastion.W121" not in {m.id for m in run_checks(app, deploy=True)}


def test_two_apps_in_one_process(make_app: Callable[..., Flask]) -> None:
    """Two apps keep separate databases and both serve requests."""
    first, second = make_app(), make_app()
    assert first.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    for app, tables in (
        (first, ["app_meta", "attachments", "note_shares", "notes", "users"]),
        (second, []),
    ):
        with app.app_context():
            assert sorted(inspect(database().engine).get_table_names()) == tables
        response = app.test_client().get("/healthz", base_url="https://localhost")
        assert response.status_code == 200
