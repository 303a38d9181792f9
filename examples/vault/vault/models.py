"""Vault's users: Flask-Bastion's user mixin on Vault's own declarative base, so the
accounts tables live in Vault's database next to its other tables."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from flask_bastion.accounts import UserMixin

from .db import Base

#: Roles a user can have; the first is the default.
ROLES = ("member", "admin")


class User(UserMixin, Base):
    """A person who can sign in to Vault."""

    __tablename__ = "users"

    role: Mapped[str] = mapped_column(String(16), default=ROLES[0])

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
