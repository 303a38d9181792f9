"""Flask-Bastion: make a Flask application secure by default with one line.

::

    from flask import Flask
    from flask_bastion import Bastion

    app = Flask(__name__)
    Bastion(app)
"""

from __future__ import annotations

from .config import BastionConfig
from .content import hotlink_protected, noindex, signed_url, signed_url_required
from .csp import csp, csp_nonce
from .csrf import csrf_exempt, csrf_token, rotate_csrf_secret, validate_csrf
from .errors import problem_json
from .exceptions import (
    BastionError,
    ConfigurationError,
    CSRFError,
    HeadersTooLarge,
    MailUnavailable,
    MalformedRequest,
    RateLimitExceeded,
)
from .extension import Bastion, BastionState, get_state
from .headers import no_store, security_headers
from .https import https_exempt
from .ipfilter import ip_allow, ip_deny
from .mail import external_url, send_mail
from .ratelimit import auth_limited, exempt, limit, page_budget
from .sri import sri

__all__ = [
    "Bastion",
    "BastionConfig",
    "BastionError",
    "BastionState",
    "CSRFError",
    "ConfigurationError",
    "HeadersTooLarge",
    "MailUnavailable",
    "MalformedRequest",
    "RateLimitExceeded",
    "auth_limited",
    "csp",
    "csp_nonce",
    "csrf_exempt",
    "csrf_token",
    "exempt",
    "external_url",
    "get_state",
    "hotlink_protected",
    "https_exempt",
    "ip_allow",
    "ip_deny",
    "limit",
    "no_store",
    "noindex",
    "page_budget",
    "problem_json",
    "rotate_csrf_secret",
    "security_headers",
    "send_mail",
    "signed_url",
    "signed_url_required",
    "sri",
    "validate_csrf",
]
