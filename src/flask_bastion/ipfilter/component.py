"""The IP filter component, the per-view decorators and the one ban API.

Order of the checks for a request, all before rate limits and sessions, so a refused
address costs nothing further and spends no one's budget:

1. the client address, as :mod:`flask_bastion.proxy` settled it (never a header read
   here); an address that is not an IP address (a UNIX socket peer) passes the deny
   lists and bans, and fails any allow list;
2. ``BASTION_IPFILTER_DENY``, then ``BASTION_IPFILTER_ALLOW`` (when not empty);
3. the view's lists: every :func:`ip_allow` on the view, its class and its blueprint
   must hold the address (a view's list narrows its blueprint's, never widens it), and
   no :func:`ip_deny` may; then the lists given with :func:`restrict_blueprint`;
4. the bans (:mod:`.banlist`): a dictionary lookup in this process's copy.

Each refusal is the same bare 403 (:class:`~flask_bastion.exceptions.AddressRefused`),
the :data:`~flask_bastion.signals.ip_refused` signal and a security log line.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from flask import Flask, Request, current_app
from werkzeug.exceptions import NotFound

from ..components import Stage
from ..config import BastionConfig
from ..config.parsers import Invalid, IPNetwork
from ..config.parsers.ipfilter import MEMORY_SCHEMES, REDIS_SCHEMES, cidr
from ..context import RequestState, get_state
from ..exceptions import AddressRefused, ConfigurationError
from ..markers import ENDPOINT_MARKS, mark, marks_of
from ..refusal import refuse
from .banlist import BanList
from .networks import NetworkIndex, client_address, index_of
from .redis_store import RedisBanStore
from .stores import BanStore, MemoryBanStore

V = t.TypeVar("V")

REASON_DENIED = "The client address is in a deny list."
REASON_NOT_ALLOWED = "The client address is not in an allow list."
REASON_BANNED = "The client address is banned."
#: The view mark of :func:`ip_allow` and :func:`ip_deny`.
ALLOW_MARK = "ip_allow"
DENY_MARK = "ip_deny"


def _networks(decorator: str, networks: str | t.Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    if isinstance(networks, str):  # one comma-separated string, as from the environment
        networks = [part for part in networks.split(",") if part.strip()]
    parsed = []
    for network in networks:
        try:
            parsed.append(cidr(str(network)))
        except Invalid as exc:
            raise ConfigurationError(decorator, str(exc)) from None
    if not parsed:
        raise ConfigurationError(decorator, "name at least one network.")
    return tuple(parsed)


def ip_allow(*networks: str | IPNetwork) -> t.Callable[[V], V]:
    """Only clients in ``networks`` may use the decorated view, view class or blueprint;
    others get a bare 403. Stacks with the application's and the blueprint's lists: an
    address must be in each of them.

    :raises ConfigurationError: when a network is malformed, at decoration time.
    """
    parsed = _networks("ip_allow", networks)
    return lambda target: mark(target, ALLOW_MARK, parsed)


def ip_deny(*networks: str | IPNetwork) -> t.Callable[[V], V]:
    """Clients in ``networks`` get a bare 403 from the decorated view, view class or
    blueprint.

    :raises ConfigurationError: when a network is malformed, at decoration time.
    """
    parsed = _networks("ip_deny", networks)
    return lambda target: mark(target, DENY_MARK, parsed)


@dataclass(frozen=True)
class _Rules:
    """The per-view lists: the address must be in every ``allows`` index and in no
    ``denies`` index."""

    allows: tuple[NetworkIndex[IPNetwork], ...] = ()
    denies: tuple[NetworkIndex[IPNetwork], ...] = ()


_NO_RULES = _Rules()
_UNPARSED = object()
#: Client addresses whose parsed form is kept (then the cache starts over).
_ADDRESS_CACHE = 4096


def make_store(app: Flask, config: BastionConfig) -> BanStore:
    """The ban store ``BASTION_IPFILTER_BANS_URL`` names."""
    settings = config.ipfilter
    url = settings.bans_url
    scheme = url.partition("://")[0].lower()
    if scheme in MEMORY_SCHEMES:
        return MemoryBanStore()
    stores = get_state(app).stores
    if scheme in REDIS_SCHEMES:
        client = stores.redis(url, key="BASTION_IPFILTER_BANS_URL")
        store = RedisBanStore(client, settings.key_prefix)
        stores.on_close(store.close)  # its change-notice connection
        return store
    import sqlalchemy.exc

    from .sql_store import SQLBanStore

    try:
        database = stores.sql(url, name="ban store")
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError):
        # The message would echo the URL, password included.
        raise ConfigurationError(
            "BASTION_IPFILTER_BANS_URL",
            f"{scheme}:// is neither memory://, Redis nor a database SQLAlchemy can open.",
        ) from None
    return SQLBanStore(database, settings.table_name)


class IPFilter:
    """Component: the allow and deny lists and the bans, at the filter stage."""

    name = "ipfilter"
    stage = Stage.FILTER

    def __init__(self, config: BastionConfig) -> None:
        self.config = config
        #: ``BASTION_IPFILTER_*``.
        self.settings = settings = config.ipfilter
        self.deny = index_of(settings.deny)
        self.allow = index_of(settings.allow) if settings.allow else None
        #: The bans, made in :meth:`init_app` (the store needs the application).
        self.bans: BanList
        self._rules: dict[str | None, _Rules] = {None: _NO_RULES}
        self._restrictions: dict[str, _Rules] = {}
        self._static = bool(settings.deny) or self.allow is not None
        # Parsed client addresses: parsing costs more than every lookup after it.
        self._addresses: dict[str, t.Any] = {}

    def init_app(self, app: Flask) -> None:
        """Open the ban store."""
        settings = self.settings
        self.bans = BanList(
            make_store(app, self.config), settings.refresh, settings.on_store_failure
        )

    def restrict(self, blueprint: str, *, allow: t.Iterable[IPNetwork] = (),
                 deny: t.Iterable[IPNetwork] = ()) -> None:  # fmt: skip
        """Apply lists to every endpoint of the blueprint registered as ``blueprint``
        (see :func:`restrict_blueprint`)."""
        allows, denies = tuple(allow), tuple(deny)
        self._restrictions[blueprint] = _Rules(
            (index_of(allows),) if allows else (), (index_of(denies),) if denies else ()
        )
        self._rules = {None: _NO_RULES}

    def rules(self, app: Flask, endpoint: str | None) -> _Rules:
        """The lists of ``endpoint``, resolved on its first request and kept."""
        found = self._rules.get(endpoint)
        if found is None:
            func = app.view_functions.get(endpoint) if endpoint else None
            levels = [
                app.extensions.get(ENDPOINT_MARKS, {}).get(endpoint, {}),
                marks_of(getattr(func, "view_class", None)),
                marks_of(func),
            ]
            allows = [index_of(m[ALLOW_MARK]) for m in levels if ALLOW_MARK in m]
            denies = [index_of(m[DENY_MARK]) for m in levels if DENY_MARK in m]
            for name, rules in self._restrictions.items():
                if endpoint is not None and endpoint.startswith(name + "."):
                    allows.extend(rules.allows)
                    denies.extend(rules.denies)
            found = _Rules(tuple(allows), tuple(denies)) if allows or denies else _NO_RULES
            self._rules[endpoint] = found
        return found

    def before_request(self, request: Request, state: RequestState) -> None:
        """Refuse a denied, not allowed or banned client address.

        :raises AddressRefused: with a ``REASON_*`` constant of this module.
        :raises BanStoreUnavailable: when the ban store cannot be read under the
            ``closed`` failure mode.
        """
        now = self.bans.clock()
        bans = self.bans.current(now)
        rules = self._rules.get(state.endpoint)
        if rules is None:
            rules = self.rules(current_app, state.endpoint)
        unrouted = isinstance(request.routing_exception, NotFound)
        if not (bans or self._static or rules is not _NO_RULES or unrouted):
            return  # the common case: nothing is listed or banned
        remote = request.remote_addr or ""
        address = self._addresses.get(remote, _UNPARSED)
        if address is _UNPARSED:
            if len(self._addresses) >= _ADDRESS_CACHE:
                self._addresses.clear()
            address = self._addresses[remote] = client_address(remote)
        reason = None
        if address is None:
            if self.allow is not None or rules.allows:
                reason = REASON_NOT_ALLOWED
        elif address in self.deny or any(address in deny for deny in rules.denies):
            reason = REASON_DENIED
        elif (self.allow is not None and address not in self.allow) or any(
            address not in allow for allow in rules.allows
        ):
            reason = REASON_NOT_ALLOWED
        elif bans.find(address) is not None:
            reason = REASON_BANNED
        if reason is not None:
            refuse(AddressRefused(reason, ip=request.remote_addr, endpoint=request.endpoint))
        if unrouted and address is not None:
            from .auto import count_not_found

            count_not_found(self, address, now)


def ipfilter_of(app: Flask) -> IPFilter:
    """The :class:`IPFilter` of ``app``.

    :raises RuntimeError: when Flask-Bastion is not initialised on ``app``.
    """
    return t.cast(IPFilter, get_state(app).component(IPFilter.name))


def restrict_blueprint(
    app: Flask,
    blueprint: str,
    *,
    allow: str | t.Iterable[str | IPNetwork] = (),
    deny: str | t.Iterable[str | IPNetwork] = (),
    key: str = "restrict_blueprint",
) -> None:
    """Allow only ``allow`` (when not empty) and refuse ``deny`` on every endpoint of the
    blueprint registered as ``blueprint``, for ``app`` only: for lists that come from the
    application's configuration, where a decorator on a module-level blueprint would
    apply to every application made from it. Call it at start-up; an empty ``allow``
    and ``deny`` leaves the blueprint open.

    :param allow: networks, or one comma-separated string of them.
    :param deny: likewise.
    :param key: the configuration key the lists came from, named in errors.
    :raises ConfigurationError: naming ``key`` when a network is malformed, or when
        ``allow`` names only trusted proxies (``BASTION_PROXY_TRUSTED_CIDRS``): the
        client address is the one they forward, so that list would refuse everyone.
    """
    allows = _networks(key, allow) if allow else ()
    denies = _networks(key, deny) if deny else ()
    ipfilter = ipfilter_of(app)
    proxies = ipfilter.config.proxy.trusted_cidrs
    if (
        allows
        and proxies
        and all(
            any(a.version == p.version and a.subnet_of(p) for p in proxies)  # type: ignore[arg-type]
            for a in allows
        )
    ):
        raise ConfigurationError(
            key, "names only trusted proxies, so it would refuse every client; list theirs."
        )
    ipfilter.restrict(blueprint, allow=allows, deny=denies)
