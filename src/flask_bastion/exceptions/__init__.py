"""The exception tree: one root, and HTTP-facing errors that are werkzeug exceptions.

Every error Flask-Bastion raises is a :class:`BastionError`, so an application can catch
them all; those that end a request subclass the matching werkzeug exception as well, so
``@app.errorhandler(403)`` handles a CSRF rejection like any other 403.
"""

from __future__ import annotations

from .access import (
    AccessDenied,
    AccountsUnavailable,
    Denied,
    InvalidToken,
    LockoutStoreUnavailable,
    MailUnavailable,
    ObjectDenied,
)
from .base import (
    BastionError,
    BodyTooLarge,
    ConfigurationError,
    CSRFError,
    DebuggerRefused,
    DecryptionFailed,
    HeadersTooLarge,
    InvalidInput,
    LastHolderError,
    MalformedRequest,
    Rejection,
    RoleError,
    SessionStoreUnavailable,
    StoreError,
    StoreUnavailable,
    UnsupportedBody,
    UntrustedHost,
)
from .content import (
    AddressRefused,
    BanStoreUnavailable,
    HotlinkRefused,
    MalwareFound,
    RateLimitExceeded,
    RateLimitStoreUnavailable,
    SignedURLInvalid,
    UnreadableValue,
    UploadInvalid,
    UploadRefused,
    UploadsUnavailable,
    UploadTooLarge,
    UploadTypeRefused,
    UploadUnsafe,
)

__all__ = [
    "AccessDenied",
    "AccountsUnavailable",
    "AddressRefused",
    "BanStoreUnavailable",
    "BastionError",
    "BodyTooLarge",
    "CSRFError",
    "ConfigurationError",
    "DebuggerRefused",
    "DecryptionFailed",
    "Denied",
    "HeadersTooLarge",
    "HotlinkRefused",
    "InvalidInput",
    "InvalidToken",
    "LastHolderError",
    "LockoutStoreUnavailable",
    "MailUnavailable",
    "MalformedRequest",
    "MalwareFound",
    "ObjectDenied",
    "RateLimitExceeded",
    "RateLimitStoreUnavailable",
    "Rejection",
    "RoleError",
    "SessionStoreUnavailable",
    "SignedURLInvalid",
    "StoreError",
    "StoreUnavailable",
    "UnreadableValue",
    "UnsupportedBody",
    "UntrustedHost",
    "UploadInvalid",
    "UploadRefused",
    "UploadTooLarge",
    "UploadTypeRefused",
    "UploadUnsafe",
    "UploadsUnavailable",
]
