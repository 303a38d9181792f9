"""Who may do what with a note: Vault's object policy.

Every view that loads a note by the ID in its URL goes through
:func:`flask_bastion.authz.get_or_404` with one of these actions, and a refusal is the very
404 of a missing note. The owner may do everything; a ``read`` share may read; an ``edit``
share may read and edit, but neither delete the note nor change who it is shared with.
An anonymous visitor may do nothing.
"""

from __future__ import annotations

import typing as t

from flask_bastion.authz import Policy

from .db import get_db
from .models import Note, NoteShare

policy = Policy()

#: Which actions each kind of access allows.
ALLOWED: dict[str, frozenset[str]] = {
    "owner": frozenset({"read", "edit", "delete", "share"}),
    "edit": frozenset({"read", "edit"}),
    "read": frozenset({"read"}),
}


def access_of(user: t.Any, note: Note) -> str | None:
    """``"owner"``, ``"edit"``, ``"read"`` or ``None``: what ``user`` has on ``note``."""
    if not user.is_authenticated:
        return None
    if note.owner_id == user.id:
        return "owner"
    share = get_db().get(NoteShare, (note.id, user.id))
    return share.access if share is not None else None


def _rule(action: str) -> t.Callable[[t.Any, Note], bool]:
    def rule(user: t.Any, note: Note) -> bool:
        return action in ALLOWED.get(access_of(user, note) or "", frozenset())

    rule.__name__ = f"may_{action}_note"
    return rule


for _action in ("read", "edit", "delete", "share"):
    policy.rule(Note, _action)(_rule(_action))
