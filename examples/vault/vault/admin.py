"""Administration: the first administrator (``flask --app vault create-admin``) and the
admin area at ``/admin``.

``make demo`` runs it on every start. The first time, it creates the administrator with a
random one-time password and prints it once; the password is stored only as its hash, so
it cannot be shown again. The first sign-in leads straight to the password change, and
nothing else is served until it is done.
"""

from __future__ import annotations

import secrets
import time
import typing as t
from collections.abc import Callable

import click
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.cli import with_appcontext
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from flask_bastion import page_budget
from flask_bastion.accounts import accounts_state, current_user, fresh_login_required
from flask_bastion.accounts.core import normalise_email
from flask_bastion.accounts.models import UserRole
from flask_bastion.accounts.services import throttle_for
from flask_bastion.accounts.tokens import revoke_all_api_tokens
from flask_bastion.authz import (
    define_role,
    grant_role,
    lock_role,
    revoke_role,
    role_holders,
    roles_of,
    roles_required,
)
from flask_bastion.content import noindex
from flask_bastion.exceptions import LastHolderError
from flask_bastion.logs import security_log
from flask_bastion.mfa import reset_second_factors
from flask_bastion.sessions import list_sessions, revoke_all_sessions

from .db import get_db
from .models import ADMIN_PERMISSIONS, ADMIN_ROLE, User

F = t.TypeVar("F", bound=Callable[..., t.Any])

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


# The admin area: /admin, for the "admin" role, after a fresh sign-in. Administrators
# must also have a second factor: the sign-in flow enrols them before anything else.

# Its pages are noindex (X-Robots-Tag) for everyone, signed in or not.
bp = noindex(Blueprint("admin", __name__, url_prefix="/admin"))

#: The largest user ID a URL takes (a 32-bit ``INTEGER`` on PostgreSQL): past it, a 404.
USER_ID_MAX = 2**31 - 1
#: What an administrator can do to an account, by the form's ``action``.
ACTIONS = ("deactivate", "reactivate", "unlock", "revoke_sessions", "reset_mfa", "grant", "revoke")


def admin_required(view: F) -> F:
    """The signed-in user must hold the admin role and have signed in within the fresh
    window; anyone else gets 403 (or is sent to sign in)."""
    return t.cast(F, fresh_login_required(roles_required(ADMIN_ROLE)(view)))


def _account(user_id: int) -> User:
    user = get_db().get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/")
@page_budget(per_ip="600/hour", per_user="600/hour", burst="30/10 seconds")
@admin_required
def users() -> str:
    """Every account, newest first, with ``?q=`` to filter by address.

    The query is text to find, never a pattern: ``%`` and ``_`` match themselves, and a
    NUL, which PostgreSQL cannot compare, is dropped (as in the notes' search).
    """
    query = request.args.get("q", "", type=str).replace("\x00", "")[:254]
    statement = select(User).order_by(User.created_at.desc()).limit(200)
    if query:
        needle = normalise_email(query)
        statement = statement.where(User.email_key.contains(needle, autoescape=True))
    found = get_db().scalars(statement).all()
    return render_template("admin/users.html", users=found, query=query)


@bp.get(f"/users/<int(max={USER_ID_MAX}):user_id>")
@admin_required
def user(user_id: int) -> str:
    """One account: its state, roles, brute-force lock, second factor and sessions."""
    account = _account(user_id)
    return render_template(
        "admin/user.html",
        account=account,
        roles=sorted(roles_of(account)),
        all_roles=(ADMIN_ROLE,),
        lock=throttle_for().status(account.email_key),
        mfa=account.has_second_factor,
        sessions=list_sessions(account.get_id()),
    )


#: Why an action that would leave Vault without an administrator is refused.
LAST_ADMIN = "Vault must keep at least one active administrator."


def _keep_an_administrator(account: User) -> None:
    """Refuse (409) to deactivate the last active administrator. The check holds the
    admin role's lock until the commit, so two administrators deactivating each other at
    the same moment cannot both succeed: the second sees the first one's change."""
    if ADMIN_ROLE not in roles_of(account):
        return
    db = get_db()
    lock_role(ADMIN_ROLE)
    others = [int(i) for i in role_holders(ADMIN_ROLE) if i != account.get_id()]
    active = db.scalars(select(User.id).where(User.id.in_(others), User.active.is_(True)))
    if active.first() is None:
        db.rollback()
        abort(409, LAST_ADMIN)


def _revoke_admin(account: User) -> None:
    """Take the admin role from ``account``, never from the last holder (409)."""
    try:
        revoke_role(account, ADMIN_ROLE, keep_one=True)
    except LastHolderError:
        abort(409, LAST_ADMIN)


@bp.post(f"/users/<int(max={USER_ID_MAX}):user_id>")
@admin_required
def act(user_id: int) -> ResponseReturnValue:
    """Change an account: deactivate, reactivate, unlock, revoke sessions, reset the
    second factor, grant or revoke a role. Every action is a security log line."""
    account = _account(user_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, "Unknown action.")
    if account.get_id() == current_user.get_id() and action in ("deactivate", "revoke"):
        abort(400, "Administrators cannot deactivate themselves or drop their own role.")
    if action == "deactivate":
        _keep_an_administrator(account)
        account.active = False
        revoke_all_api_tokens(account)
        get_db().commit()
        revoke_all_sessions(account.get_id())
    elif action == "reactivate":
        account.active = True
        get_db().commit()
    elif action == "unlock":
        throttle_for().unlock(account.email_key, by="admin")
    elif action == "revoke_sessions":
        revoke_all_sessions(account.get_id())
    elif action == "reset_mfa":
        reset_second_factors(account)
        revoke_all_sessions(account.get_id())
    elif action == "grant":
        grant_role(account, ADMIN_ROLE)
    else:
        _revoke_admin(account)
    security_log.info(
        "vault.admin_action",
        extra={
            "event": "vault.admin_action",
            "action": action,
            "user_id": account.get_id(),
            "by": current_user.get_id(),
        },
    )
    flash("Done.", "success")
    return redirect(url_for("admin.user", user_id=user_id), 303)
