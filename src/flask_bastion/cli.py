"""The ``flask bastion`` command group: checks, effective configuration, secrets, keys,
and account administration (``flask bastion users``, for an application with accounts).

``flask bastion check --deploy`` belongs in CI: it exits non-zero when a finding reaches
``--fail-level`` (WARNING by default), so an unsafe configuration never ships unnoticed.

The group is registered twice: on each application by ``init_app``, and for the ``flask``
command itself through the ``flask.commands`` entry point, so that ``flask bastion
generate-secret`` runs where no application can be loaded yet, typically because it
needs the very ``SECRET_KEY`` the command makes. ``python -m flask_bastion
generate-secret`` does the same without Flask's command line.
"""

from __future__ import annotations

import json
import secrets
import sys
import typing as t

import click
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup, NoAppException, ScriptInfo

from . import passwords
from .accounts.cli import users_cli
from .accounts.core import ACCOUNTS_KEY
from .checks import LEVELS, run_checks
from .config import is_secret, settings, value_of
from .context import get_state
from .crypto import new_key
from .crypto.cli import rotate_keys_command
from .ipfilter.cli import COMMANDS as IPFILTER_COMMANDS
from .logs import mask_urls

if t.TYPE_CHECKING:
    from .extension import BastionState


class BastionGroup(AppGroup):
    """``flask bastion``: the ``users`` commands are offered only for an application
    with accounts (``Bastion(app, components=[Accounts()])``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names if _has_accounts(ctx) else [n for n in names if n != users_cli.name]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == users_cli.name and not _has_accounts(ctx):
            return None
        return super().get_command(ctx, cmd_name)


def _has_accounts(ctx: click.Context) -> bool:
    app: Flask | None = None
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    else:
        info = ctx.find_object(ScriptInfo)
        if info is not None:
            try:
                app = info.load_app()
            except NoAppException:  # `flask bastion generate-secret` needs no application
                app = None
    return app is not None and ACCOUNTS_KEY in app.extensions


bastion_cli = BastionGroup("bastion", help="Flask-Bastion: security checks and configuration.")
bastion_cli.add_command(users_cli)
bastion_cli.add_command(rotate_keys_command)
for _command in IPFILTER_COMMANDS:
    bastion_cli.add_command(_command)


def _state() -> BastionState:
    """The current application's state; a usage error, not a traceback, when the entry
    point offers these commands for an application without Flask-Bastion."""
    try:
        return get_state(current_app)
    except RuntimeError as exc:
        raise click.ClickException(f"{exc} Call Bastion(app) or bastion.init_app(app).") from None


@bastion_cli.command("check")
@click.option("--deploy", is_flag=True, help="Also run the checks that matter for deployment.")
@click.option(
    "--fail-level",
    type=click.Choice(list(LEVELS), case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Exit with status 1 when a finding is at this level or above.",
)
def check_command(deploy: bool, fail_level: str) -> None:
    """Check the application's security configuration."""
    _state()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = run_checks(app, deploy=deploy)
    muted = len(run_checks(app, deploy=deploy, include_silenced=True)) - len(found)
    for finding in sorted(found, key=lambda m: (-m.level, m.id)):
        click.echo(str(finding))
    count = len(found)
    click.echo(
        f"System check identified {'no issues' if not count else f'{count} issue(s)'}"
        f" ({muted} silenced)."
    )
    if any(m.level >= LEVELS[fail_level.upper()] for m in found):
        sys.exit(1)


@bastion_cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def config_command(as_json: bool) -> None:
    """Show every BASTION_* setting, its effective value and where it came from.

    Passwords and secret parameters in URLs are masked (``redis://:***@cache/0``), and
    secrets such as the password pepper are shown as ``[redacted]``."""
    config = _state().config
    rows = []
    for info in settings():
        value = value_of(config, info.key)
        if is_secret(info.key) and value is not None:
            value = "[redacted]"
        # URL-valued settings (the session store, CSP report endpoints) may carry a
        # password or a token; the output lands in terminals, CI logs and tickets.
        if isinstance(value, str):
            value = mask_urls(value)
        elif isinstance(value, tuple):
            value = [mask_urls(str(v)) for v in value]
        elif isinstance(value, dict):
            value = {k: [mask_urls(str(v)) for v in values] for k, values in value.items()}
        source = config.sources[info.key]
        # Settings that can weaken security say so when the application changed them.
        danger = info.danger if info.danger and source != "default" else None
        rows.append({"key": info.key, "value": value, "source": source, "danger": danger})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        note = f"  ! weakens security when {row['danger']}" if row["danger"] else ""
        click.echo(f"{row['key']} = {json.dumps(row['value'])}  ({row['source']}){note}")


@bastion_cli.command("generate-secret", with_appcontext=False)
def generate_secret_command() -> None:
    """Print a new random SECRET_KEY (256 bits, hex). Needs no application."""
    click.echo(secrets.token_hex(32))


@bastion_cli.command("generate-key", with_appcontext=False)
def generate_key_command() -> None:
    """Print a new random key for BASTION_CRYPTO_KEYS (256 bits, base64url). Needs no
    application."""
    click.echo(new_key())


#: The most timed hashes per profile: the command must stay quick on a busy server.
MAX_CALIBRATION_RUNS = 10


@bastion_cli.command("calibrate-hash", with_appcontext=False)
@click.option(
    "--runs",
    type=click.IntRange(1, MAX_CALIBRATION_RUNS),
    default=3,
    show_default=True,
    help="Hashes timed per profile.",
)
def calibrate_hash_command(runs: int) -> None:
    """Time each password hashing profile on this machine (median of a few hashes)."""
    click.echo(f"{'profile':<10} {'memory':>10} {'time':>5} {'lanes':>5} {'median':>10}")
    for name, profile, median in passwords.calibrate(runs):
        click.echo(
            f"{name:<10} {profile.memory_cost // 1024:>6} MiB {profile.time_cost:>5} "
            f"{profile.parallelism:>5} {median:>7.1f} ms"
        )
