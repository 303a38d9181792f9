"""The exception tree: one root, and HTTP-facing errors that are werkzeug exceptions.

Every error Flask-Bastion raises is a :class:`BastionError`, so an application can catch
them all; those that end a request subclass the matching werkzeug exception as well, so
``@app.errorhandler(403)`` handles a CSRF rejection like any other 403.
"""

from __future__ import annotations

import logging
import typing as t

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    SecurityError,
    ServiceUnavailable,
)

from . import signals

if t.TYPE_CHECKING:
    from blinker import NamedSignal


class BastionError(Exception):
    """Base class of every Flask-Bastion error. Never raised directly."""


class StoreError(BastionError):
    """A store's backend (SQL database, Redis) could not be reached or failed. Carries no
    data and no URL."""


class ConfigurationError(BastionError, ValueError):
    """A ``BASTION_*`` key is unknown or its value is invalid, or the application's own
    configuration is unsafe for the active profile. Raised by ``init_app``.

    :param key: the configuration key at fault.
    :param message: what is wrong and what would be valid.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


class Rejection(BastionError):
    """Base of the errors that end a request; combined with a werkzeug exception, which
    gives the status code. Never raised directly: a component calls
    :func:`flask_bastion.refusal.refuse`, which sends :attr:`signal` and writes the
    security log line before raising.

    :param reason: a ``REASON_*`` constant of the rejecting module; also the description
        shown on the error page.
    """

    #: The ``event`` field of the security log line.
    event: t.ClassVar[str] = "request.rejected"
    #: The signal sent for each rejection, with ``reason`` and ``status``.
    signal: t.ClassVar[NamedSignal] = signals.request_rejected
    #: The level of the security log line.
    log_level: t.ClassVar[int] = logging.WARNING

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(description=reason)  # type: ignore[call-arg]  # the werkzeug base's


class MalformedRequest(Rejection, BadRequest):
    """The request's path, query string, body or headers cannot be decoded safely."""


class HeadersTooLarge(Rejection, RequestHeaderFieldsTooLarge):
    """The request's headers add up to more than ``BASTION_INPUTS_MAX_HEADER_BYTES``."""


class BodyTooLarge(Rejection, RequestEntityTooLarge):
    """The request body is larger than the limit for its kind."""


class UntrustedHost(Rejection, SecurityError):
    """The request's ``Host`` is not one of ``TRUSTED_HOSTS`` (Flask refused it)."""


class CSRFError(Rejection, Forbidden):
    """An unsafe request failed the cross-site request forgery check."""

    event = "csrf.rejected"
    signal = signals.csrf_rejected


class DebuggerRefused(Rejection, InternalServerError):
    """Werkzeug's debugger is on or wraps the application under the production profile."""

    event = "debugger.refused"
    log_level = logging.CRITICAL


class SessionStoreUnavailable(Rejection, ServiceUnavailable):
    """The session store could not be reached; the request needed its session. The
    response carries ``Retry-After`` (:attr:`RETRY_AFTER` seconds), whether the store
    failed on reading the session or on saving it."""

    event = "session.store_unavailable"
    signal = signals.store_unavailable
    log_level = logging.ERROR
    #: Seconds a client is asked to wait before retrying.
    RETRY_AFTER = 5

    def __init__(
        self, reason: str = "The session store is unavailable; try again shortly."
    ) -> None:
        super().__init__(reason)
        self.retry_after = self.RETRY_AFTER  # werkzeug's ServiceUnavailable sends it


class LockoutStoreUnavailable(Rejection, ServiceUnavailable):
    """The store of the sign-in counters (:mod:`flask_bastion.accounts.throttle`) could
    not be reached. Sign-in fails closed: without its counters, password guessing would be
    unlimited, so no password is checked until the store answers again. The response
    carries ``Retry-After`` (:attr:`RETRY_AFTER` seconds)."""

    event = "lockout.store_unavailable"
    signal = signals.store_unavailable
    log_level = logging.ERROR
    #: Seconds a client is asked to wait before retrying.
    RETRY_AFTER = 5

    def __init__(
        self, reason: str = "Sign-in is unavailable for a moment; try again shortly."
    ) -> None:
        super().__init__(reason)
        self.retry_after = self.RETRY_AFTER  # werkzeug's ServiceUnavailable sends it
