"""Content protection: hotlinking, signed expiring URLs and private areas.

Defends the application's files and private pages against other sites and other
people: another site embedding our images, video, audio and fonts in its pages
(:mod:`.hotlink`); a download link copied to someone who should not have it, or kept
past its time (:mod:`.signed`); private pages listed by search engines (:mod:`.private`).

::

    from flask_bastion.content import hotlink_protected, noindex, signed_url, signed_url_required

    @app.get("/media/<int:media_id>")
    @hotlink_protected                  # like Flask's static, which is protected by default
    def media(media_id): ...

    @app.get("/files/<int:file_id>")
    @signed_url_required                # 403 unless the URL came from signed_url()
    def download(file_id): ...

    link = signed_url("download", file_id=7, expires_in=600, user=current_user)

Two components: :class:`HotlinkProtection` at the filter stage, before rate limits and
sessions matter, and :class:`PrivateContent` at the authorization stage, once the user
is known. See ``docs/content.md``.
"""

from __future__ import annotations

from .hotlink import (
    EMBEDDING_DESTINATIONS,
    MEDIA_DESTINATIONS,
    MEDIA_EXTENSIONS,
    PROTECTED,
    REASON_CROSS_SITE,
    REASON_FOREIGN_REFERER,
    HotlinkProtection,
    hotlink_protected,
    share_with_partner,
)
from .private import NOINDEX, ROBOTS_HEADER, PrivateContent, noindex
from .signed import (
    BOUND_PARAM,
    EXPIRES_PARAM,
    REASON_BAD_SIGNATURE,
    REASON_EXPIRED,
    REASON_MALFORMED,
    RESERVED_PARAMS,
    SALT,
    SIGNATURE_PARAM,
    SIGNED,
    signed_url,
    signed_url_required,
    verify_signed_url,
)

__all__ = [
    "BOUND_PARAM",
    "EMBEDDING_DESTINATIONS",
    "EXPIRES_PARAM",
    "MEDIA_DESTINATIONS",
    "MEDIA_EXTENSIONS",
    "NOINDEX",
    "PROTECTED",
    "REASON_BAD_SIGNATURE",
    "REASON_CROSS_SITE",
    "REASON_EXPIRED",
    "REASON_FOREIGN_REFERER",
    "REASON_MALFORMED",
    "RESERVED_PARAMS",
    "ROBOTS_HEADER",
    "SALT",
    "SIGNATURE_PARAM",
    "SIGNED",
    "HotlinkProtection",
    "PrivateContent",
    "hotlink_protected",
    "noindex",
    "share_with_partner",
    "signed_url",
    "signed_url_required",
    "verify_signed_url",
]
