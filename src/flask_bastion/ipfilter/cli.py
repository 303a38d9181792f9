"""``flask bastion ban | unban | bans``: temporary bans from the command line.

::

    flask bastion ban 203.0.113.7 1h --reason "scraping"
    flask bastion ban 2001:db8:1:2::/64 2d
    flask bastion bans
    flask bastion unban 203.0.113.7

A change applies to every process sharing the ban store (Redis at once, SQL within
``BASTION_IPFILTER_REFRESH`` seconds); with the ``memory://`` store it reaches only the
process the command runs in, which is no running server at all: the command says so.
"""

from __future__ import annotations

import datetime
import re

import click
from flask.cli import with_appcontext

from ..exceptions import StoreError
from .auto import ban, bans, unban

_DURATION_RE = re.compile(r"([0-9]{1,9})([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_MEMORY_NOTE = (
    "Note: BASTION_IPFILTER_BANS_URL is memory://, so this reaches no running server; "
    "use a shared store (Redis or SQL)."
)


def parse_duration(text: str) -> int:
    """``"3600"``, ``"90s"``, ``"30m"``, ``"12h"`` or ``"7d"`` as seconds.

    :raises click.BadParameter: for anything else.
    """
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise click.BadParameter("expected seconds or a number with s, m, h or d, like 30m")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _memory_note() -> None:
    from flask import current_app

    from .component import ipfilter_of

    if ipfilter_of(current_app).settings.bans_url.lower().startswith("memory:"):
        click.echo(_MEMORY_NOTE, err=True)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.command("ban")
@click.argument("network")
@click.argument("duration")
@click.option("--reason", default="banned from the command line", help="Why, for the record.")
@with_appcontext
def ban_command(network: str, duration: str, reason: str) -> None:
    """Ban NETWORK (an address or CIDR) for DURATION (seconds, or 30m, 12h, 7d)."""
    seconds = parse_duration(duration)
    try:
        made = ban(network, seconds, reason, by="cli")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"the ban store is unavailable ({exc})") from None
    click.echo(f"Banned {made.network} until {_when(made.until)}.")
    _memory_note()


@click.command("unban")
@click.argument("network")
@with_appcontext
def unban_command(network: str) -> None:
    """Lift the ban of NETWORK, exactly as it was banned."""
    try:
        found = unban(network, by="cli")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"the ban store is unavailable ({exc})") from None
    if not found:
        raise click.ClickException(f"{network} is not banned.")
    click.echo(f"Lifted the ban of {network}.")


@click.command("bans")
@with_appcontext
def bans_command() -> None:
    """List the live bans, soonest to end first."""
    try:
        found = bans()
    except StoreError as exc:
        raise click.ClickException(f"the ban store is unavailable ({exc})") from None
    for entry in found:
        click.echo(f"{entry.network}\tuntil {_when(entry.until)}\tby {entry.by}\t{entry.reason}")
    click.echo(f"{len(found)} ban(s).")


COMMANDS = (ban_command, unban_command, bans_command)
