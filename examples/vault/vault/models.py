"""Vault's users and notes on Vault's own declarative base.

Users are Flask-Bastion's user mixin, so the accounts tables live in Vault's database next
to its other tables; roles are Flask-Bastion's (:mod:`flask_bastion.authz`), stored in its
own tables. A note's ID is random (:func:`new_note_id`), not a counter: an ID seen once
says nothing about the others, and the object policy (:mod:`vault.policy`) still decides
every access, so a guessed ID is worth nothing either way.

A note's title and body are encrypted at rest (:class:`~flask_bastion.crypto.EncryptedText`,
under ``BASTION_CRYPTO_KEYS``), each bound to its note: a database dump shows neither, and
a title or body copied into another note's row does not decrypt there. The ID is made in
Python, as the binding requires. Encrypted text cannot be searched in SQL, so
:func:`search_notes` filters the user's notes in Python, over a bounded number of them.
"""

from __future__ import annotations

import secrets
import typing as t

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from flask_bastion.accounts import UserMixin
from flask_bastion.authz import has_role
from flask_bastion.crypto import EncryptedText

from .db import Base

#: The administrators' role and what it may do.
ADMIN_ROLE = "admin"
ADMIN_PERMISSIONS = ("users:manage", "audit:read")

#: Longest note title, in characters.
TITLE_MAX = 200
#: Longest note body, in characters (about 100 kB of Markdown).
BODY_MAX = 100_000
#: What a share gives: ``read`` shows the note, ``edit`` also changes it.
ACCESS_LEVELS = ("read", "edit")
#: Most notes a list shows.
LIST_LIMIT = 200
#: Most notes a search looks through, the most recently changed first: the search
#: decrypts each, so it is bounded (at most this many times :data:`BODY_MAX`).
SEARCH_SCAN_LIMIT = 1000


class User(UserMixin, Base):
    """A person who can sign in to Vault."""

    __tablename__ = "users"

    @property
    def is_admin(self) -> bool:
        return has_role(self, ADMIN_ROLE)


def new_note_id() -> str:
    """A new note ID: 96 random bits, 16 URL-safe characters."""
    return secrets.token_urlsafe(12)


class Note(Base):
    """A Markdown note, owned by one user and shared with others through
    :class:`NoteShare`. Deleting the owner's account deletes their notes."""

    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_note_id)
    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: At most :data:`TITLE_MAX` characters (checked by the views), encrypted.
    title: Mapped[str] = mapped_column(EncryptedText())
    #: Markdown, rendered with :func:`flask_bastion.sanitize.render_markdown`; encrypted.
    body: Mapped[str] = mapped_column(EncryptedText(), default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    shares: Mapped[list[NoteShare]] = relationship(
        back_populates="note", cascade="all, delete-orphan", passive_deletes=True
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="note",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Attachment.created_at",
    )


class NoteShare(Base):
    """One user's access to another user's note: ``read`` or ``edit``."""

    __tablename__ = "note_shares"

    note_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    access: Mapped[str] = mapped_column(String(8))

    note: Mapped[Note] = relationship(back_populates="shares")
    user: Mapped[User] = relationship()


class Attachment(Base):
    """A file attached to a note, stored by :mod:`flask_bastion.uploads` (encrypted, under
    a random name in the note owner's folder, counted against the owner's quota). The
    row holds the stored name and the metadata; the name it was sent under is encrypted
    like the note's title. Deleting the note deletes the row; :mod:`vault.attachments`
    removes the file."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_note_id)
    note_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("notes.id", ondelete="CASCADE"), index=True
    )
    #: :attr:`flask_bastion.uploads.StoredUpload.name`.
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    #: The name it was uploaded under: shown, and offered when downloading; encrypted.
    name: Mapped[str] = mapped_column(EncryptedText())
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)

    note: Mapped[Note] = relationship(back_populates="attachments")


def search_notes(db: Session, user: t.Any, query: str = "") -> list[Note]:
    """The notes ``user`` owns or has a share of, newest change first, at most
    :data:`LIST_LIMIT`; with ``query``, those whose title or body contains it
    (case-insensitively) among the :data:`SEARCH_SCAN_LIMIT` most recently changed."""
    shared = select(NoteShare.note_id).where(NoteShare.user_id == user.id)
    statement = (
        select(Note)
        .where(or_(Note.owner_id == user.id, Note.id.in_(shared)))
        .order_by(Note.updated_at.desc(), Note.id)
    )
    if not query:
        return list(db.scalars(statement.limit(LIST_LIMIT)))
    needle = query.casefold()
    found = []
    # In batches, so that the notes looked at and dropped do not pile up in memory.
    rows = db.scalars(statement.limit(SEARCH_SCAN_LIMIT).execution_options(yield_per=100))
    for note in rows:
        if needle in note.title.casefold() or needle in note.body.casefold():
            found.append(note)
            if len(found) == LIST_LIMIT:
                break
    rows.close()
    return found
