"""Vault: a private notes-and-files vault for a team, built on Flask-Bastion.

The application factory loads configuration in a fixed order, protects the app with
``Bastion(app)`` and registers the blueprints. Configuration precedence, lowest first:

1. defaults: ``DATABASE_URL`` is SQLite under the instance folder, and the account
   pages are ``noindex`` (``BASTION_CONTENT_NOINDEX_PATHS``); temporary bans are kept
   in that database (``BASTION_IPFILTER_BANS_URL``); ``VAULT_ADMIN_ALLOW`` (networks, or
   one comma-separated string) limits the admin area to those networks;
2. ``VAULT_*`` environment variables, without the prefix (``VAULT_BASTION_HTTPS_REDIRECT=false``
   sets ``BASTION_HTTPS_REDIRECT``; values are parsed as JSON where they can be);
3. the ``DATABASE_URL`` environment variable, the name hosting platforms use;
4. ``test_config``.

When no layer sets ``SECRET_KEY``, it is read from ``instance/secret_key``, which is created
with 256 random bits on first run. The key is never part of the code or the repository: a
key that is published lets anyone forge session cookies and signed tokens.

Likewise the key that encrypts note titles, bodies and TOTP secrets at rest,
``BASTION_CRYPTO_KEYS``: in production from ``VAULT_BASTION_CRYPTO_KEYS`` (newest first,
comma-separated), otherwise from ``instance/crypto_key``, created on first run. It is kept
apart from ``SECRET_KEY`` so that either can be replaced without the other
(``flask bastion rotate-keys`` moves the data to a new key).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import typing as t
from collections.abc import Mapping

from flask import Flask

from flask_bastion import Bastion
from flask_bastion.accounts import Accounts
from flask_bastion.crypto import new_key
from flask_bastion.ipfilter import restrict_blueprint

from . import admin, admin_bans, api, attachments, db, health, notes, pages, preferences
from .models import User
from .policy import policy

#: What a personal API token may be allowed to do.
API_SCOPES = {
    "notes:read": "Read your notes",
    "notes:write": "Create, change and delete your notes",
}


def create_app(test_config: Mapping[str, t.Any] | None = None) -> Flask:
    """Create and configure a Vault application.

    :param test_config: configuration applied last, over the environment.
    """
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "vault.sqlite3")
    # The account pages come from Flask-Bastion's blueprint: noindex by path. Notes, the
    # admin area and the API mark their blueprints with @noindex; static files are
    # protected from hotlinking by default.
    app.config["BASTION_CONTENT_NOINDEX_PATHS"] = ["/account"]
    app.config.from_prefixed_env("VAULT")
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if test_config is not None:
        app.config.from_mapping(test_config)
    # Bans live in the database, like sessions, so every worker and `flask bastion ban`
    # share them; Redis takes over with VAULT_BASTION_IPFILTER_BANS_URL.
    app.config.setdefault("BASTION_IPFILTER_BANS_URL", app.config["DATABASE_URL"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    if not app.config.get("BASTION_CRYPTO_KEYS"):
        app.config["BASTION_CRYPTO_KEYS"] = [load_crypto_key(app.instance_path)]

    db.init_app(app)
    accounts = Accounts(user_model=User, session_factory=db.get_db, scopes=API_SCOPES)
    Bastion(app, components=[accounts])
    policy.init_app(app)
    app.cli.add_command(admin.create_admin_command)
    app.register_blueprint(admin.bp)
    # VAULT_ADMIN_ALLOW: the networks that may reach /admin (all when unset).
    allow = app.config.get("ADMIN_ALLOW") or ()
    restrict_blueprint(app, admin.bp.name, allow=allow, key="VAULT_ADMIN_ALLOW")
    app.add_template_global(admin_bans.until_text, "ban_left")
    app.register_blueprint(pages.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(notes.bp)
    attachments.init_app(app)
    app.register_blueprint(api.bp)
    return app


def load_secret_key(instance_path: str) -> str:
    """Return the key stored in ``<instance_path>/secret_key``, creating it on first use.

    The file is written to a private temporary file and hard-linked into place, so
    processes starting at the same time all end up with the same complete key.

    :param instance_path: an existing directory, normally the application's instance folder.
    :raises RuntimeError: when the file exists but holds no key.
    """
    return _instance_key(
        instance_path, "secret_key", secrets.token_hex(32), "delete it to generate a new one"
    )


def load_crypto_key(instance_path: str) -> str:
    """Return the key ring key stored in ``<instance_path>/crypto_key`` (base64url, 256
    bits), creating it on first use like :func:`load_secret_key`."""
    return _instance_key(
        instance_path,
        "crypto_key",
        new_key(),
        "restore it from a backup: what was encrypted under it cannot be read without it",
    )


def _instance_key(instance_path: str, name: str, fresh: str, if_empty: str) -> str:
    path = os.path.join(instance_path, name)
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=instance_path, prefix=f".{name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(fresh + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
        finally:
            os.unlink(tmp)
    with open(path) as f:
        key = f.read().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; {if_empty}")
    return key
