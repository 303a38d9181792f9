"""Content checks (``15x``): hotlink protection off or loosened, signed URLs under a
weak key or with a long life, and private pages left indexable.

Hotlinking costs bandwidth and lends the application's files to another site's pages;
an allowlist entry that can never match is a partner whose pages break without anyone
seeing why. A signed URL is only as strong as ``SECRET_KEY``: one link gives an
attacker an HMAC to brute-force the key offline, and then every download link.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask

from ..config import BastionConfig
from ..content import SIGNED
from ..markers import marked_views
from .core import MIN_SECRET_KEY_LENGTH
from .registry import ERROR, WARNING, CheckMessage, message, register

#: Longest default lifetime of a signed URL without a warning: one day.
MAX_QUIET_LIFETIME = 86_400
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

W150 = message(
    WARNING,
    "Hotlink protection is off (BASTION_CONTENT_HOTLINK_PROTECTION).",
    "Any site can then embed the application's images, video, audio and fonts in its own "
    "pages, on the application's bandwidth. Keep it on; list partners in "
    "BASTION_CONTENT_HOTLINK_ALLOW.",
    "bastion.W150",
    settings=("BASTION_CONTENT_HOTLINK_PROTECTION",),
)
W151 = message(
    WARNING,
    "BASTION_CONTENT_HOTLINK_ALLOW contains a wildcard.",
    "Every matching subdomain may embed the protected files, including one that serves "
    "user content or was taken over. List the exact partner origins.",
    "bastion.W151",
    settings=("BASTION_CONTENT_HOTLINK_ALLOW",),
)
W152 = message(
    WARNING,
    "BASTION_CONTENT_HOTLINK_ALLOW contains an entry that is not an origin and matches no page.",
    "Write each partner as scheme://host[:port], with '*' only as a whole leftmost label "
    "('https://*.example.org'), a port from 1 to 65535 and valid host labels.",
    "bastion.W152",
    settings=("BASTION_CONTENT_HOTLINK_ALLOW",),
)
E153 = message(
    ERROR,
    "A view needs signed URLs and SECRET_KEY or a key of SECRET_KEY_FALLBACKS is shorter "
    f"than {MIN_SECRET_KEY_LENGTH} characters.",
    "One signed link is enough to brute-force a short key offline, and the key then signs "
    "any download link for anyone; a fallback key verifies links as SECRET_KEY does. Use "
    "`flask bastion generate-secret`, and drop a short fallback once its links expired.",
    "bastion.E153",
    settings=("SECRET_KEY",),
)
W154 = message(
    WARNING,
    "BASTION_CONTENT_SIGNED_URL_EXPIRES is longer than one day.",
    "A copied or leaked download link stays valid that long. Keep the default lifetime "
    "short and pass expires_in to signed_url() where a link must live longer.",
    "bastion.W154",
    settings=("BASTION_CONTENT_SIGNED_URL_EXPIRES",),
)
W155 = message(
    WARNING,
    "Static files are not protected from hotlinking: BASTION_CONTENT_HOTLINK_ENDPOINTS "
    "leaves out a static endpoint.",
    "Keep 'static' and '*.static' in BASTION_CONTENT_HOTLINK_ENDPOINTS, or silence this "
    "check for a site whose static files are meant to be embedded.",
    "bastion.W155",
    settings=("BASTION_CONTENT_HOTLINK_ENDPOINTS",),
)
W156 = message(
    WARNING,
    "Private pages are indexable: BASTION_CONTENT_ROBOTS_TAG is None.",
    "Pages of signed-in users and @noindex views then carry no X-Robots-Tag, and a leaked "
    "link can land in a search index. Keep 'noindex, nofollow'.",
    "bastion.W156",
    settings=("BASTION_CONTENT_ROBOTS_TAG",),
)


@register(deploy=True)
def check_hotlink_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.content.hotlink_protection else [W150]


@register()
def check_hotlink_wildcard(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W151] if any("*" in entry for entry in config.content.hotlink_allow) else []


@register()
def check_hotlink_origins(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if all(map(is_origin, config.content.hotlink_allow)) else [W152]


@register(deploy=True)
def check_signed_url_key(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # E001 reports a missing SECRET_KEY. Every fallback verifies links (signed.py), so a
    # short one is as good as a short SECRET_KEY to a forger.
    keys = [app.config.get("SECRET_KEY"), *(app.config.get("SECRET_KEY_FALLBACKS") or ())]
    if not any(key and len(key) < MIN_SECRET_KEY_LENGTH for key in keys):
        return []
    return [E153] if any(view.get(SIGNED) for view in marked_views(app)) else []


@register()
def check_signed_url_lifetime(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W154] if config.content.signed_url_expires > MAX_QUIET_LIFETIME else []


@register()
def check_static_protected(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.content.hotlink_protection:  # W150 reports the whole application
        return []
    patterns = config.content.hotlink_endpoints
    static = [e for e in app.view_functions if e == "static" or e.endswith(".static")]
    covered = all(any(fnmatch.fnmatchcase(e, p) for p in patterns) for e in static)
    return [] if covered else [W155]


@register(deploy=True)
def check_robots_tag(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W156] if config.content.robots_tag is None else []


def is_origin(entry: str) -> bool:
    """Whether ``entry`` (already lower case, as the configuration holds it) is an
    origin that some page can have: ``http(s)://host[:port]``, the host a DNS name (with
    ``*`` only as its whole leftmost label) or an IP literal, the port from 1 to 65535."""
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:  # a port out of range or an unbalanced "["
        return False
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or port == 0 or parts.path or not host:
        return False
    if parts.netloc.startswith("["):
        try:
            return ipaddress.ip_address(host).version == 6
        except ValueError:
            return False
    # A wildcard over a public suffix ("*.org", "*.co.uk") never gets here: the
    # configuration refuses it.
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return all(_LABEL_RE.fullmatch(label) for label in labels)
