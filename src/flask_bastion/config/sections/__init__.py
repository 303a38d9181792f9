"""The configuration sections: one frozen dataclass per protection module."""

from __future__ import annotations

from .accounts import (
    ACCOUNT_FEATURES,
    AccountsConfig,
    PasswordsConfig,
    range_api_url,
    secret,
)
from .content import (
    MAX_SIGNED_URL_LIFETIME,
    ContentConfig,
)
from .ipfilter import (
    MAX_BAN_SECONDS,
    IpfilterConfig,
)
from .ratelimit import (
    RatelimitConfig,
)
from .services import (
    MAX_CONSECUTIVE_FAILURES,
    CryptoConfig,
    LockoutConfig,
    MailConfig,
)
from .state import (
    SessionsConfig,
    StoresConfig,
)
from .uploads import (
    EXECUTABLE_EXTENSIONS,
    KNOWN_EXTENSIONS,
    UploadsConfig,
)
from .web import (
    DEFAULT_CSP,
    DEFAULT_PERMISSIONS_POLICY,
    DEVELOPMENT,
    MAX_SESSION_TIMEOUT,
    MAX_STORE_TIMEOUT,
    PRODUCTION,
    CoreConfig,
    CspConfig,
    CsrfConfig,
    ErrorsConfig,
    HeadersConfig,
    HttpsConfig,
    InputsConfig,
    ProxyConfig,
)

__all__ = [
    "ACCOUNT_FEATURES",
    "DEFAULT_CSP",
    "DEFAULT_PERMISSIONS_POLICY",
    "DEVELOPMENT",
    "EXECUTABLE_EXTENSIONS",
    "KNOWN_EXTENSIONS",
    "MAX_BAN_SECONDS",
    "MAX_CONSECUTIVE_FAILURES",
    "MAX_SESSION_TIMEOUT",
    "MAX_SIGNED_URL_LIFETIME",
    "MAX_STORE_TIMEOUT",
    "PRODUCTION",
    "AccountsConfig",
    "ContentConfig",
    "CoreConfig",
    "CryptoConfig",
    "CspConfig",
    "CsrfConfig",
    "ErrorsConfig",
    "HeadersConfig",
    "HttpsConfig",
    "InputsConfig",
    "IpfilterConfig",
    "LockoutConfig",
    "MailConfig",
    "PasswordsConfig",
    "ProxyConfig",
    "RatelimitConfig",
    "SessionsConfig",
    "StoresConfig",
    "UploadsConfig",
    "range_api_url",
    "secret",
]
