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
    "LockoutConfig",
    "MailConfig",
    "PasswordsConfig",
    "ProxyConfig",
    "RatelimitConfig",
    "SessionsConfig",
    "StoresConfig",
    "range_api_url",
    "secret",
]
