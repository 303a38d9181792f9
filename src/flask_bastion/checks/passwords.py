"""Password checks (``10x``): a policy for new passwords below NIST SP 800-63B-4.

A short minimum or no blocklist lets users pick the passwords every attacker tries first;
the policy cannot be seen from the outside, so only the configuration tells. The hashing
profiles are not checked: the weakest one offered is OWASP's own minimum.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from ..passwords.policy import DEFAULT_MIN_LENGTH, DEFAULT_MIN_LENGTH_SECOND_FACTOR
from .registry import ERROR, WARNING, CheckMessage, message, register

W101 = message(
    WARNING,
    f"The minimum password length is below {DEFAULT_MIN_LENGTH} characters.",
    f"NIST SP 800-63B-4 asks for at least {DEFAULT_MIN_LENGTH} characters when the password "
    "is the only factor. Raise BASTION_PASSWORDS_MIN_LENGTH, and use "
    "BASTION_PASSWORDS_MIN_LENGTH_SECOND_FACTOR for accounts with a second factor.",
    "bastion.W101",
    settings=("BASTION_PASSWORDS_MIN_LENGTH",),
)
E102 = message(
    ERROR,
    f"The minimum password length is below {DEFAULT_MIN_LENGTH_SECOND_FACTOR} characters.",
    "Passwords this short are guessed online, whatever the blocklist. Set "
    f"BASTION_PASSWORDS_MIN_LENGTH to {DEFAULT_MIN_LENGTH} (at least "
    f"{DEFAULT_MIN_LENGTH_SECOND_FACTOR}).",
    "bastion.E102",
    settings=("BASTION_PASSWORDS_MIN_LENGTH",),
)
W103 = message(
    WARNING,
    "The minimum password length with a second factor is below "
    f"{DEFAULT_MIN_LENGTH_SECOND_FACTOR} characters.",
    f"NIST SP 800-63B-4 asks for at least {DEFAULT_MIN_LENGTH_SECOND_FACTOR} characters even "
    "when the password is one of two factors. Raise "
    "BASTION_PASSWORDS_MIN_LENGTH_SECOND_FACTOR.",
    "bastion.W103",
    settings=("BASTION_PASSWORDS_MIN_LENGTH_SECOND_FACTOR",),
)
W104 = message(
    WARNING,
    "The password blocklist is off (BASTION_PASSWORDS_BLOCKLIST).",
    "New passwords such as '123456789012345' and the most common ones are accepted. NIST SP "
    "800-63B-4 requires a blocklist.",
    "bastion.W104",
    settings=("BASTION_PASSWORDS_BLOCKLIST",),
)


@register(deploy=True)
def check_min_length(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    length = config.passwords.min_length
    if length < DEFAULT_MIN_LENGTH_SECOND_FACTOR:
        return [E102]
    return [W101] if length < DEFAULT_MIN_LENGTH else []


@register(deploy=True)
def check_min_length_second_factor(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    section = config.passwords
    # E102 already reports a minimum below 8, which the second-factor one never exceeds.
    too_short = section.min_length_second_factor < DEFAULT_MIN_LENGTH_SECOND_FACTOR
    return [W103] if too_short and section.min_length >= DEFAULT_MIN_LENGTH_SECOND_FACTOR else []


@register(deploy=True)
def check_blocklist(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.passwords.blocklist else [W104]
