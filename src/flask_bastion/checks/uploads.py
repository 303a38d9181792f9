"""Upload checks (``16x``): uploads without a malware scanner, a scanner whose failure
lets files through, stored files in the static folder, and loosened file handling.

An upload view is the one place where anyone with an account puts bytes of their choice
on the server and in front of other users: every loosened default here is a file that
reaches them unscanned, unchecked or readable on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from ..markers import marked_views
from ..uploads import ACCEPTS_UPLOADS
from .registry import ERROR, WARNING, CheckMessage, message, register

E160 = message(
    ERROR,
    "Views accept uploads and no malware scanner is configured (BASTION_UPLOADS_CLAMD_URL).",
    "Every uploaded file then reaches the users who download it unscanned. Run clamd "
    "(Debian's clamav-daemon) and set BASTION_UPLOADS_CLAMD_URL to tcp://host:port or "
    "unix:///path.",
    "bastion.E160",
    settings=("BASTION_UPLOADS_CLAMD_URL",),
)
W161 = message(
    WARNING,
    "BASTION_UPLOADS_SCAN_FAILURE is 'accept': files are stored unscanned while clamd is down.",
    "An attacker who can slow or stop the scanner (a flood of large uploads) gets malware "
    "stored. Keep 'refuse' (503 until clamd answers).",
    "bastion.W161",
    settings=("BASTION_UPLOADS_SCAN_FAILURE",),
)
E162 = message(
    ERROR,
    "BASTION_UPLOADS_FOLDER is inside a static folder.",
    "Files there are served by the static route: by their stored name, without "
    "authorization, Content-Disposition or the sandbox CSP. Keep uploads outside every "
    "static folder (the default is the instance folder).",
    "bastion.E162",
    settings=("BASTION_UPLOADS_FOLDER",),
)
W163 = message(
    WARNING,
    "Uploaded files are stored unencrypted (BASTION_UPLOADS_ENCRYPT is False).",
    "A copy of the disk or a backup then shows every user's files. Keep encryption on; "
    "`flask bastion rotate-keys` re-encrypts them under a new key.",
    "bastion.W163",
    settings=("BASTION_UPLOADS_ENCRYPT",),
)
W164 = message(
    WARNING,
    "BASTION_UPLOADS_ALLOW_EXECUTABLE accepts types a browser may execute.",
    "HTML, SVG, XML and JavaScript run as pages when opened from this origin; programs run "
    "on the machines that download them. Serve such files only as downloads, from another "
    "origin.",
    "bastion.W164",
    settings=("BASTION_UPLOADS_ALLOW_EXECUTABLE",),
)
W165 = message(
    WARNING,
    "Images are stored as sent (BASTION_UPLOADS_REENCODE_IMAGES is False).",
    "Their EXIF metadata (GPS position, camera, owner) reaches whoever downloads them, and a "
    "polyglot the marker check misses survives. Keep re-encoding on.",
    "bastion.W165",
    settings=("BASTION_UPLOADS_REENCODE_IMAGES",),
)
W166 = message(
    WARNING,
    "Users have no storage quota (BASTION_UPLOADS_QUOTA is 0).",
    "One account can fill the disk, for every user and the database beside them.",
    "bastion.W166",
    settings=("BASTION_UPLOADS_QUOTA",),
)


def _upload_views(app: Flask) -> bool:
    return any(view.get(ACCEPTS_UPLOADS) for view in marked_views(app))


@register(deploy=True)
def check_scanner(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if config.uploads.clamd_url or config.development:
        return []
    return [E160] if _upload_views(app) else []


@register()
def check_scan_failure(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W161] if config.uploads.scan_failure == "accept" else []


@register()
def check_folder(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    folder = os.path.realpath(config.uploads.folder or os.path.join(app.instance_path, "uploads"))
    statics = [app.static_folder, *(bp.static_folder for bp in app.iter_blueprints())]
    for static in filter(None, statics):
        static = os.path.realpath(static)
        if os.path.commonpath([folder, static]) == static:
            return [E162]
    return []


@register()
def check_encrypt(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.uploads.encrypt else [W163]


@register()
def check_executable(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W164] if config.uploads.allow_executable else []


@register()
def check_reencode(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.uploads.reencode_images else [W165]


@register(deploy=True)
def check_quota(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W166] if config.uploads.quota == 0 and _upload_views(app) else []
