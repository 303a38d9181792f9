"""Accounts checks (``11x``): sign-in that trusts an address nobody confirmed, and
administrators without a second factor.

Without email verification anyone can register with someone else's address: the real
owner is then locked out of signing up, and every mail the account sends (resets,
notifications) goes to a person who never asked for it. Without a required second
factor, one phished administrator password is the whole site.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

W111 = message(
    WARNING,
    "BASTION_ACCOUNTS_REQUIRE_VERIFIED_EMAIL is off: accounts sign in before their address "
    "is confirmed.",
    "Anyone can register with someone else's address and use the account at once. Leave "
    "it on unless another proof of the address exists (single sign-on).",
    "bastion.W111",
    settings=("BASTION_ACCOUNTS_REQUIRE_VERIFIED_EMAIL",),
)


@register(deploy=True)
def check_verified_email(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if "bastion.accounts" not in app.extensions:
        return []
    return [] if config.accounts.require_verified_email else [W111]


W112 = message(
    WARNING,
    "BASTION_ACCOUNTS_MFA_REQUIRED_ROLES is empty: administrators sign in with a password alone.",
    "A phished or reused administrator password then gives the whole site away. Name the "
    "roles that must use a second factor, such as ['admin'] (the default).",
    "bastion.W112",
    settings=("BASTION_ACCOUNTS_MFA_REQUIRED_ROLES",),
)


@register(deploy=True)
def check_mfa_required(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if "bastion.accounts" not in app.extensions:
        return []
    return [] if config.accounts.mfa_required_roles else [W112]
