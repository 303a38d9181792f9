"""Note attachments: ``POST /notes/<id>/attachments`` (field ``file``), downloads through
signed links, deletion.

What the pages defend against:

* **Hostile files.** Every upload goes through :func:`flask_bastion.uploads.save_uploads`:
  size and count limits while the body is read, the owner's quota, the type decided by
  the content, images re-encoded without metadata, ClamAV. A refused file is shown as an
  error on the note's page with the refusal's status; nothing is stored.
* **Insecure direct object references.** Uploading and deleting need ``edit`` on the
  note, downloading ``read``, each through :func:`~flask_bastion.authz.get_or_404`; an
  attachment is looked up within its note only.
* **Leaked links.** The note's page links each file through
  :func:`~flask_bastion.content.signed_url`, bound to the user and valid for
  :data:`LINK_LIFETIME`; the download view needs such a link *and* checks ``read``
  again, so a link outlives neither its time nor the share it was made under.
* **Files that run.** Downloads are attachments of the stored type with ``nosniff`` and
  ``Content-Security-Policy: sandbox; default-src 'none'``
  (:func:`~flask_bastion.uploads.send_upload`).
* **Files left behind.** Deleting an attachment, a note or an account removes the files
  (:func:`remove_files`, :func:`forget_account_files`).
"""

from __future__ import annotations

import time
import typing as t

from flask import Blueprint, Flask, abort, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from flask_bastion import signals
from flask_bastion.accounts import login_required
from flask_bastion.authz import get_or_404
from flask_bastion.content import noindex, signed_url_required
from flask_bastion.exceptions import UploadRefused
from flask_bastion.sanitize import render_markdown
from flask_bastion.uploads import (
    accepts_uploads,
    delete_upload,
    forget_user,
    save_uploads,
    send_upload,
)

from .db import get_db
from .models import Attachment, Note
from .notes import browser_only

#: Attachments live under the notes' URLs, in a blueprint of their own.
bp = noindex(Blueprint("attachments", __name__, url_prefix="/notes"))
bp.before_request(browser_only)

#: Seconds a download link on the note's page stays valid.
LINK_LIFETIME = 600
#: Files one upload may carry.
MAX_FILES = 5


@bp.post("/<note_id>/attachments")
@login_required
@accepts_uploads(max_files=MAX_FILES)
def upload(note_id: str) -> Response | tuple[str, int]:
    """Attach the files of the field ``file`` to the note; they count against the note
    owner's quota."""
    note = get_or_404(Note, note_id, "edit")
    try:
        stored = save_uploads("file", user_id=note.owner_id)
    except UploadRefused as refused:  # reported already: shown on the note's page
        status: int = getattr(refused, "code", 400)  # from its werkzeug base
        return render_note(note, upload_error=refused.reason), status
    db = get_db()
    now = time.time()
    try:
        for found in stored:
            db.add(
                Attachment(
                    note_id=note.id,
                    stored_name=found.name,
                    name=found.original_name,
                    content_type=found.content_type,
                    size=found.size,
                    created_at=now,
                )
            )
        db.commit()
    except BaseException:
        db.rollback()
        for found in stored:
            delete_upload(found.name)
        raise
    return redirect(url_for("notes.show", note_id=note.id), 303)


@bp.get("/<note_id>/attachments/<attachment_id>")
@login_required
@signed_url_required
def download(note_id: str, attachment_id: str) -> Response:
    """The file, as a download; only through a signed link made for this user."""
    note = get_or_404(Note, note_id, "read")
    attachment = _attachment(note, attachment_id)
    return send_upload(
        attachment.stored_name,
        content_type=attachment.content_type,
        download_name=attachment.name,
    )


@bp.post("/<note_id>/attachments/<attachment_id>/delete")
@login_required
def remove(note_id: str, attachment_id: str) -> Response:
    """Delete an attachment and its file."""
    note = get_or_404(Note, note_id, "edit")
    attachment = _attachment(note, attachment_id)
    stored_name = attachment.stored_name
    db = get_db()
    db.delete(attachment)
    db.commit()
    delete_upload(stored_name)
    return redirect(url_for("notes.show", note_id=note.id), 303)


def _attachment(note: Note, attachment_id: str) -> Attachment:
    found = get_db().scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.note_id == note.id)
    )
    if found is None:
        abort(404)
    return found


def render_note(note: Note, upload_error: str | None = None) -> str:
    """The note's page, with its attachments and the upload form's error, if any."""
    return render_template(
        "notes/show.html",
        note=note,
        html=render_markdown(note.body),
        attachments=note.attachments,
        link_lifetime=LINK_LIFETIME,
        upload_error=upload_error,
    )


def delete_note(note: Note) -> None:
    """Delete ``note`` (its shares and attachment rows go with it), then its files."""
    names = [a.stored_name for a in note.attachments]
    db = get_db()
    db.delete(note)
    db.commit()
    remove_files(names)


def remove_files(names: t.Iterable[str]) -> None:
    """Remove stored files whose rows are gone."""
    for name in names:
        delete_upload(name)


def forget_account_files(app: Flask, user: t.Any = None, **extra: t.Any) -> None:
    """Receiver of ``account_deleted``: remove every file stored for the account."""
    user_id = getattr(user, "id", None)
    if user_id is not None:
        forget_user(user_id)


def init_app(app: Flask) -> None:
    """Register the blueprint and remove an account's files when it is deleted."""
    app.register_blueprint(bp)
    signals.account_deleted.connect(forget_account_files, sender=app, weak=False)
