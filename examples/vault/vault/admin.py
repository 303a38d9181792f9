"""The first administrator: ``flask --app vault create-admin``.

``make demo`` runs it on every start. The first time, it creates the administrator with a
random one-time password and prints it once; the password is stored only as its hash, so
it cannot be shown again. The first sign-in leads straight to the password change, and
nothing else is served until it is done.
"""

from __future__ import annotations

import secrets
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from flask_bastion.accounts import accounts_state
from flask_bastion.accounts.core import normalise_email
from flask_bastion.accounts.models import UserRole
from flask_bastion.authz import define_role, grant_role

from .db import get_db
from .models import ADMIN_PERMISSIONS, ADMIN_ROLE, User

#: The address of the first administrator, unless ``VAULT_ADMIN_EMAIL`` says otherwise.
DEFAULT_ADMIN_EMAIL = "admin@example.com"


def create_admin(email: str) -> str | None:
    """Create the administrator ``email`` with a one-time password and return the
    password, or ``None`` when an administrator exists already."""
    db = get_db()
    define_role(ADMIN_ROLE, ADMIN_PERMISSIONS, "Vault's administrators")
    if db.scalars(select(UserRole).where(UserRole.role == ADMIN_ROLE)).first() is not None:
        return None
    password = secrets.token_urlsafe(15)  # 120 bits, 20 characters
    now = time.time()
    admin = User(
        email=email,
        email_key=normalise_email(email),
        password_hash=accounts_state().passwords.hash(password),
        email_verified_at=now,
        active=True,
        created_at=now,
        password_changed_at=now,
        must_change_password=True,
    )
    db.add(admin)
    db.commit()
    grant_role(admin, ADMIN_ROLE)
    return password


@click.command("create-admin")
@with_appcontext
def create_admin_command() -> None:
    """Create the first administrator and print its one-time password, once."""
    email = current_app.config.get("ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    password = create_admin(email)
    if password is None:
        click.echo("An administrator exists already; no password to show.")
        return
    click.echo(
        f"Created the administrator {email} with the one-time password\n\n    {password}\n\n"
        "It is shown only this once. Sign in with it and choose your own password."
    )
