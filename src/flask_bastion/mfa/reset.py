"""An administrator's reset: every second factor of an account removed at once, for a
user who lost them all."""

from __future__ import annotations

from ..accounts.models import UserLike
from ..accounts.services import notify_second_factor
from .core import disable_mfa
from .passkeys import delete_passkey, passkeys_of

__all__ = ["reset_second_factors"]


def reset_second_factors(user: UserLike) -> bool:
    """Remove every second factor of ``user``, for a user who lost them all (an
    administrator's reset): the authenticator app, the recovery codes, the remembered
    browsers and every passkey, and mail its owner that it happened. Whether there was
    any."""
    had_app = disable_mfa(user)
    had_passkey = False
    for passkey in passkeys_of(user):
        had_passkey = delete_passkey(user, passkey.id) or had_passkey
    if had_app or had_passkey:
        notify_second_factor(user, "reset")
    return had_app or had_passkey
