"""Stored uploads once :func:`~.pipeline.save_uploads` has written them: opened
(decrypted as they are read), sent as downloads a browser never renders, deleted with
their bytes given back to the quota.

A stored name is checked against the form :func:`~.pipeline.save_uploads` gives it
before it touches the disk, so a name from a request or a database row cannot climb out
of the folder. A file that does not decrypt (moved over another name, changed, or its
key gone from the ring) is reported with the ``decryption_failed`` signal and a security
log line, and the user sees the safe 500 page. A download says ``nosniff``,
``Content-Security-Policy: sandbox`` and ``Content-Disposition: attachment`` under a name
fit for the header.
"""

from __future__ import annotations

import io
import re
import shutil
import typing as t
import unicodedata
from pathlib import Path

from flask import Response, send_file
from werkzeug.exceptions import NotFound

from ..crypto import DecryptingReader, DecryptionFailed
from ..crypto.columns import report_unreadable_at
from .component import SUFFIX, Uploads, current_uploads, stored_context, user_folder
from .types import REFUSED_CATEGORIES

_STORED_NAME = re.compile(r"(?:shared|u[0-9a-f]{24})/[A-Za-z0-9_-]{24}" + re.escape(SUFFIX))


def _path(component: Uploads, name: str) -> Path:
    if not _STORED_NAME.fullmatch(name):
        raise ValueError("not a stored upload name")
    return component.folder / name


def open_upload(name: str) -> t.BinaryIO:
    """A readable binary file of the stored upload ``name`` (decrypted as it is read).

    :raises ValueError: for a name :func:`~.pipeline.save_uploads` never makes.
    :raises FileNotFoundError: when it is gone.
    :raises ~flask_bastion.exceptions.UnreadableValue: (a :class:`DecryptionFailed`)
        when it was moved, changed or its key is gone; reported with the
        ``decryption_failed`` signal and a security log line naming the stored file.
    """
    _app, component = current_uploads()
    src = _path(component, name).open("rb")
    if not component.config.encrypt:
        return t.cast(t.BinaryIO, src)
    try:
        reader = DecryptingReader(src, context=stored_context(name))
    except DecryptionFailed:
        # Moved over another name, changed, or its key left the ring: the operator
        # must hear of it (signal, security log), the user sees the safe 500 page.
        src.close()
        raise report_unreadable_at(UNREADABLE_PLACE, "file", name) from None
    except BaseException:
        src.close()
        raise
    return t.cast(t.BinaryIO, _Owning(reader, src, name))


#: The ``table`` an unreadable stored file is reported under (its ``row_id`` is the
#: stored name).
UNREADABLE_PLACE = "uploads"


class _Owning(io.BufferedReader):
    """A buffered reader of decrypted content that closes the stored file with itself,
    and reports a chunk that fails (a file cut short or changed further on)."""

    def __init__(self, reader: DecryptingReader, src: t.BinaryIO, name: str) -> None:
        super().__init__(reader, buffer_size=reader.chunk_size)
        self._src = src
        self._name = name

    def read(self, size: int | None = -1, /) -> bytes:
        try:
            return super().read(size)
        except DecryptionFailed:
            raise report_unreadable_at(UNREADABLE_PLACE, "file", self._name) from None

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._src.close()


#: Headers of every download: never rendered, never sniffed, never cached by others.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _download_name(name: str) -> str:
    """``name`` fit for ``Content-Disposition``: each control, format or line-separator
    character and each ``/`` or ``\\`` becomes ``_``; ``download`` when nothing is left.

    :func:`~.pipeline.save_uploads` refuses such names, but a name can reach a download
    from elsewhere (an import, an older version, a database edit): a line break would be
    a 500 (werkzeug refuses it in a header), a right-to-left override would make
    ``a\\u202egnp.exe`` show as ``aexe.png``, and a path would name a folder.
    """
    refused = [char in "/\\" or unicodedata.category(char) in REFUSED_CATEGORIES for char in name]
    if all(bad or char.isspace() for char, bad in zip(name, refused, strict=True)):
        return "download"
    return "".join("_" if bad else char for char, bad in zip(name, refused, strict=True)).strip()


def send_upload(name: str, *, content_type: str, download_name: str) -> Response:
    """A response that downloads the stored upload ``name``: ``Content-Disposition:
    attachment`` with ``download_name``, the stored ``content_type``, ``nosniff`` and
    ``Content-Security-Policy: sandbox; default-src 'none'``, so the file is never shown
    as a page of this origin.

    ``download_name`` goes through :func:`_download_name`.

    :raises NotFound: when the file is gone (a 404, as for a missing row).
    :raises ValueError, DecryptionFailed: as :func:`open_upload`.
    """
    try:
        stream = open_upload(name)
    except FileNotFoundError:
        raise NotFound() from None
    response = send_file(
        stream,
        mimetype=content_type,
        as_attachment=True,
        download_name=_download_name(download_name),
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers.update(DOWNLOAD_HEADERS)
    return response


def delete_upload(name: str) -> None:
    """Remove the stored upload ``name`` and give its bytes back to the quota of the
    user it was saved for. A file already gone is no error.

    :raises ValueError: for a name :func:`~.pipeline.save_uploads` never makes.
    """
    _app, component = current_uploads()
    path = _path(component, name)
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return
    if component.config.quota:
        component.quota().release(name.partition("/")[0], size)


def forget_user(user_id: object) -> None:
    """Remove every file stored for ``user_id`` and its quota counter (the account is
    deleted)."""
    _app, component = current_uploads()
    key = user_folder(str(user_id))
    shutil.rmtree(component.folder / key, ignore_errors=True)
    if component.config.quota:
        component.quota().forget(key)
