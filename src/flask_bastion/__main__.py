"""``python -m flask_bastion generate-secret`` (and ``generate-key``): the commands that
need no application.

A new deployment needs a ``SECRET_KEY`` (and a ``BASTION_CRYPTO_KEYS`` key) before its
application can start, so the commands that make them must not depend on loading the
application, nor on Flask's command line finding it.
"""

from __future__ import annotations

import click

from .cli import generate_key_command, generate_secret_command

main = click.Group(
    help="Flask-Bastion commands that need no application.",
    commands=[generate_secret_command, generate_key_command],
)

if __name__ == "__main__":
    main()
