"""Deploy and configuration checks with stable IDs, run by ``flask bastion check``."""

from __future__ import annotations

from . import sessions as _sessions  # noqa: F401  (registers the 03x checks)
from .registry import *  # noqa: F403
from .registry import LEVELS, CheckMessage, catalogue, message, register, run_checks

__all__ = ["LEVELS", "CheckMessage", "catalogue", "message", "register", "run_checks"]
