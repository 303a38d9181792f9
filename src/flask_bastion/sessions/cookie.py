"""The session cookie: its name and attributes, settled once at ``init_app``.

The session interface is the one owner of the session cookie. Its name is
``BASTION_SESSIONS_COOKIE_NAME`` when set, otherwise ``__Host-`` plus Flask's
``SESSION_COOKIE_NAME``; it is always ``HttpOnly``, ``Secure`` (but under the development
profile) and ``SameSite=Lax`` or ``Strict`` as ``SESSION_COOKIE_SAMESITE`` says. A setting
that would weaken it (``SameSite=None``, ``HttpOnly`` off, a ``Domain`` or ``Path`` that
a ``__Host-`` cookie cannot have) is refused with
:class:`~flask_bastion.exceptions.ConfigurationError` instead of being sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ..config import BastionConfig
from ..config.parsers import Invalid, identifier
from ..cookies import HOST_PREFIX
from ..exceptions import ConfigurationError

#: ``SESSION_COOKIE_SAMESITE`` values a session cookie may have.
SAMESITE = ("Lax", "Strict")


@dataclass(frozen=True)
class SessionCookie:
    """The session cookie's name and attributes."""

    name: str
    domain: str | None
    path: str
    secure: bool
    samesite: str
    partitioned: bool
    #: Always: no script ever needs the session cookie.
    httponly: bool = True


def cookie_flags(app: Flask, development: bool) -> tuple[bool, str]:
    """The session cookie's ``Secure`` and ``SameSite`` for ``app``, from Flask's settings.

    ``Secure`` always, except under the development profile unless
    ``SESSION_COOKIE_SECURE`` asks for it. ``SameSite`` is ``SESSION_COOKIE_SAMESITE``:
    ``Lax`` when unset (Flask's default, ``None``), ``Strict`` when asked.

    :raises ConfigurationError: for ``SESSION_COOKIE_SAMESITE`` other than Lax or Strict
        (the string ``"None"`` would send the cookie with every cross-site request,
        forged ones included; refused rather than silently replaced), and for
        ``SESSION_COOKIE_HTTPONLY`` off (no script ever needs the session cookie).
    """
    if not app.config.get("SESSION_COOKIE_HTTPONLY", True):
        raise ConfigurationError(
            "SESSION_COOKIE_HTTPONLY", "the session cookie is always HttpOnly; remove the setting."
        )
    value = app.config.get("SESSION_COOKIE_SAMESITE")
    if value is None:
        samesite = "Lax"
    elif isinstance(value, str) and value.title() in SAMESITE:
        samesite = value.title()
    else:
        raise ConfigurationError(
            "SESSION_COOKIE_SAMESITE",
            f"the session cookie must be SameSite 'Lax' (the default) or 'Strict'; got {value!r}.",
        )
    return not development or bool(app.config.get("SESSION_COOKIE_SECURE")), samesite


def session_cookie(app: Flask, config: BastionConfig) -> SessionCookie:
    """The session cookie of ``app``, from its settings (see ``docs/sessions.md``).

    The name is ``BASTION_SESSIONS_COOKIE_NAME`` when that is set, otherwise ``__Host-``
    followed by Flask's ``SESSION_COOKIE_NAME`` (``__Host-session`` by default; a name
    that already starts with ``__Host-`` is kept). The cookie is ``Secure`` unless the
    development profile is active, which then also drops the ``__Host-`` prefix (a
    prefixed cookie must be ``Secure``), unless the app asked for ``Secure`` itself. A
    ``__Host-`` cookie has ``Path=/`` and no ``Domain``; other names take
    ``SESSION_COOKIE_DOMAIN`` and ``SESSION_COOKIE_PATH`` as Flask would.

    :raises ConfigurationError: naming the key, for a setting the cookie cannot honour:
        those of :func:`cookie_flags`, an invalid ``SESSION_COOKIE_NAME``, or a ``Domain``
        or a ``Path`` other than ``/`` for a ``__Host-`` cookie (browsers refuse it).
    """
    secure, samesite = cookie_flags(app, config.development)
    if config.sources.get("BASTION_SESSIONS_COOKIE_NAME", "default") != "default":
        name = config.sessions.cookie_name
    else:
        try:
            flask_name = identifier(app.config.get("SESSION_COOKIE_NAME") or "session")
        except Invalid as exc:
            raise ConfigurationError("SESSION_COOKIE_NAME", f"{exc}.") from None
        name = flask_name if flask_name.startswith(HOST_PREFIX) else HOST_PREFIX + flask_name
    domain = app.config.get("SESSION_COOKIE_DOMAIN") or None
    path = app.config.get("SESSION_COOKIE_PATH") or None
    if name.startswith(HOST_PREFIX):
        for key, value, allowed in (
            ("SESSION_COOKIE_DOMAIN", domain, None),
            ("SESSION_COOKIE_PATH", path, "/"),
        ):
            if value not in (None, allowed):
                raise ConfigurationError(
                    key,
                    f"browsers refuse a {HOST_PREFIX} cookie with a Domain or a Path other "
                    f"than /; remove the setting, or name the cookie without the prefix in "
                    f"BASTION_SESSIONS_COOKIE_NAME (bastion.W034). Got {value!r}.",
                )
        path = "/"
    else:
        path = path or app.config.get("APPLICATION_ROOT") or "/"
    partitioned = bool(app.config.get("SESSION_COOKIE_PARTITIONED", False))
    secure = secure or partitioned  # a partitioned cookie must be Secure (werkzeug adds it)
    if not secure:
        name = name.removeprefix(HOST_PREFIX)
    return SessionCookie(name, domain, path, secure, samesite, partitioned)
