"""The :class:`Uploads` component: per-route limits applied while the body is read.

Werkzeug parses a multipart body into a temporary file per file part, through the
request's ``_get_file_stream`` (the hook its documentation names for this). For every
multipart request, before anything reads the body (the CSRF token fallback may), the
component puts its own there: a file that refuses a name with a path, a NUL or a control
character before a byte is read, counts the file parts, and raises 413 on the write that
takes a file past its limit. Reading stops there: the rest of the body is never read,
however large. The files are anonymous temporary files (``O_TMPFILE``), which vanish with
the request whatever happens to it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Request, current_app

from ..components import Stage
from ..config import BastionConfig
from ..context import RequestState, get_state
from ..crypto import FolderRotation, register_rotation
from ..exceptions import UploadInvalid, UploadTooLarge
from ..markers import View, mark
from ..refusal import refuse
from .quota import Quota
from .scanner import Clamd
from .types import name_problem

V = t.TypeVar("V")

#: The view mark set by :func:`accepts_uploads`.
ACCEPTS_UPLOADS = "accepts_uploads"
#: The suffix of stored files (what ``rotate-keys`` looks at).
SUFFIX = ".bin"

REASON_FILE_TOO_LARGE = "A file is larger than allowed."
REASON_TOO_MANY_FILES = "The request carries more files than allowed."
REASON_BAD_NAME = (
    "A file name is empty, holds a path, a NUL or a control character, or is too long."
)


@dataclass(frozen=True)
class RouteLimits:
    """The limits of one view; ``None`` takes the configured value."""

    max_file_size: int | None = None
    max_files: int | None = None
    extensions: tuple[str, ...] | None = None


@t.overload
def accepts_uploads(target: V) -> V: ...


@t.overload
def accepts_uploads(
    *,
    max_file_size: int | None = None,
    max_files: int | None = None,
    extensions: t.Iterable[str] | None = None,
) -> t.Callable[[V], V]: ...


def accepts_uploads(
    target: t.Any = None,
    *,
    max_file_size: int | None = None,
    max_files: int | None = None,
    extensions: t.Iterable[str] | None = None,
) -> t.Any:
    """Mark a view (or blueprint) that stores uploads with
    :func:`~flask_bastion.uploads.save_uploads`, with limits of its own below the
    configured ones::

        @app.post("/avatar")
        @accepts_uploads(max_file_size=2_000_000, max_files=1, extensions=["png", "jpg"])
        def avatar(): ...

    Used bare (``@accepts_uploads``), the configured limits apply. The deploy check
    ``bastion.E160`` looks for these marks.
    """
    allowed = None if extensions is None else tuple(e.lower() for e in extensions)
    limits = RouteLimits(max_file_size, max_files, allowed)
    if target is not None:
        return mark(target, ACCEPTS_UPLOADS, limits)
    return lambda view: mark(view, ACCEPTS_UPLOADS, limits)


class _LimitedFile:
    """A temporary file that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int, filename: str | None) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - werkzeug owns it from here
        self._limit = limit
        self._filename = filename
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self._limit:
            self._file.close()
            refuse(UploadTooLarge(REASON_FILE_TOO_LARGE, file_name=self._filename))
        return self._file.write(data)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._file, name)

    def __iter__(self) -> t.Iterator[bytes]:
        return iter(self._file)


class Uploads:
    """Component: per-route upload limits while the body is read; holds the storage
    folder, the scanner and the quota counters that
    :func:`~flask_bastion.uploads.save_uploads` uses."""

    name = "uploads"
    stage = Stage.INPUT

    def __init__(self, config: BastionConfig) -> None:
        #: ``BASTION_UPLOADS_*``.
        self.config = config.uploads
        #: The clamd client, ``None`` when no scanner is configured.
        self.scanner = (
            Clamd(self.config.clamd_url, self.config.clamd_timeout)
            if self.config.clamd_url
            else None
        )
        #: The storage folder, set by ``init_app``.
        self.folder = Path()
        self._limits: dict[str | None, RouteLimits] = {}
        self._quota: Quota | None = None

    def init_app(self, app: Flask) -> None:
        """Settle the folder and register its files for ``flask bastion rotate-keys``."""
        folder = self.config.folder or os.path.join(app.instance_path, "uploads")
        self.folder = Path(folder).resolve()
        if self.config.encrypt:
            rotation = FolderRotation(self.folder, stored_context, f"*{SUFFIX}", place="uploads")
            register_rotation(app, "uploads", rotation)

    def quota(self) -> Quota:
        """The quota counters, opened on first use."""
        if self._quota is None:
            stores = get_state(current_app._get_current_object()).stores  # type: ignore[attr-defined]
            database = stores.sql(self.config.url, name="upload quota store")
            self._quota = Quota(database, self.config.table_name)
        return self._quota

    def limits(self, endpoint: str | None) -> RouteLimits:
        """The limits of ``endpoint``, configured values filled in."""
        found = self._limits.get(endpoint)
        if found is None:
            marked: RouteLimits = View(current_app, endpoint).get(ACCEPTS_UPLOADS) or RouteLimits()
            found = self._limits[endpoint] = RouteLimits(
                min(marked.max_file_size or self.config.max_file_size, self.config.max_file_size),
                min(marked.max_files or self.config.max_files, self.config.max_files),
                # A view narrows the configured extensions, never widens them.
                tuple(e for e in marked.extensions if e in self.config.allowed_extensions)
                if marked.extensions is not None
                else self.config.allowed_extensions,
            )
        return found

    def before_request(self, request: Request, state: RequestState) -> None:
        """For a multipart request, make werkzeug's parser write each file through a
        :class:`_LimitedFile` of the view's limits."""
        # The raw header, not request.mimetype: most requests have none, and parsing
        # one costs more than the whole check. Spaces and tabs before the media type are
        # skipped as werkzeug's parser skips them (an obs-folded header starts with one).
        content_type = request.environ.get("CONTENT_TYPE")
        if not content_type or content_type.lstrip(" \t")[:19].lower() != "multipart/form-data":
            return
        limits = self.limits(request.endpoint)
        max_size = t.cast(int, limits.max_file_size)
        max_files = t.cast(int, limits.max_files)
        # The temporary files of this request, closed as Flask closes the request (after
        # the teardown functions): a parse that fails midway leaves files werkzeug never
        # hands to the request. Only a multipart request pays for it.
        opened: list[_LimitedFile] = []
        close_request = request.close

        def close() -> None:
            try:
                close_request()
            finally:
                for file in opened:
                    file.close()

        request.close = close  # type: ignore[method-assign]

        def file_stream(
            total_content_length: int | None,
            content_type: str | None,
            filename: str | None = None,
            content_length: int | None = None,
        ) -> t.IO[bytes]:
            shown = printable(filename)
            # An empty name is a file input left empty: save_uploads says so.
            if filename is None or (filename and name_problem(filename) is not None):
                refuse(UploadInvalid(REASON_BAD_NAME, file_name=shown))
            if len(opened) >= max_files:
                refuse(UploadTooLarge(REASON_TOO_MANY_FILES, file_name=shown))
            opened.append(_LimitedFile(max_size, shown))
            return t.cast(t.IO[bytes], opened[-1])

        request._get_file_stream = file_stream  # type: ignore[method-assign]


def current_uploads() -> tuple[Flask, Uploads]:
    """The current application and its :class:`Uploads` component."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app, t.cast(Uploads, get_state(app).component("uploads"))


def stored_context(name: str) -> bytes:
    """The context a stored file is encrypted under: its name relative to the folder."""
    return b"upload:" + name.encode("utf-8")


def user_folder(user_id: str | None) -> str:
    """The subfolder of a user's files: a hash of the ID, so that no ID becomes a path."""
    if user_id is None:
        return "shared"
    return "u" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:24]


def printable(name: str | None, limit: int = 120) -> str | None:
    """``name`` cut to ``limit`` characters with control and format characters escaped,
    for signals and logs."""
    if name is None:
        return None
    return name[:limit].encode("unicode_escape").decode("ascii")
