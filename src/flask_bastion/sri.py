"""Subresource Integrity: ``integrity`` hashes for the application's own static files.

The CSP decides which ``<script>`` and ``<link>`` elements may load; Subresource
Integrity (W3C SRI) decides which bytes they may load. The page names the SHA-384 digest
of each file, and the browser refuses a script or stylesheet whose content differs: one
altered by a CDN or caching proxy in front of the application, by a static-file server
that serves a different copy than the one the application hashed, or left stale by a
half-finished deploy. It does not help when an attacker can write to the static folder
the application reads, since the digest is then computed from the altered file.

Templates get the digest from the ``sri()`` Jinja global::

    <script src="{{ url_for('static', filename='app.js') }}"
            integrity="{{ sri('app.js') }}" nonce="{{ csp_nonce() }}"></script>

Each file is read and hashed once, then again only when it changes: every call costs one
``stat``, and a new digest is computed when the file's inode, size, modification or
change time differs. A file edited during development, or replaced by a deploy while the
process runs, is never served with its old digest (a stale digest makes the browser block
the file for every visitor). See docs/csp.md.
"""

from __future__ import annotations

import base64
import hashlib
import os
from stat import S_ISREG

from flask import current_app
from werkzeug.security import safe_join

#: The digest algorithm: the strongest one every browser supports (W3C SRI section 3.2).
ALGORITHM = "sha384"

#: What identifies one version of a file: inode, size, modification and change time.
_Version = tuple[int, int, int, int]

#: Static file path -> (version, integrity value). Only files that exist inside a static
#: folder are ever added, so the cache is no larger than the static folders. A race
#: between two first renders costs one extra read, never a wrong digest.
_cache: dict[str, tuple[_Version, str]] = {}


def _version(stat: os.stat_result) -> _Version:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def sri(filename: str, *, blueprint: str | None = None) -> str:
    """The ``integrity`` value (``sha384-<base64>``) of a static file of the current app.

    :param filename: the path inside the static folder, as given to
        ``url_for('static', filename=...)``.
    :param blueprint: take the file from this blueprint's static folder instead of the
        application's.
    :raises ValueError: when ``filename`` leaves the static folder (``../``, an absolute
        path) or there is no such static folder.
    :raises FileNotFoundError: when the static folder holds no such file.

    .. versionadded:: 0.1
    """
    owner = current_app if blueprint is None else current_app.blueprints.get(blueprint)
    folder = owner.static_folder if owner is not None else None
    if folder is None:
        where = "the application" if blueprint is None else f"blueprint {blueprint!r}"
        raise ValueError(f"sri({filename!r}): {where} has no static folder.")
    # The same resolution as Flask's static route, so the digest is of the file served.
    path = safe_join(folder, filename)
    if path is None:
        raise ValueError(f"sri({filename!r}): the path leaves the static folder {folder}.")
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        found = None
    if found is None or not S_ISREG(found.st_mode):
        raise FileNotFoundError(f"sri({filename!r}): no such file in the static folder {folder}.")
    cached = _cache.get(path)
    if cached is not None and cached[0] == _version(found):
        return cached[1]
    with open(path, "rb") as file:
        # The version of the file actually read: a replacement after the stat above is
        # then noticed by the next call instead of hiding behind the older version.
        version = _version(os.fstat(file.fileno()))
        digest = hashlib.file_digest(file, ALGORITHM).digest()
    value = f"{ALGORITHM}-{base64.b64encode(digest).decode('ascii')}"
    _cache[path] = (version, value)
    return value
