"""Deploy and configuration checks with stable IDs, run by ``flask bastion check``.

Catches the mistakes that leave a deployment open while every test passes: a placeholder
``SECRET_KEY``, ``DEBUG`` on, cookies without their flags, HSTS or CSP off, a proxy
trusted from everywhere. Modelled on Django's ``check --deploy``: each message is a
module constant with a hint, the settings it concerns and an ID that is never reused;
each check is a small function registered with :func:`register` (``deploy=True`` runs
only with ``--deploy``). The machinery is in :mod:`.registry`; the checks live in one
module per protection, each with its block of ten IDs: :mod:`.core` ``00x``,
:mod:`.https` ``01x``, :mod:`.csrf` ``02x``, :mod:`.sessions` ``03x``, :mod:`.headers`
``04x``, :mod:`.csp` ``05x``, :mod:`.proxy` ``06x``, :mod:`.errors` ``07x``,
:mod:`.mail` ``08x``, :mod:`.lockout` ``09x``, :mod:`.passwords` ``10x``,
:mod:`.accounts` ``11x``, :mod:`.crypto` ``12x``, :mod:`.ratelimit` ``13x``,
:mod:`.ipfilter` ``14x``, :mod:`.content` ``15x``, :mod:`.uploads` ``16x``,
:mod:`.code` ``17x``. The catalogue with explanations is ``docs/checks.md``. Silence one with
``BASTION_SILENCED_CHECKS = ["bastion.W013"]``.

The protection modules never import this package, so nothing in the request pipeline
depends on the checks; importing it registers every check.
"""

from __future__ import annotations

# Imported for their registrations, once, so that run_checks sees every check.
from . import (  # noqa: F401
    accounts,
    code,
    content,
    core,
    crypto,
    csp,
    csrf,
    errors,
    headers,
    https,
    ipfilter,
    lockout,
    mail,
    passwords,
    proxy,
    ratelimit,
    sessions,
    uploads,
)
from .registry import (
    CRITICAL,
    DEBUG,
    ERROR,
    INFO,
    LEVELS,
    WARNING,
    Check,
    CheckMessage,
    catalogue,
    message,
    register,
    run_checks,
)

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "LEVELS",
    "WARNING",
    "Check",
    "CheckMessage",
    "catalogue",
    "message",
    "register",
    "run_checks",
]
