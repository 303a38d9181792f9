"""Vault's users and notes on Vault's own declarative base.

Users are Flask-Bastion's user mixin, so the accounts tables live in Vault's database next
to its other tables; roles are Flask-Bastion's (:mod:`flask_bastion.authz`), stored in its
own tables. A note's ID is random (:func:`new_note_id`), not a counter: an ID seen once
says nothing about the others, and the object policy (:mod:`vault.policy`) still decides
every access, so a guessed ID is worth nothing either way.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask_bastion.accounts import UserMixin
from flask_bastion.authz import has_role

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
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    #: Markdown, rendered with :func:`flask_bastion.sanitize.render_markdown`.
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    shares: Mapped[list[NoteShare]] = relationship(
        back_populates="note", cascade="all, delete-orphan", passive_deletes=True
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
