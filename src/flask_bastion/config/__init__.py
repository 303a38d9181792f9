"""Configuration: every ``BASTION_*`` key, its default, its parser and its documentation.

A misspelt or mistyped security setting is itself a vulnerability: the setting silently
falls back to a default the operator did not choose. So configuration is loaded once, in
``init_app``, into frozen dataclasses; an unknown ``BASTION_*`` key or an invalid value
raises :class:`~flask_bastion.exceptions.ConfigurationError` naming the key, the valid
values and the closest known key.

Keys are ``BASTION_<SECTION>_<SETTING>`` (``BASTION_HTTPS_HSTS_MAX_AGE``), except the
core settings, which are ``BASTION_<SETTING>`` (``BASTION_PROFILE``). Precedence is
constructor keyword > ``app.config`` > default. Keywords are the key without the
``BASTION_`` prefix, in lower case: ``Bastion(app, https_hsts_preload=True)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..exceptions import ConfigurationError
from ..logs import scrub
from .parsers import Invalid, IPNetwork, setting
from .sections import (
    DEFAULT_CSP,
    DEFAULT_PERMISSIONS_POLICY,
    DEVELOPMENT,
    PRODUCTION,
    AccountsConfig,
    ContentConfig,
    CoreConfig,
    CryptoConfig,
    CspConfig,
    CsrfConfig,
    ErrorsConfig,
    HeadersConfig,
    HttpsConfig,
    InputsConfig,
    IpfilterConfig,
    LockoutConfig,
    MailConfig,
    PasswordsConfig,
    ProxyConfig,
    RatelimitConfig,
    SessionsConfig,
    StoresConfig,
    UploadsConfig,
)

__all__ = [
    "DEFAULT_CSP",
    "DEFAULT_PERMISSIONS_POLICY",
    "DEVELOPMENT",
    "PREFIX",
    "PRODUCTION",
    "AccountsConfig",
    "BastionConfig",
    "ContentConfig",
    "CoreConfig",
    "CryptoConfig",
    "CspConfig",
    "CsrfConfig",
    "ErrorsConfig",
    "HeadersConfig",
    "HttpsConfig",
    "IPNetwork",
    "InputsConfig",
    "IpfilterConfig",
    "LockoutConfig",
    "MailConfig",
    "PasswordsConfig",
    "ProxyConfig",
    "RatelimitConfig",
    "SessionsConfig",
    "SettingInfo",
    "StoresConfig",
    "UploadsConfig",
    "is_secret",
    "load_config",
    "setting",
    "settings",
    "value_of",
]

PREFIX = "BASTION_"


#: Section name -> dataclass. The section name is the ``<SECTION>`` part of the key.
SECTIONS: dict[str, type[t.Any]] = {
    "": CoreConfig,
    "proxy": ProxyConfig,
    "https": HttpsConfig,
    "headers": HeadersConfig,
    "csp": CspConfig,
    "errors": ErrorsConfig,
    "inputs": InputsConfig,
    "csrf": CsrfConfig,
    "sessions": SessionsConfig,
    "stores": StoresConfig,
    "passwords": PasswordsConfig,
    "accounts": AccountsConfig,
    "mail": MailConfig,
    "lockout": LockoutConfig,
    "crypto": CryptoConfig,
    "content": ContentConfig,
    "ipfilter": IpfilterConfig,
    "uploads": UploadsConfig,
    "ratelimit": RatelimitConfig,
}


@dataclass(frozen=True)
class SettingInfo:
    """One documented setting, as listed by ``flask bastion config`` and the docs."""

    key: str
    section: str
    name: str
    default: t.Any
    doc: str
    danger: str
    choices: tuple[str | None, ...] | None
    parse: Callable[[object], t.Any] = field(repr=False, compare=False)


def _key(section: str, name: str) -> str:
    return f"{PREFIX}{section.upper()}_{name.upper()}" if section else f"{PREFIX}{name.upper()}"


def settings() -> list[SettingInfo]:
    """Every known setting, in documentation order."""
    result = []
    for section, cls in SECTIONS.items():
        defaults = cls()
        for f in dataclasses.fields(cls):
            result.append(
                SettingInfo(
                    key=_key(section, f.name),
                    section=section,
                    name=f.name,
                    default=getattr(defaults, f.name),
                    doc=f.metadata["doc"],
                    danger=f.metadata["danger"],
                    choices=getattr(f.metadata["parse"], "choices", None),
                    parse=f.metadata["parse"],
                )
            )
    return result


@dataclass(frozen=True)
class BastionConfig:
    """The effective, validated configuration of one application."""

    core: CoreConfig
    proxy: ProxyConfig
    https: HttpsConfig
    headers: HeadersConfig
    csp: CspConfig
    errors: ErrorsConfig
    inputs: InputsConfig
    csrf: CsrfConfig
    sessions: SessionsConfig
    stores: StoresConfig
    passwords: PasswordsConfig
    accounts: AccountsConfig
    mail: MailConfig
    lockout: LockoutConfig
    crypto: CryptoConfig
    content: ContentConfig
    ipfilter: IpfilterConfig
    uploads: UploadsConfig
    ratelimit: RatelimitConfig
    #: key -> where its value came from: ``"keyword"``, ``"app.config"`` or ``"default"``.
    sources: Mapping[str, str]

    @property
    def development(self) -> bool:
        """Whether the development profile is active."""
        return self.core.profile == DEVELOPMENT


#: Words in a key that make its value a secret: never echoed in an error, and shown as
#: ``[redacted]`` by ``flask bastion config``. ``KEYS`` is the key ring
#: (``BASTION_CRYPTO_KEYS``); ``KEY`` is not a secret word: ``BASTION_*_KEY_PREFIX`` names
#: Redis keys.
SECRET_WORDS = frozenset({"PEPPER", "PASSWORD", "KEYS"})


def is_secret(key: str) -> bool:
    """Whether the value of ``key`` is a secret that must never be printed: one of the
    words of the key (``BASTION_MAIL_PASSWORD``, not ``BASTION_PASSWORDS_PROFILE``) is in
    :data:`SECRET_WORDS`."""
    return not SECRET_WORDS.isdisjoint(key.split("_"))


def _normalise_keyword(name: str) -> str:
    return name if name.startswith(PREFIX) else PREFIX + name.upper()


def _unknown(key: str, known: t.Iterable[str]) -> ConfigurationError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else ""
    return ConfigurationError(key, f"unknown setting.{hint}")


def load_config(app_config: Mapping[str, t.Any], overrides: Mapping[str, t.Any]) -> BastionConfig:
    """Validate ``overrides`` (constructor keywords) and ``app_config`` into one config.

    :raises ConfigurationError: for an unknown ``BASTION_*`` key or an invalid value.
    """
    infos = {info.key: info for info in settings()}
    keywords = {_normalise_keyword(name): value for name, value in overrides.items()}
    for key in [*keywords, *(k for k in app_config if k.startswith(PREFIX))]:
        if key not in infos:
            raise _unknown(key, infos)

    sources: dict[str, str] = {}
    values: dict[str, dict[str, t.Any]] = {section: {} for section in SECTIONS}
    for key, info in infos.items():
        if key in keywords:
            raw, source = keywords[key], "keyword"
        elif key in app_config:
            raw, source = app_config[key], "app.config"
        else:
            sources[key] = "default"
            continue
        try:
            values[info.section][info.name] = info.parse(raw)
        except Invalid as exc:
            # The message echoes the value, and lands in tracebacks and deploy logs: a
            # misplaced URL must not bring its password along.
            got = "" if is_secret(key) else f"; got {raw!r}"
            raise ConfigurationError(key, scrub(f"{exc}{got}.")) from None
        sources[key] = source

    sections = {name or "core": SECTIONS[name](**values[name]) for name in SECTIONS}
    return BastionConfig(**sections, sources=sources)


def value_of(config: BastionConfig, key: str) -> t.Any:
    """The effective value of ``key`` in ``config``."""
    info = next(i for i in settings() if i.key == key)
    section = config.core if info.section == "" else getattr(config, info.section)
    return getattr(section, info.name)
