"""``flask bastion users ...``: account administration from the command line.

Offered only for an application with accounts. Every command names the account by its
address; none prints a password except the one-time password of a new account, once.

* ``create EMAIL [--role R]... [--password-stdin]``: a verified account; without
  ``--password-stdin``, a random one-time password that must be changed at first sign-in.
* ``set-role EMAIL ROLE [--remove]``: grant or revoke a role (ends the user's sessions).
* ``lock EMAIL``: deactivate the account: it cannot sign in, its sessions and API tokens
  are revoked. ``unlock EMAIL``: reactivate it and lift a brute-force lock.
* ``revoke-sessions EMAIL``: sign the account out everywhere.
"""

from __future__ import annotations

import secrets
import sys
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..authz import grant_role, revoke_role
from ..exceptions import BastionError
from ..sessions import revoke_all_sessions
from .core import accounts_state, find_user, normalise_email
from .models import Role
from .services import password_problems, throttle_for
from .tokens import revoke_all_api_tokens

users_cli = AppGroup("users", help="Manage accounts: create, roles, lock, sessions.")

#: Random bytes of a one-time password (22 URL-safe characters).
ONE_TIME_PASSWORD_BYTES = 16


@contextmanager
def _failures() -> Iterator[None]:
    """A usage error, not a traceback, for a refused change or an unreachable store;
    the message never carries a URL or a password."""
    try:
        yield
    except BastionError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise click.ClickException("The accounts database could not be reached.") from None


def _user(email: str) -> t.Any:
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No account has the address {email!r}.")
    return user


@users_cli.command("create")
@click.argument("email")
@click.option("--role", "roles", multiple=True, help="Grant this role (repeatable).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of printing a one-time one.",
)
def create_command(email: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create a verified account for EMAIL.

    Without --password-stdin a random one-time password is printed, once; the account
    must change it at its first sign-in."""
    with _failures():
        state = accounts_state()
        db = state.db()
        try:
            email = str(validate_email(email, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise click.BadParameter(str(exc), param_hint="EMAIL") from None
        for role in roles:
            if db.get(Role, role) is None:
                raise click.ClickException(f"Unknown role {role!r}: define it first.")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            problems = password_problems(password, email=email)
            if problems:
                raise click.ClickException(" ".join(problems))
        else:
            password = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
        now = state.clock()
        user = state.user_model(
            email=email,
            email_key=normalise_email(email),
            password_hash=state.passwords.hash(password),
            created_at=now,
            password_changed_at=now,
            # The administrator vouches for the address.
            email_verified_at=now,
            active=True,
            must_change_password=not password_stdin,
        )
        db.add(user)
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
            raise click.ClickException(f"An account with the address {email!r} exists.") from None
        for role in roles:
            grant_role(user, role)
    click.echo(f"Created {email}" + (f" with roles: {', '.join(roles)}." if roles else "."))
    if not password_stdin:
        click.echo(f"One-time password (shown once, to change at first sign-in): {password}")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role")
@click.option("--remove", is_flag=True, help="Revoke the role instead of granting it.")
def set_role_command(email: str, role: str, remove: bool) -> None:
    """Grant ROLE to EMAIL's account (or revoke it with --remove). A change signs the
    account out everywhere: no session keeps the old privileges."""
    with _failures():
        user = _user(email)
        changed = revoke_role(user, role) if remove else grant_role(user, role)
    if not changed:
        click.echo(f"{email} {'does not have' if remove else 'already has'} the role {role!r}.")
    else:
        click.echo(f"{'Revoked' if remove else 'Granted'} the role {role!r} for {email}.")


@users_cli.command("lock")
@click.argument("email")
def lock_command(email: str) -> None:
    """Deactivate EMAIL's account: it cannot sign in, and its sessions and personal API
    tokens are revoked. `unlock` reactivates it."""
    with _failures():
        user = _user(email)
        db = accounts_state().db()
        user.active = False
        revoke_all_api_tokens(user)
        db.commit()
        count = revoke_all_sessions(user.get_id())
    click.echo(f"Deactivated {email}; {count} session(s) and every API token revoked.")


@users_cli.command("unlock")
@click.argument("email")
def unlock_command(email: str) -> None:
    """Reactivate EMAIL's account and lift its brute-force lock (too many failed
    sign-ins)."""
    with _failures():
        user = _user(email)
        user.active = True
        accounts_state().db().commit()
        throttle_for().unlock(user.email_key, by="admin")
    click.echo(f"Reactivated {email} and lifted any sign-in lock.")


@users_cli.command("revoke-sessions")
@click.argument("email")
def revoke_sessions_command(email: str) -> None:
    """Sign EMAIL's account out of every device (its API tokens stay)."""
    with _failures():
        count = revoke_all_sessions(_user(email).get_id())
    click.echo(f"Revoked {count} session(s) of {email}.")


@users_cli.command("reset-mfa")
@click.argument("email")
def reset_mfa_command(email: str) -> None:
    """Turn EMAIL's second factors off (a lost phone, lost recovery codes, lost passkeys):
    the authenticator, the recovery codes, the remembered browsers and every passkey are
    deleted and every session is revoked, so the next sign-in, with the password alone,
    enrols again where a role requires it."""
    from ..mfa import reset_second_factors

    with _failures():
        user = _user(email)
        was_on = reset_second_factors(user)
        count = revoke_all_sessions(user.get_id())
    state = "turned off" if was_on else "was not on"
    click.echo(f"The second factor of {email} {state}; {count} session(s) revoked.")
