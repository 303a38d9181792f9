"""The one path by which a request is refused.

Every protection that ends a request raises a :class:`~flask_bastion.exceptions.Rejection`
through :func:`refuse`. It sends the rejection's signal and writes one structured line to
the ``flask_bastion.security`` log, then raises; Flask hands the exception to the safe
error pages (:mod:`flask_bastion.errors`), which render it as an HTML page or an RFC 9457
problem document with ``Vary: Accept``. A refusal found after the view ran (a session
store that fails on write) uses :func:`report` and :func:`~flask_bastion.errors.render_error`
the same way. So every refusal has a status, a page, a signal and a log line, and none
can forget one of them.
"""

from __future__ import annotations

import typing as t

from flask import current_app

from .exceptions import Rejection
from .logs import security_log


def report(rejection: Rejection) -> None:
    """Send ``rejection``'s signal and write its security log line, without raising.
    The line carries the rejection's :attr:`~flask_bastion.exceptions.Rejection.details`
    as fields, like the signal."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    status: int = getattr(rejection, "code", 500)  # from the werkzeug base
    rejection.signal.send(app, reason=rejection.reason, status=status, **rejection.details)
    security_log.log(
        rejection.log_level,
        "%s: %s",
        rejection.event,
        rejection.reason,
        extra={
            **rejection.details,
            "event": rejection.event,
            "reason": rejection.reason,
            "status": status,
        },
    )


def refuse(rejection: Rejection) -> t.NoReturn:
    """Report ``rejection`` (:func:`report`) and raise it.

    :raises Rejection: always, ``rejection`` itself.
    """
    report(rejection)
    raise rejection
