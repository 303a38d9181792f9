"""File uploads: size and count limits while the body is read, types decided by the
content, images re-encoded, archives measured, malware scanning, encrypted storage.

Defends against files that harm the server (a body or file larger than the route
allows, a decompression or zip bomb, an archive member named ``../../etc/cron.d/x``, a
name that becomes a path), files that harm other users (an HTML page, SVG or script
served from this origin runs with its cookies; an image that is also a page, a
polyglot; malware), and leaks (the GPS position in a photo's EXIF, files readable on
disk). ::

    from flask_bastion.uploads import accepts_uploads, save_uploads, send_upload

    @app.post("/notes/<note_id>/attachments")
    @accepts_uploads(max_file_size=5_000_000, max_files=3)
    def attach(note_id):
        for stored in save_uploads("file", user_id=current_user.get_id()):
            ...  # keep stored.name, stored.original_name, stored.content_type, stored.size

The :class:`Uploads` component (input stage) applies the per-route limits while
werkzeug reads the body (:mod:`.component`); :func:`save_uploads` checks, scans and
stores (:mod:`.pipeline`); :func:`open_upload`, :func:`send_upload` and
:func:`delete_upload` read, serve and remove what it stored (:mod:`.stored`);
:mod:`.types`, :mod:`.content` and :mod:`.scanner` hold the checks and the clamd client.
See ``docs/uploads.md``.
"""

from __future__ import annotations

from .component import (
    ACCEPTS_UPLOADS,
    REASON_BAD_NAME,
    REASON_FILE_TOO_LARGE,
    REASON_TOO_MANY_FILES,
    RouteLimits,
    Uploads,
    accepts_uploads,
)
from .content import (
    REASON_ARCHIVE_BOMB,
    REASON_ARCHIVE_BROKEN,
    REASON_ARCHIVE_ENCRYPTED,
    REASON_ARCHIVE_LINK,
    REASON_ARCHIVE_MEMBERS,
    REASON_ARCHIVE_PATH,
    REASON_IMAGE_BOMB,
    REASON_IMAGE_BROKEN,
)
from .pipeline import (
    REASON_BODY,
    REASON_DECLARED_TYPE,
    REASON_EXECUTABLE,
    REASON_EXTENSION,
    REASON_MALWARE,
    REASON_NO_FILE,
    REASON_NOT_MULTIPART,
    REASON_POLYGLOT,
    REASON_QUOTA,
    REASON_QUOTA_STORE,
    REASON_REQUEST_TOO_LARGE,
    REASON_SCANNER,
    REASON_TYPE_MISMATCH,
    StoredUpload,
    save_uploads,
)
from .scanner import Clamd, ScanError
from .stored import DOWNLOAD_HEADERS, delete_upload, forget_user, open_upload, send_upload

__all__ = [
    "ACCEPTS_UPLOADS",
    "DOWNLOAD_HEADERS",
    "REASON_ARCHIVE_BOMB",
    "REASON_ARCHIVE_BROKEN",
    "REASON_ARCHIVE_ENCRYPTED",
    "REASON_ARCHIVE_LINK",
    "REASON_ARCHIVE_MEMBERS",
    "REASON_ARCHIVE_PATH",
    "REASON_BAD_NAME",
    "REASON_BODY",
    "REASON_DECLARED_TYPE",
    "REASON_EXECUTABLE",
    "REASON_EXTENSION",
    "REASON_FILE_TOO_LARGE",
    "REASON_IMAGE_BOMB",
    "REASON_IMAGE_BROKEN",
    "REASON_MALWARE",
    "REASON_NOT_MULTIPART",
    "REASON_NO_FILE",
    "REASON_POLYGLOT",
    "REASON_QUOTA",
    "REASON_QUOTA_STORE",
    "REASON_REQUEST_TOO_LARGE",
    "REASON_SCANNER",
    "REASON_TOO_MANY_FILES",
    "REASON_TYPE_MISMATCH",
    "Clamd",
    "RouteLimits",
    "ScanError",
    "StoredUpload",
    "Uploads",
    "accepts_uploads",
    "delete_upload",
    "forget_user",
    "open_upload",
    "save_uploads",
    "send_upload",
]
