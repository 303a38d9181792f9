"""Session checks (``03x``): sessions that cannot be revoked or never time out, a store
that loses them, and a cookie name that lets a subdomain plant or overwrite the cookie.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from .registry import WARNING, CheckMessage, message, register

#: Timeouts above this (30 days) are reported as good as none.
MAX_TIMEOUT = 30 * 86_400

W031 = message(
    WARNING,
    "BASTION_SESSIONS_STORE is 'memory'.",
    "Memory sessions vanish on restart and are not shared between worker processes, so "
    "users are logged out at random. Use 'sql' or 'redis'.",
    "bastion.W031",
    settings=("BASTION_SESSIONS_STORE",),
)
W032 = message(
    WARNING,
    "The session idle timeout is off or longer than 30 days.",
    "A session left open on a shared computer stays usable. Keep "
    "BASTION_SESSIONS_IDLE_TIMEOUT at minutes to hours (default 30 minutes).",
    "bastion.W032",
    settings=("BASTION_SESSIONS_IDLE_TIMEOUT",),
)
W033 = message(
    WARNING,
    "The session absolute timeout is off or longer than 30 days.",
    "A stolen session ID stays usable for as long as it is used. Keep "
    "BASTION_SESSIONS_ABSOLUTE_TIMEOUT at hours (default 12).",
    "bastion.W033",
    settings=("BASTION_SESSIONS_ABSOLUTE_TIMEOUT",),
)
W034 = message(
    WARNING,
    "The session cookie name does not start with __Host-.",
    "The __Host- prefix makes browsers refuse the cookie unless it is Secure, has Path=/ "
    "and no Domain, so a subdomain cannot plant or overwrite it.",
    "bastion.W034",
    settings=("BASTION_SESSIONS_COOKIE_NAME",),
)
W035 = message(
    WARNING,
    "Server-side sessions are off (BASTION_SESSIONS_ENABLED).",
    "Flask's signed-cookie sessions cannot be listed, revoked or timed out on the server; "
    "a stolen cookie works until it expires.",
    "bastion.W035",
    settings=("BASTION_SESSIONS_ENABLED",),
)


def _too_long(seconds: int) -> bool:
    return seconds == 0 or seconds > MAX_TIMEOUT


@register(deploy=True)
def check_session_store(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    sessions = config.sessions
    return [W031] if sessions.enabled and sessions.store == "memory" else []


@register()
def check_session_timeouts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.sessions.enabled:
        return []
    found = [W032] if _too_long(config.sessions.idle_timeout) else []
    return [*found, W033] if _too_long(config.sessions.absolute_timeout) else found


@register(deploy=True)
def check_session_cookie_prefix(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    sessions = config.sessions
    plain = sessions.enabled and not sessions.cookie_name.startswith("__Host-")
    return [W034] if plain and not config.development else []


@register(deploy=True)
def check_sessions_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.sessions.enabled else [W035]
