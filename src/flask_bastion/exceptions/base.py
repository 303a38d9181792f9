"""The root of the tree, the rejection every refusal is, and the errors of input, forgery,
the debugger guard and the stores."""

from __future__ import annotations

import logging
import types
import typing as t

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    SecurityError,
    ServiceUnavailable,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from .. import signals

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


class DecryptionFailed(BastionError):
    """Something encrypted at rest could not be decrypted (:mod:`flask_bastion.crypto`).
    Raised for every cause alike (unknown key, tampered data, wrong context, malformed
    token), so that the error tells an attacker nothing about which check failed."""

    def __init__(self) -> None:
        super().__init__("The token could not be decrypted.")


class RoleError(BastionError, ValueError):
    """A role or permission name is invalid, a role was never defined, or a role was to
    be given to an anonymous user (:mod:`flask_bastion.authz`)."""


class LastHolderError(RoleError):
    """A role was to be taken from its last holder with ``keep_one``
    (:func:`~flask_bastion.authz.revoke_role`)."""


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
    #: Further keywords of the signal, beyond ``reason`` and ``status``; never a secret.
    details: t.Mapping[str, t.Any] = types.MappingProxyType({})

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(description=reason)  # type: ignore[call-arg]  # the werkzeug base's


class MalformedRequest(Rejection, BadRequest):
    """The request's path, query string, body or headers cannot be decoded safely."""


class UnsupportedBody(Rejection, UnsupportedMediaType):
    """The request body is not of the type the view reads (JSON for
    :func:`~flask_bastion.validation.validate`)."""


class InvalidInput(Rejection, UnprocessableEntity):
    """Fields of the request failed validation (:mod:`flask_bastion.validation`).

    :param errors: field path -> messages; the ``errors`` member of the problem document.
        The signal and the log line carry the field paths only, never a value.
    """

    event = "input.invalid"
    signal = signals.input_rejected
    log_level = logging.INFO

    def __init__(self, reason: str, errors: t.Mapping[str, list[str]]) -> None:
        super().__init__(reason)
        self.errors = dict(errors)
        self.details = types.MappingProxyType({"fields": sorted(self.errors)})


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


class StoreUnavailable(Rejection, ServiceUnavailable):
    """Base of the refusals for a shared store that could not be reached (session store,
    accounts database, brute-force counters): a 503 with ``Retry-After``
    (:attr:`RETRY_AFTER` seconds), the ``store_unavailable`` signal and an error log
    line. Never raised directly."""

    signal = signals.store_unavailable
    log_level = logging.ERROR
    #: Seconds a client is asked to wait before retrying.
    RETRY_AFTER = 5
    #: The text shown when no reason is given.
    DEFAULT_REASON: t.ClassVar[str] = "A store is unavailable; try again shortly."

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.DEFAULT_REASON)
        self.retry_after = self.RETRY_AFTER  # werkzeug's ServiceUnavailable sends it


class SessionStoreUnavailable(StoreUnavailable):
    """The session store could not be reached; the request needed its session. The
    response carries ``Retry-After``, whether the store failed on reading the session or
    on saving it."""

    event = "session.store_unavailable"
    DEFAULT_REASON = "The session store is unavailable; try again shortly."
