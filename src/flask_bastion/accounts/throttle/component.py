"""The lockout component: makes the application's throttle on the configured store."""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask

from ...components import Stage
from ...config import BastionConfig
from ...context import get_state
from ..counters import CounterBackend, MemoryCounters, RedisCounters, SQLCounters
from .policy import LoginThrottle
from .verdicts import KEY_LABEL


def make_throttle(app: Flask) -> LoginThrottle:
    """A :class:`LoginThrottle` for ``app`` on the store its configuration names.

    ``BASTION_LOCKOUT_STORE = "auto"`` takes the kind of store the sessions use, and their
    URL unless ``BASTION_LOCKOUT_URL`` is set. Applications use the one the ``"lockout"``
    component made, ``get_state(app).component("lockout").throttle``.

    :raises ConfigurationError: for a redis store without a URL, or a SQL database other
        than SQLite or PostgreSQL.
    """
    state = get_state(app)
    config = state.config
    settings = config.lockout
    kind, url = settings.store, settings.url
    if kind == "auto":
        kind, url = config.sessions.store, url or config.sessions.url
    backend: CounterBackend
    if not settings.enabled or kind == "memory":
        backend = MemoryCounters()
    elif kind == "redis":
        client = state.stores.redis(url, key="BASTION_LOCKOUT_URL")
        backend = RedisCounters(client, settings.key_prefix)
    else:
        database = state.stores.sql(url, name="lockout store")
        backend = SQLCounters(database, settings.table_name)
    key = app.secret_key
    secret = None
    if key:
        raw = key.encode() if isinstance(key, str) else key
        secret = hmac.new(raw, KEY_LABEL, hashlib.sha256).digest()
    return LoginThrottle(backend, settings, secret=secret)


class LoginThrottling:
    """Component: makes the application's :class:`LoginThrottle` at ``init_app`` and keeps
    it as :attr:`throttle`, for the sign-in views
    (``get_state(app).component("lockout").throttle``). It looks at no request itself."""

    name = "lockout"
    stage = Stage.AUTHENTICATE

    def __init__(self, config: BastionConfig) -> None:
        self.config = config

    def init_app(self, app: Flask) -> None:
        #: The application's throttle.
        self.throttle = make_throttle(app)
