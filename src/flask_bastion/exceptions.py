"""The exception tree: one root, and HTTP-facing errors that are werkzeug exceptions.

Every error Flask-Bastion raises is a :class:`BastionError`, so an application can catch
them all; those that end a request subclass the matching werkzeug exception as well, so
``@app.errorhandler(403)`` handles a CSRF rejection like any other 403.
"""

from __future__ import annotations

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    ServiceUnavailable,
)


class BastionError(Exception):
    """Base class of every Flask-Bastion error. Never raised directly."""


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
    gives the status code. Never raised directly.

    :param reason: a ``REASON_*`` constant of the rejecting module; also the description
        shown on the error page.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(description=reason)  # type: ignore[call-arg]  # the werkzeug base's


class MalformedRequest(Rejection, BadRequest):
    """The request's path, query string, body or headers cannot be decoded safely."""


class HeadersTooLarge(Rejection, RequestHeaderFieldsTooLarge):
    """The request's headers add up to more than ``BASTION_INPUTS_MAX_HEADER_BYTES``."""


class BodyTooLarge(Rejection, RequestEntityTooLarge):
    """The request body is larger than the limit for its kind."""


class CSRFError(Rejection, Forbidden):
    """An unsafe request failed the cross-site request forgery check."""


class DebuggerRefused(Rejection, InternalServerError):
    """Werkzeug's debugger is on or wraps the application under the production profile."""


class SessionStoreUnavailable(Rejection, ServiceUnavailable):
    """The session store could not be reached; the request needed its session."""

    def __init__(
        self, reason: str = "The session store is unavailable; try again shortly."
    ) -> None:
        super().__init__(reason)
