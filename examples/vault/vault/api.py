"""``/api/v1/notes``: the notes as JSON, for scripts holding a personal API token.

* **Authentication.** Only ``Authorization: Bearer <token>`` (a personal API token made
  on the account pages). A request without one, a browser's session cookie included, is
  answered 401 with ``WWW-Authenticate: Bearer``; a bad token is refused by
  Flask-Bastion before the view (401, ``error="invalid_token"``). As no browser sends a
  bearer token on its own, the forgery check does not apply here.
* **Scopes.** ``notes:read`` for ``GET``, ``notes:write`` for the rest; a token without
  the scope gets 403.
* **Objects.** Every note is loaded through :func:`~flask_bastion.authz.get_or_404`: a
  note the token's user may not touch is the same 404 as a missing one.
* **Input.** A body must be a JSON object with only the known fields, of the right types
  and lengths (no mass assignment), whose text passes Flask-Bastion's text rules (no
  control characters or bidirectional overrides, no line break in a title, no lone
  surrogate; normalised to NFC): otherwise 400 (not JSON) or 422. Every error is an
  RFC 9457 ``application/problem+json`` document, whatever the client's ``Accept``
  (``*/*``, none, even ``text/html``): the blueprint is marked
  :func:`~flask_bastion.problem_json`, so a script never has an HTML page to parse.
"""

from __future__ import annotations

import time
import typing as t

from flask import Blueprint, abort, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized
from werkzeug.wrappers import Response

from flask_bastion import page_budget, problem_json
from flask_bastion.accounts import current_user, request_authentication, require_scope
from flask_bastion.authz import get_or_404
from flask_bastion.content import noindex
from flask_bastion.guards import guard_view
from flask_bastion.validation import clean_text

from . import attachments
from .db import get_db
from .models import BODY_MAX, TITLE_MAX, Note, search_notes
from .notes import search_query, text_error
from .policy import access_of

#: Every error of the API is an RFC 9457 problem document, whatever ``Accept`` says, and
#: every answer is noindex (X-Robots-Tag), whoever asks.
bp = noindex(problem_json(Blueprint("api", __name__, url_prefix="/api/v1")))

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: The fields a client may set, with their type and longest length.
FIELDS: dict[str, int] = {"title": TITLE_MAX, "body": BODY_MAX}


def bearer_required(view: F) -> F:
    """Let only a request authenticated by a personal API token reach ``view``; others
    get 401 with ``WWW-Authenticate: Bearer`` (RFC 6750: no error code when no token
    was sent)."""

    def check(kwargs: dict[str, t.Any]) -> None:
        found = request_authentication()
        if found is None or found.via != "token":
            raise Unauthorized(
                "Send a personal API token: Authorization: Bearer <token>.",
                www_authenticate=WWWAuthenticate("bearer", {"realm": "vault"}),
            )

    return guard_view(view, check)


def note_json(note: Note) -> dict[str, t.Any]:
    """The API's view of ``note``, with what the current user may do with it."""
    return {
        "id": note.id,
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "access": access_of(current_user, note),
    }


def note_fields(*, required: bool) -> dict[str, str]:
    """The fields of the request's JSON object, checked.

    :param required: whether ``title`` must be given (creation).
    :raises werkzeug.exceptions.BadRequest: when the body is not JSON.
    :raises werkzeug.exceptions.UnprocessableEntity: when it is not an object of the known
        fields with strings of the allowed lengths.
    """
    data = request.get_json(silent=True)
    if data is None:
        abort(400, description="Send a JSON object with Content-Type: application/json.")
    if not isinstance(data, dict):
        abort(422, description="The body must be a JSON object.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        abort(422, description=f"Unknown fields: {', '.join(unknown)[:200]}.")
    for name, longest in FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, str):
            abort(422, description=f"'{name}' must be a string.")
        # A NUL (PostgreSQL cannot store it), a lone surrogate (valid JSON, not UTF-8),
        # other control characters, a bidirectional override; a line break in the title.
        problem = text_error(name, value)
        if problem is not None:
            abort(422, description=f"'{name}': {problem}")
        data[name] = value = clean_text(value)  # measured as stored
        if len(value) > longest:
            abort(422, description=f"'{name}' is longer than {longest} characters.")
    if "title" in data and not data["title"].strip():
        abort(422, description="'title' must not be empty.")
    if required and "title" not in data:
        abort(422, description="'title' is required.")
    return t.cast(dict[str, str], data)


@bp.get("/notes")
@page_budget(per_ip="600/hour", per_user="1200/hour", burst="30/10 seconds")
@bearer_required
@require_scope("notes:read")
def list_notes() -> ResponseReturnValue:
    """The notes the user owns or has a share of; ``?q=`` searches them."""
    notes = search_notes(get_db(), current_user, search_query())
    return {"notes": [note_json(note) for note in notes]}


@bp.post("/notes")
@bearer_required
@require_scope("notes:write")
def create_note() -> ResponseReturnValue:
    """Create a note: ``{"title": ..., "body": ...}``; 201 with its ``Location``."""
    fields = note_fields(required=True)
    now = time.time()
    note = Note(
        owner_id=current_user.id,
        title=fields["title"].strip(),
        body=fields.get("body", ""),
        created_at=now,
        updated_at=now,
    )
    db = get_db()
    db.add(note)
    db.commit()
    response = jsonify(note_json(note))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_note", note_id=note.id)
    return response


@bp.get("/notes/<note_id>")
@bearer_required
@require_scope("notes:read")
def get_note(note_id: str) -> ResponseReturnValue:
    """One note."""
    return note_json(get_or_404(Note, note_id, "read"))


@bp.patch("/notes/<note_id>")
@bearer_required
@require_scope("notes:write")
def update_note(note_id: str) -> ResponseReturnValue:
    """Change a note's ``title`` and/or ``body``."""
    note = get_or_404(Note, note_id, "edit")
    fields = note_fields(required=False)
    if "title" in fields:
        note.title = fields["title"].strip()
    if "body" in fields:
        note.body = fields["body"]
    note.updated_at = time.time()
    get_db().commit()
    return note_json(note)


@bp.delete("/notes/<note_id>")
@bearer_required
@require_scope("notes:write")
def delete_note(note_id: str) -> Response:
    """Delete a note; 204."""
    attachments.delete_note(get_or_404(Note, note_id, "delete"))
    return Response(status=204)
