"""Accounts checks (``11x``): sign-in that trusts an address nobody confirmed,
administrators without a second factor, and a passkey RP ID the site's host cannot use.

Without email verification anyone can register with someone else's address: the real
owner is then locked out of signing up, and every mail the account sends (resets,
notifications) goes to a person who never asked for it. Without a required second
factor, one phished administrator password is the whole site.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

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


W113 = message(
    WARNING,
    "BASTION_ACCOUNTS_WEBAUTHN_RP_ID is not SERVER_NAME's host nor a domain it is under: "
    "no passkey can be made or used.",
    "Browsers accept an RP ID only when it is the page's host or a registrable suffix of "
    "it. Set it to the site's domain, such as 'example.org' for 'www.example.org', or "
    "leave it unset to use SERVER_NAME's host.",
    "bastion.W113",
    settings=("BASTION_ACCOUNTS_WEBAUTHN_RP_ID", "SERVER_NAME"),
)


@register(deploy=True)
def check_webauthn_rp_id(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    rp_id = config.accounts.webauthn_rp_id
    server_name: str | None = app.config.get("SERVER_NAME")
    if "bastion.accounts" not in app.extensions or not rp_id or not server_name:
        return []
    host = (urlsplit("//" + server_name).hostname or "").rstrip(".")
    rp_id = rp_id.lower().rstrip(".")
    return [] if host == rp_id or host.endswith("." + rp_id) else [W113]
