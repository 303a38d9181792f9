"""The exception tree: one root, and HTTP-facing errors that are werkzeug exceptions.

Every error Flask-Bastion raises is a :class:`BastionError`, so an application can catch
them all; those that end a request subclass the matching werkzeug exception as well, so
``@app.errorhandler(403)`` handles a CSRF rejection like any other 403.
"""

from __future__ import annotations

import logging
import types
import typing as t

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    InternalServerError,
    NotFound,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    SecurityError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
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


class HotlinkRefused(Rejection, Forbidden):
    """Another site's page embedded a file of a view protected from hotlinking
    (:mod:`flask_bastion.content`): 403, the :data:`~flask_bastion.signals.hotlink_refused`
    signal and an info log line (hotlinking is abuse of bandwidth, not an attack on
    users, and a popular page that embeds an image would otherwise flood the log).

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.content`.
    :param endpoint: the protected view's endpoint.
    :param origin: the embedding page's origin, ``None`` when unknown; never its path.
    """

    event = "content.hotlink_refused"
    signal = signals.hotlink_refused
    log_level = logging.INFO

    def __init__(self, reason: str, *, endpoint: str | None, origin: str | None) -> None:
        super().__init__(reason)
        self.details = types.MappingProxyType({"endpoint": endpoint, "origin": origin})


class AddressRefused(Rejection, Forbidden):
    """The client address may not use this application or view
    (:mod:`flask_bastion.ipfilter`): it is in a deny list, outside an allow list, or
    banned. Every cause gets the same bare 403 page, so a scanner learns nothing about
    the lists or its ban; the reason goes to the
    :data:`~flask_bastion.signals.ip_refused` signal and the log only.

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.ipfilter`.
    :param ip: the client address as the proxy-trust model settled it.
    :param endpoint: the requested endpoint (``None`` when unrouted).
    """

    event = "ipfilter.refused"
    signal = signals.ip_refused
    log_level = logging.INFO
    #: What the client reads, whatever the reason.
    PAGE_TEXT = "Access is not permitted."

    def __init__(self, reason: str, *, ip: str | None, endpoint: str | None) -> None:
        super().__init__(reason)
        self.description = self.PAGE_TEXT
        self.details = types.MappingProxyType({"ip": ip, "endpoint": endpoint})


class BanStoreUnavailable(StoreUnavailable):
    """The ban store could not be read and ``BASTION_IPFILTER_ON_STORE_FAILURE`` is
    ``'closed'``: 503 with ``Retry-After``."""

    event = "ipfilter.store_unavailable"
    DEFAULT_REASON = "The ban store is unavailable; try again shortly."


class SignedURLInvalid(Rejection, Forbidden):
    """A view that needs a signed URL (:func:`~flask_bastion.content.signed_url_required`)
    was requested without a valid one. Every failure (no signature, a tampered path,
    query or expiry, an expired link, a link made for another user, a rotated-out key)
    gets the very same 403 page, so the response is no oracle; the reason goes to the
    signal and the log only.

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.content`.
    :param endpoint: the refused view's endpoint.
    """

    event = "content.signed_url_invalid"
    signal = signals.signed_url_rejected
    #: What the client reads, whatever the reason.
    PAGE_TEXT = "This link is invalid or has expired."

    def __init__(self, reason: str, *, endpoint: str | None) -> None:
        super().__init__(reason)
        self.description = self.PAGE_TEXT
        self.details = types.MappingProxyType({"endpoint": endpoint})


class UnreadableValue(Rejection, InternalServerError, DecryptionFailed):
    """A value of an encrypted column (:class:`~flask_bastion.crypto.EncryptedText`) did
    not decrypt when its row was loaded: the row was edited or copied in the database, or
    the key that sealed it is gone from ``BASTION_CRYPTO_KEYS``. A
    :class:`DecryptionFailed` as well, so one ``except`` catches every decryption error.

    Unhandled in a view, it is the safe 500 page (the server's data is at fault, not the
    request), saying nothing about the cause; the signal
    (:data:`~flask_bastion.signals.decryption_failed`) and the security log line name the
    table, the column and the row, never the value.
    """

    event = "crypto.decryption_failed"
    signal = signals.decryption_failed
    log_level = logging.ERROR
    #: What the user reads; the log has the rest.
    PAGE_TEXT = "Stored data could not be read. The administrators have been told."

    def __init__(self, reason: str, *, table: str, column: str, row_id: str) -> None:
        super().__init__(reason)
        self.description = self.PAGE_TEXT
        self.details = types.MappingProxyType({"table": table, "column": column, "row_id": row_id})


class UploadRefused(Rejection):
    """Base of the refusals of an uploaded file (:mod:`flask_bastion.uploads`): nothing
    of the request's files is kept, the :data:`~flask_bastion.signals.upload_refused`
    signal is sent and an info line logged. Never raised directly.

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.uploads`.
    :param file_name: the file's name as sent, cut and made printable, when known.
    """

    event = "upload.refused"
    signal = signals.upload_refused
    log_level = logging.INFO

    def __init__(self, reason: str, *, file_name: str | None = None, **details: t.Any) -> None:
        super().__init__(reason)
        self.details = types.MappingProxyType({"file_name": file_name, **details})


class UploadInvalid(UploadRefused, BadRequest):
    """The upload is malformed: not multipart, cut off, a name with a path, a NUL or a
    control character (400)."""


class UploadTooLarge(UploadRefused, RequestEntityTooLarge):
    """A file passed its size limit, the request carried too many files, or the user's
    quota is spent (413)."""


class UploadTypeRefused(UploadRefused, UnsupportedMediaType):
    """A file's extension is not allowed, is of a type a browser may execute, or does not
    match the type of its content or its declared ``Content-Type`` (415)."""


class UploadUnsafe(UploadRefused, UnprocessableEntity):
    """A file's content is refused: an image too large to decode (a decompression bomb)
    or that does not decode, an archive that unpacks too far (a zip bomb) or holds a
    path that climbs out of its folder (422)."""


class MalwareFound(UploadRefused, UnprocessableEntity):
    """ClamAV found malware in a file (422): the
    :data:`~flask_bastion.signals.malware_found` signal, with the signature's name, and
    an error log line."""

    event = "upload.malware"
    signal = signals.malware_found
    log_level = logging.ERROR


class UploadsUnavailable(StoreUnavailable):
    """An upload could not be handled for want of a service: clamd could not be reached,
    timed out or failed (and ``BASTION_UPLOADS_SCAN_FAILURE`` is ``refuse``), or the
    quota counters' database could not be reached. 503 with ``Retry-After``; nothing is
    stored."""

    event = "upload.unavailable"
    DEFAULT_REASON = "Uploads are unavailable; try again shortly."


class RateLimitExceeded(Rejection, TooManyRequests):
    """A client went over a rate limit (:mod:`flask_bastion.ratelimit`): 429 with
    ``Retry-After`` and the ``RateLimit-Policy`` / ``RateLimit`` headers, the
    :data:`~flask_bastion.signals.rate_limited` signal and an info log line (a limit
    that works is not an incident; a flood would otherwise flood the log too).

    :param reason: a ``REASON_*`` constant of :mod:`flask_bastion.ratelimit`.
    :param limit: the limit that refused, such as ``"600/1 minute"``.
    :param scope: what it counts: ``"user"``, ``"ip"``, ``"account"`` or ``"key"``.
    :param endpoint: the refused view's endpoint.
    :param retry_after: seconds until the limit's window ends.
    """

    event = "ratelimit.exceeded"
    signal = signals.rate_limited
    log_level = logging.INFO

    def __init__(
        self, reason: str, *, limit: str, scope: str, endpoint: str | None, retry_after: int
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after  # werkzeug's TooManyRequests sends it
        self.details = types.MappingProxyType(
            {"limit": limit, "scope": scope, "endpoint": endpoint}
        )


class RateLimitStoreUnavailable(StoreUnavailable):
    """The store of the rate-limit counters could not be reached, and a limit of the
    request fails closed (the authentication limits by default): 503 with
    ``Retry-After``."""

    event = "ratelimit.store_unavailable"
    DEFAULT_REASON = "This service is unavailable for a moment; try again shortly."
