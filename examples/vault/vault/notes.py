"""``/notes``: Markdown notes, shared read-only or for editing with other users.

What the pages defend against:

* **Insecure direct object references.** Every view that takes a note ID loads the note
  through :func:`~flask_bastion.authz.get_or_404` with its action (:mod:`vault.policy`):
  a note the user may not touch answers the same 404 as one that does not exist. IDs are
  random besides (:func:`vault.models.new_note_id`).
* **Stored XSS.** A body is Markdown, shown through
  :func:`~flask_bastion.sanitize.render_markdown` (raw HTML off, then an allowlist); titles
  and everything else go through Jinja's autoescaping.
* **SQL injection.** No SQL is built from strings; the search runs in Python over the
  user's decrypted notes (:func:`vault.models.search_notes`), since titles and bodies are
  encrypted at rest.
* **Forgery.** Every change is a POST form carrying ``csrf_field()``; Flask-Bastion
  rejects a post from another site before the view runs.
* **Token misuse.** The pages are for a signed-in browser. A personal API token (kept in
  scripts, limited by scopes) is refused here; the API (:mod:`vault.api`) checks scopes.
* **Oversized or unstorable input.** Titles, bodies, searches and addresses have length
  limits; a NUL character, which PostgreSQL cannot store or compare, is refused in a
  note and dropped from a search, so it is a 422 rather than a database error.

Sharing looks up the address among accounts and says when there is none: a signed-in
user can learn whether an address has an account, which a team vault accepts. An account
whose address is unconfirmed, or that is deactivated, counts as none: whoever registered
an address they do not own must not receive what is shared with its owner.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import delete, select
from werkzeug.wrappers import Response

from flask_bastion import page_budget
from flask_bastion.accounts import (
    current_user,
    find_user,
    login_required,
    request_authentication,
)
from flask_bastion.authz import get_or_404
from flask_bastion.content import noindex
from flask_bastion.exceptions import InvalidToken
from flask_bastion.refusal import refuse
from flask_bastion.validation import clean_text, text_problem

from .db import get_db
from .models import ACCESS_LEVELS, BODY_MAX, TITLE_MAX, Note, NoteShare, User, search_notes

#: The notes; every page is noindex (X-Robots-Tag), whoever asks.
bp = noindex(Blueprint("notes", __name__, url_prefix="/notes"))

#: Longest search, in characters.
QUERY_MAX = 200
#: Longest address accepted when sharing (RFC 5321's limit).
EMAIL_MAX = 254
#: Why a bearer token is refused on these pages.
REASON_BROWSER_ONLY = "Personal API tokens are for /api/v1; the notes pages need a browser sign-in."


@bp.before_request
def browser_only() -> None:
    """Refuse a request authenticated by a personal API token."""
    found = request_authentication()
    if found is not None and found.via == "token":
        refuse(InvalidToken(REASON_BROWSER_ONLY))


def search_query() -> str:
    """The request's ``?q=``, cut to :data:`QUERY_MAX` characters, without NULs."""
    return request.args.get("q", "").replace("\x00", "")[:QUERY_MAX]


def text_error(field: str, value: str) -> str | None:
    """What is wrong with the text of a note's ``field`` (``title`` or ``body``): a
    control character (a line break too, in the one-line title), a bidirectional override
    (a title that reads otherwise than it is stored), or a lone surrogate (valid in JSON,
    not storable); :mod:`flask_bastion.validation.text`."""
    return text_problem(value, multiline=field == "body")


def note_errors(title: str, body: str) -> dict[str, str]:
    """What is wrong with a note's ``title`` and ``body``, by field."""
    errors = {}
    for field, value in (("title", title), ("body", body)):
        problem = text_error(field, value)
        if problem is not None:
            errors[field] = problem
    # Lengths as stored: NFC can lengthen text (U+FB2C is three code points once normal).
    if "title" not in errors and not title.strip():
        errors["title"] = "Give the note a title."
    elif "title" not in errors and len(clean_text(title)) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX + 1} characters."
    if "body" not in errors and len(clean_text(body)) > BODY_MAX:
        errors["body"] = f"Keep the note under {BODY_MAX + 1} characters."
    return errors


@bp.get("")
@page_budget(per_ip="600/hour", per_user="1200/hour", burst="30/10 seconds")
@login_required
def index() -> str:
    """The user's own and shared notes; ``?q=`` searches titles and bodies."""
    query = search_query()
    notes = search_notes(get_db(), current_user, query)
    return render_template("notes/list.html", notes=notes, query=query)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create() -> str | Response | tuple[str, int]:
    """The form for a new note, and its creation."""
    if request.method == "GET":
        return render_template("notes/form.html", note=None, title="", body="", errors={})
    title = request.form.get("title", "")
    body = request.form.get("body", "")
    errors = note_errors(title, body)
    if errors:
        page = render_template("notes/form.html", note=None, title=title, body=body, errors=errors)
        return page, 422
    now = time.time()
    note = Note(
        owner_id=current_user.id,
        title=clean_text(title.strip()),
        body=clean_text(body),
        created_at=now,
        updated_at=now,
    )
    db = get_db()
    db.add(note)
    db.commit()
    return redirect(url_for("notes.show", note_id=note.id), 303)


@bp.get("/<note_id>")
@login_required
def show(note_id: str) -> str:
    """One note, its body rendered from Markdown."""
    from .attachments import render_note

    return render_note(get_or_404(Note, note_id, "read"))


@bp.route("/<note_id>/edit", methods=["GET", "POST"])
@login_required
def edit(note_id: str) -> str | Response | tuple[str, int]:
    """The form to change a note, and the change."""
    note = get_or_404(Note, note_id, "edit")
    if request.method == "GET":
        return render_template(
            "notes/form.html", note=note, title=note.title, body=note.body, errors={}
        )
    title = request.form.get("title", "")
    body = request.form.get("body", "")
    errors = note_errors(title, body)
    if errors:
        page = render_template("notes/form.html", note=note, title=title, body=body, errors=errors)
        return page, 422
    note.title = clean_text(title.strip())
    note.body = clean_text(body)
    note.updated_at = time.time()
    get_db().commit()
    return redirect(url_for("notes.show", note_id=note.id), 303)


@bp.post("/<note_id>/delete")
@login_required
def remove(note_id: str) -> Response:
    """Delete a note and its shares."""
    from .attachments import delete_note

    delete_note(get_or_404(Note, note_id, "delete"))
    flash("The note is deleted.", "info")
    return redirect(url_for("notes.index"), 303)


@bp.route("/<note_id>/share", methods=["GET", "POST"])
@login_required
def share(note_id: str) -> str | Response | tuple[str, int]:
    """Who the note is shared with; share it by address (``email``, ``access``), change
    a share's access the same way, or revoke one (``revoke``: the user's ID)."""
    note = get_or_404(Note, note_id, "share")
    db = get_db()
    error = None
    if request.method == "POST":
        if "revoke" in request.form:
            db.execute(
                delete(NoteShare).where(
                    NoteShare.note_id == note.id,
                    NoteShare.user_id == _int(request.form["revoke"]),
                )
            )
            db.commit()
            return redirect(url_for("notes.share", note_id=note.id), 303)
        error = _add_share(note, request.form.get("email", ""), request.form.get("access", ""))
        if error is None:
            return redirect(url_for("notes.share", note_id=note.id), 303)
    shares = db.scalars(
        select(NoteShare)
        .join(User, User.id == NoteShare.user_id)
        .where(NoteShare.note_id == note.id)
        .order_by(User.email_key)
    ).all()
    page = render_template(
        "notes/share.html", note=note, shares=shares, access_levels=ACCESS_LEVELS, error=error
    )
    return (page, 422) if error else page


#: The largest user ID (a 32-bit ``INTEGER`` on PostgreSQL): past it, a 400, not an error.
USER_ID_MAX = 2**31 - 1


def _int(value: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= USER_ID_MAX):
        abort(400, description="Choose a share to revoke.")
    return int(value)


def _add_share(note: Note, email: str, access: str) -> str | None:
    """Share ``note`` with the account of ``email``; the error to show, if any."""
    if access not in ACCESS_LEVELS:
        return "Choose read or edit access."
    valid = 0 < len(email) <= EMAIL_MAX and "\x00" not in email
    user = find_user(email.strip()) if valid else None
    # An unconfirmed address may have been registered by someone other than its owner,
    # and a deactivated account is one nobody should reach: neither gets a share, and
    # both answer as an address without an account.
    if user is None or not user.is_active or not user.email_verified:
        return "There is no account with this address."
    if user.id == note.owner_id:
        return "This is your own note."
    db = get_db()
    existing = db.get(NoteShare, (note.id, user.id))
    if existing is not None:
        existing.access = access
    else:
        db.add(NoteShare(note_id=note.id, user_id=user.id, access=access))
    db.commit()
    return None
