"""Receiving and storing uploaded files (serving and deleting them: :mod:`.stored`).

:func:`save_uploads` takes the files of one form field through every check, in an order
where the cheap ones come first, and stores them all or none:

1. the name (no path, NUL or control character) and its extension (allowed, and not of a
   type a browser may execute unless ``BASTION_UPLOADS_ALLOW_EXECUTABLE`` names it);
2. the declared ``Content-Type`` of the part, which must agree with the extension;
3. the content: executable content is refused whatever the name says; images must be of
   their extension's format, within ``max_image_pixels`` and free of HTML or script
   markers (a polyglot); text must be UTF-8; archives are unpacked and measured;
4. the malware scan by clamd (``BASTION_UPLOADS_CLAMD_URL``);
5. images are re-encoded without metadata;
6. each file is written (encrypted with the key ring by default) under a random name in
   the user's subfolder, then the user's quota is reserved atomically for what was
   written; past the quota everything written is removed.

Any refusal ends the request with a 4xx (or a 503 when clamd or the quota store is down)
through :func:`~flask_bastion.refusal.refuse`, with the ``upload_refused`` or
``malware_found`` signal, and leaves nothing in the folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import signals
from ..config.sections import EXECUTABLE_EXTENSIONS
from ..crypto import encrypt_stream
from ..exceptions import (
    MalwareFound,
    Rejection,
    StoreError,
    UploadInvalid,
    UploadsUnavailable,
    UploadTooLarge,
    UploadTypeRefused,
    UploadUnsafe,
)
from ..logs import security_log
from ..refusal import refuse
from .component import (
    REASON_BAD_NAME,
    SUFFIX,
    RouteLimits,
    Uploads,
    current_uploads,
    printable,
    stored_context,
    user_folder,
)
from .content import ContentProblem, check_archive, image_size, reencode_image
from .scanner import ScanError
from .types import (
    HEAD_BYTES,
    KINDS,
    Kind,
    clean_name,
    declared_ok,
    executable_content,
    extension_of,
    has_polyglot_markers,
    is_text,
    magic_matches,
    name_problem,
)

REASON_NOT_MULTIPART = "The request is not multipart/form-data."
REASON_BODY = "The request body is malformed or was cut off."
REASON_REQUEST_TOO_LARGE = "The request is larger than MAX_CONTENT_LENGTH."
REASON_NO_FILE = "No file was sent."
REASON_EXTENSION = "Files of this extension are not accepted."
REASON_EXECUTABLE = "Files a browser or a system may execute are not accepted."
REASON_DECLARED_TYPE = "The declared Content-Type does not match the file's extension."
REASON_TYPE_MISMATCH = "The file's content is not of the type its extension says."
REASON_POLYGLOT = "The image holds HTML or script (a polyglot)."
REASON_MALWARE = "The file contains malware."
REASON_SCANNER = "The malware scanner could not check the file."
REASON_QUOTA = "The upload would take the user past their storage quota."
REASON_QUOTA_STORE = "The quota counters could not be reached."


@dataclass(frozen=True)
class StoredUpload:
    """A stored file: keep :attr:`name` (and the rest, as metadata) in your own table."""

    #: The random stored name, relative to the folder: give it to :func:`send_upload`
    #: and :func:`delete_upload`.
    name: str
    #: The name it was sent under, NFC-normalised: metadata only, never a path.
    original_name: str
    #: The type it is served as (from its extension, checked against its content).
    content_type: str
    #: Bytes of the stored content (after re-encoding).
    size: int
    #: Whether ClamAV passed it (``False`` without a scanner, or when the scanner failed
    #: under ``BASTION_UPLOADS_SCAN_FAILURE = 'accept'``).
    scanned: bool


class _Checked(t.NamedTuple):
    upload: FileStorage
    name: str
    kind: Kind


def save_uploads(field: str = "file", *, user_id: object = None) -> list[StoredUpload]:
    """Check and store the files of the form field ``field`` (module docstring).

    :param user_id: the owner, whose quota and subfolder the files go to (``None``: a
        shared folder and quota).
    :returns: the stored files, in the order sent.
    :raises UploadRefused: (a 4xx) or :class:`UploadsUnavailable` (503), through
        :func:`~flask_bastion.refusal.refuse`.
    """
    app, component = current_uploads()
    if request.mimetype != "multipart/form-data":
        refuse(UploadTypeRefused(REASON_NOT_MULTIPART))
    try:
        sent = request.files.getlist(field)
    except Rejection:
        raise  # reported where it was raised
    except RequestEntityTooLarge:
        refuse(UploadTooLarge(REASON_REQUEST_TOO_LARGE))
    except HTTPException:  # werkzeug: the client went away mid-body
        refuse(UploadInvalid(REASON_BODY))
    if not request.files and not request.form:
        # werkzeug's parser drops a body it cannot parse (no closing boundary: the
        # client stopped sending) and returns nothing at all.
        refuse(UploadInvalid(REASON_BODY))
    files = [f for f in sent if f.filename]
    if not files:
        refuse(UploadInvalid(REASON_NO_FILE))
    limits = component.limits(request.endpoint)
    checked = [_check(component, limits, f) for f in files]
    scanned = _scan(app, component, checked)
    return _store(app, component, checked, scanned, None if user_id is None else str(user_id))


def _check(component: Uploads, limits: RouteLimits, upload: FileStorage) -> _Checked:
    config = component.config
    raw = upload.filename or ""
    shown = printable(raw)
    if name_problem(raw) is not None:
        refuse(UploadInvalid(REASON_BAD_NAME, file_name=shown))
    name = clean_name(raw)
    ext = extension_of(name)
    if ext not in t.cast(tuple[str, ...], limits.extensions) or ext not in KINDS:
        refuse(UploadTypeRefused(REASON_EXTENSION, file_name=shown))
    if ext in EXECUTABLE_EXTENSIONS and ext not in config.allow_executable:
        refuse(UploadTypeRefused(REASON_EXECUTABLE, file_name=shown))
    kind = KINDS[ext]
    if not declared_ok(kind, (upload.mimetype or "").lower()):
        refuse(UploadTypeRefused(REASON_DECLARED_TYPE, file_name=shown))
    stream = t.cast(t.BinaryIO, upload.stream)
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    if executable_content(head) and ext not in config.allow_executable:
        refuse(UploadTypeRefused(REASON_EXECUTABLE, file_name=shown))
    try:
        matches = is_text(stream) if kind.text else magic_matches(kind, head)
        stream.seek(0)
        if not matches:
            refuse(UploadTypeRefused(REASON_TYPE_MISMATCH, file_name=shown))
        if kind.image is not None:
            image_size(stream, kind.image, config.max_image_pixels)
            stream.seek(0)
            if has_polyglot_markers(stream):
                refuse(UploadUnsafe(REASON_POLYGLOT, file_name=shown))
        elif kind.archive:
            check_archive(
                stream,
                max_size=config.max_archive_size,
                max_ratio=config.max_archive_ratio,
                max_members=config.max_archive_members,
            )
    except ContentProblem as problem:
        refuse(UploadUnsafe(str(problem), file_name=shown))
    stream.seek(0)
    return _Checked(upload, name, kind)


def _scan(app: Flask, component: Uploads, checked: list[_Checked]) -> list[bool]:
    """Scan every file; whether each was scanned (every file is tried: a timeout on one
    under ``accept`` leaves the others scanned)."""
    scanner = component.scanner
    if scanner is None:
        return [False] * len(checked)
    scanned = []
    for item in checked:
        stream = t.cast(t.BinaryIO, item.upload.stream)
        try:
            found = scanner.scan(stream)
        except ScanError as exc:
            accepted = component.config.scan_failure == "accept"
            signals.scan_failed.send(app, reason=str(exc), accepted=accepted)
            security_log.error(
                "upload.scan_failed: %s",
                exc,
                extra={"event": "upload.scan_failed", "reason": str(exc), "accepted": accepted},
            )
            if not accepted:
                refuse(UploadsUnavailable(REASON_SCANNER))
            scanned.append(False)
            continue
        finally:
            stream.seek(0)
        if found is not None:
            refuse(
                MalwareFound(
                    REASON_MALWARE, file_name=printable(item.upload.filename), signature=found
                )
            )
        scanned.append(True)
    return scanned


def _store(
    app: Flask,
    component: Uploads,
    checked: list[_Checked],
    scanned: list[bool],
    user_id: str | None,
) -> list[StoredUpload]:
    config = component.config
    key = user_folder(user_id)
    folder = component.folder / key
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    stored: list[StoredUpload] = []
    try:
        for item, was_scanned in zip(checked, scanned, strict=True):
            source = t.cast(t.BinaryIO, item.upload.stream)
            if item.kind.image is not None and config.reencode_images:
                try:
                    source = reencode_image(source, item.kind.image, config.max_image_pixels)
                except ContentProblem as problem:
                    refuse(UploadUnsafe(str(problem), file_name=printable(item.upload.filename)))
            name = f"{key}/{secrets.token_urlsafe(18)}{SUFFIX}"
            path = component.folder / name
            try:
                size = _write(source, path, name, encrypt=config.encrypt)
            finally:
                if source is not item.upload.stream:
                    source.close()
            written.append(path)
            stored.append(StoredUpload(name, item.name, item.kind.content_type, size, was_scanned))
        on_disk = sum(p.stat().st_size for p in written)
        if config.quota:
            try:
                reserved = component.quota().reserve(key, on_disk, config.quota)
            except StoreError:
                refuse(UploadsUnavailable(REASON_QUOTA_STORE))
            if not reserved:
                refuse(UploadTooLarge(REASON_QUOTA))
    except BaseException:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    for found in stored:
        signals.upload_stored.send(
            app,
            name=found.name,
            size=found.size,
            content_type=found.content_type,
            user_id=user_id,
            scanned=found.scanned,
        )
        security_log.info(
            "upload.stored",
            extra={"event": "upload.stored", "user_id": user_id, "size": found.size},
        )
    return stored


def _write(source: t.BinaryIO, path: Path, name: str, *, encrypt: bool) -> int:
    """Write ``source`` to ``path`` through a temporary file renamed into place; the
    bytes of content written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as dst:
            if encrypt:
                size = encrypt_stream(source, dst, context=stored_context(name))
            else:
                shutil.copyfileobj(source, dst)
                size = dst.tell()
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return size
