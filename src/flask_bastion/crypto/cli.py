"""``flask bastion rotate-keys``: re-encrypt everything under the newest key."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .keyring import KeyRing, keyring_for
from .rotation import Rotation, pending, rotations_for

#: Values per committed batch, by default.
BATCH_SIZE = 500


def _breakdown(usage: dict[str, int], ring: KeyRing) -> str:
    parts = []
    order = ring.key_ids
    ranked = sorted(usage.items(), key=lambda item: [*order, item[0]].index(item[0]))
    for kid, count in ranked:
        mark = " newest" if kid == ring.current_id else ""
        mark = mark if kid in ring.key_ids else " NOT IN THE RING"
        parts.append(f"{kid}{mark}: {count}")
    return ", ".join(parts) or "empty"


def _run(name: str, rotation: Rotation, ring: KeyRing, batch_size: int) -> int:
    """Rotate one place with a progress bar; the values still not under the newest key."""
    todo = pending(rotation, ring)
    rotated = unreadable = 0
    if todo:
        with click.progressbar(length=todo, label=name, show_pos=True) as bar:
            for batch in rotation.rotate(ring, batch_size):
                rotated += batch.rotated
                unreadable += batch.unreadable
                bar.update(batch.seen)
    left = pending(rotation, ring)
    click.echo(f"{name}: {rotated} re-encrypted, {left} left ({unreadable} unreadable)")
    return left


@click.command("rotate-keys")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=BATCH_SIZE,
    show_default=True,
    help="Values re-encrypted per committed batch.",
)
@click.option("--dry-run", is_flag=True, help="Count the values per key; change nothing.")
@with_appcontext
def rotate_keys_command(batch_size: int, dry_run: bool) -> None:
    """Re-encrypt every stored secret under the newest key of BASTION_CRYPTO_KEYS.

    Covers TOTP secrets, the encrypted columns of the application's models and what the
    application registered (encrypted files). Resumable: a second run continues where an
    interrupted one stopped. Remove an old key only once this reports 0 left.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ring = keyring_for(app)
    rotations = rotations_for(app)
    click.echo(f"Newest key: {ring.current_id}; {len(rotations)} place(s) to check.")
    left = 0
    for name, rotation in rotations.items():
        if dry_run:
            usage = rotation.usage()
            todo = pending(rotation, ring)
            click.echo(f"{name}: {todo} to re-encrypt ({_breakdown(usage, ring)})")
            continue
        left += _run(name, rotation, ring, batch_size)
    if left:
        raise click.ClickException(
            f"{left} value(s) are still not under the newest key: they did not decrypt "
            "(their key is missing from BASTION_CRYPTO_KEYS, or they were changed). The "
            "security log names each; keep the old keys until this is resolved."
        )
