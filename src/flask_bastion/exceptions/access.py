"""Refusals of who is asking: bearer tokens, accounts and mail, roles and object policies."""

from __future__ import annotations

import logging
import types
import typing as t

from werkzeug.exceptions import (
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)

from .. import signals

if t.TYPE_CHECKING:
    pass


from .base import Rejection, StoreUnavailable


class InvalidToken(Rejection, Unauthorized):
    """A request's ``Authorization: Bearer`` token is malformed, unknown, expired or
    revoked; the response asks for a valid one (RFC 6750 ``error="invalid_token"``), and
    says nothing about which of these it was."""

    event = "token.rejected"

    def __init__(self, reason: str = "The access token is invalid or has expired.") -> None:
        super().__init__(reason)
        self.www_authenticate = [_bearer_challenge()]


def _bearer_challenge() -> t.Any:
    from werkzeug.datastructures import WWWAuthenticate

    return WWWAuthenticate("bearer", {"error": "invalid_token"})


class AccountsUnavailable(StoreUnavailable):
    """The accounts database could not be reached: sign-in and the account pages answer
    503 with ``Retry-After`` rather than guess."""

    event = "accounts.store_unavailable"
    DEFAULT_REASON = "Accounts are unavailable; try again shortly."


class MailUnavailable(Rejection, ServiceUnavailable):
    """An email could not be sent: the server could not be reached, did not answer in
    time, failed TLS, refused the credentials or refused the message, or the background
    queue was full. Unhandled in a view, it is a 503 page saying to try again later.

    :param reason: the kind of failure (a ``REASON_*`` constant of
        :mod:`flask_bastion.mail`), sent with :data:`~flask_bastion.signals.mail_failed`
        and logged; never the message, the address or the server's answer.
    :param subject: the message's subject, sent with the signal.
    """

    event = "mail.failed"
    signal = signals.mail_failed
    log_level = logging.ERROR
    #: What the user reads; the reason is for the log.
    PAGE_TEXT = "We could not send the email right now. Try again in a few minutes."
    #: Seconds a client is asked to wait before retrying.
    RETRY_AFTER = 60

    def __init__(self, reason: str, *, subject: str = "") -> None:
        super().__init__(reason)
        self.description = self.PAGE_TEXT
        self.details = types.MappingProxyType({"subject": subject})
        self.retry_after = self.RETRY_AFTER  # werkzeug's ServiceUnavailable sends it


class LockoutStoreUnavailable(StoreUnavailable):
    """The store of the sign-in counters (:mod:`flask_bastion.accounts.throttle`) could
    not be reached. Sign-in fails closed: without its counters, password guessing would be
    unlimited, so no password is checked until the store answers again. The response
    carries ``Retry-After`` (:attr:`RETRY_AFTER` seconds)."""

    event = "lockout.store_unavailable"
    DEFAULT_REASON = "Sign-in is unavailable for a moment; try again shortly."


class Denied(Rejection):
    """Base of the authorization refusals (:mod:`flask_bastion.authz`). Never raised
    directly.

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.authz`.
    :param endpoint: the refused view's endpoint, sent with the signal and logged.
    :param action: the refused object action, ``None`` for a view decorator.
    :param user_id: the user's ID, ``None`` when anonymous.
    """

    event = "authz.denied"
    signal = signals.access_denied

    def __init__(
        self,
        reason: str,
        *,
        endpoint: str | None,
        action: str | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        # What the signal and the log line carry: never the object.
        self.details = types.MappingProxyType(
            {"endpoint": endpoint, "action": action, "user_id": user_id}
        )


class AccessDenied(Denied, Forbidden):
    """The signed-in user lacks a role or a permission a view needs
    (:func:`~flask_bastion.authz.roles_required` and its kin): 403."""


class ObjectDenied(Denied, NotFound):
    """No rule of the object policy lets the current user act on an object
    (:func:`~flask_bastion.authz.authorize`). Answered with the very page of a missing
    object (werkzeug's 404), so a refusal does not tell that the object exists; the
    reason goes to the log only."""

    def __init__(self, reason: str, **where: t.Any) -> None:
        super().__init__(reason, **where)
        self.description = NotFound.description
