"""Configuration of content protection: hotlinking, signed URLs and ``X-Robots-Tag``
(``content/``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import (
    boolean,
    endpoint_patterns,
    int_range,
    origins,
    path_prefixes,
    robots_tag,
    setting,
)

#: The longest lifetime of a signed URL, in seconds: one year.
MAX_SIGNED_URL_LIFETIME = 365 * 86_400


@dataclass(frozen=True)
class ContentConfig:
    """Hotlink protection, signed expiring URLs and private areas (``content/``)."""

    hotlink_protection: bool = setting(
        True,
        boolean,
        "Refuse (403) image, video, audio, font and subtitle requests for the protected "
        "endpoints that another site's page makes (Sec-Fetch-Site, else Referer).",
        danger="False",
    )
    hotlink_endpoints: tuple[str, ...] = setting(
        ("static", "*.static"),
        endpoint_patterns,
        "Endpoints protected from hotlinking besides the views marked @hotlink_protected; "
        "'*' matches any characters ('*.static' is every blueprint's static files).",
    )
    hotlink_allow: tuple[str, ...] = setting(
        (),
        origins,
        "Partner origins whose pages may embed the protected files, such as "
        "'https://partner.example'; their responses get Cross-Origin-Resource-Policy: "
        "cross-origin.",
        danger="it holds wildcards",
    )
    signed_url_expires: int = setting(
        3600,
        int_range(1, MAX_SIGNED_URL_LIFETIME),
        "Seconds a signed_url() stays valid when the call gives no expires_in.",
    )
    robots_tag: str | None = setting(
        "noindex, nofollow",
        robots_tag,
        "X-Robots-Tag of private responses: those of @private views and blueprints, of "
        "noindex_paths, and (with noindex_signed_in) every response to a signed-in user. "
        "None sends none.",
    )
    noindex_signed_in: bool = setting(
        True,
        boolean,
        "Send robots_tag on every response to a signed-in user's request (session or "
        "bearer token).",
    )
    noindex_paths: tuple[str, ...] = setting(
        (),
        path_prefixes,
        "URL path prefixes whose responses always get robots_tag, such as '/admin' (which "
        "covers /admin and /admin/..., not /administrator).",
    )
