"""Vault's users: Flask-Bastion's user mixin on Vault's own declarative base, so the
accounts tables live in Vault's database next to its other tables. Roles are
Flask-Bastion's (:mod:`flask_bastion.authz`), stored in its own tables."""

from __future__ import annotations

from flask_bastion.accounts import UserMixin
from flask_bastion.authz import has_role

from .db import Base

#: The administrators' role and what it may do.
ADMIN_ROLE = "admin"
ADMIN_PERMISSIONS = ("users:manage", "audit:read")


class User(UserMixin, Base):
    """A person who can sign in to Vault."""

    __tablename__ = "users"

    @property
    def is_admin(self) -> bool:
        return has_role(self, ADMIN_ROLE)
