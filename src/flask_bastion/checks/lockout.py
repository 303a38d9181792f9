"""Lockout checks (``09x``): sign-in left open to unlimited password guessing, or
counted per worker process so that guessing is spread over the workers.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

W091 = message(
    WARNING,
    "Brute-force lockout is off (BASTION_LOCKOUT_ENABLED).",
    "Nothing limits password guessing on sign-in: no delays, no locks, no per-address "
    "limit, no credential-stuffing detection. Remove BASTION_LOCKOUT_ENABLED = False.",
    "bastion.W091",
    settings=("BASTION_LOCKOUT_ENABLED",),
)
W092 = message(
    WARNING,
    "BASTION_LOCKOUT_STORE is 'memory'.",
    "Each worker process counts failed sign-ins on its own and forgets them on restart, "
    "so the limits multiply by the number of workers. Use 'auto', 'sql' or 'redis'.",
    "bastion.W092",
    settings=("BASTION_LOCKOUT_STORE",),
)


@register(deploy=True)
def check_lockout_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.lockout.enabled else [W091]


@register(deploy=True)
def check_lockout_store(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    lockout = config.lockout
    return [W092] if lockout.enabled and lockout.store == "memory" else []
