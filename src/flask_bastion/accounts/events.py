"""The audit trail of accounts: every event is a signal and a security log line.

One call, :func:`emit`, sends the event's blinker signal (for the application and later
controls such as bans and monitoring) and writes one structured line to the
``flask_bastion.security`` log, so no event has one without the other. The line names the
user by ID only and carries only fields that are safe to keep: never an address, a
password, a token or a token's name.
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app

from ..logs import security_log

if t.TYPE_CHECKING:
    from blinker import NamedSignal

#: Fields copied to the log line; the signal receives every keyword.
LOGGED_FIELDS = frozenset({"ip", "reason", "method", "prefix", "reset", "by", "count", "remaining"})


def emit(
    signal: NamedSignal,
    event: str,
    *,
    user: t.Any = None,
    level: int = logging.INFO,
    **fields: t.Any,
) -> None:
    """Send ``signal`` with ``user`` and ``fields``, and log ``event`` with the user's
    ID and the :data:`LOGGED_FIELDS` among ``fields``."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signal.send(app, user=user, **fields)
    user_id = user.get_id() if user is not None and user.is_authenticated else None
    extra = {key: value for key, value in fields.items() if key in LOGGED_FIELDS}
    security_log.log(level, event, extra={"event": event, "user_id": user_id, **extra})
