"""Refusals of what is asked for: hotlinks, addresses, signed URLs, unreadable values,
uploads and rate limits."""

from __future__ import annotations

import logging
import types
import typing as t

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    InternalServerError,
    RequestEntityTooLarge,
    TooManyRequests,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from .. import signals

if t.TYPE_CHECKING:
    pass


from .base import DecryptionFailed, Rejection, StoreUnavailable


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
