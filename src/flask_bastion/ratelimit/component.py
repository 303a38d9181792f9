"""The rate-limit component: per-endpoint plans, client keys, one store round trip,
the 429 and the headers."""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import time
import typing as t
from dataclasses import replace

from flask import Flask, Request, current_app

from .. import signals
from ..components import SAFE_METHODS, Stage
from ..config import BastionConfig
from ..context import RequestState
from ..exceptions import RateLimitExceeded, RateLimitStoreUnavailable, StoreError
from ..logs import security_log
from ..markers import View
from ..origins import from_another_site
from ..proxy import in_networks
from ..refusal import refuse
from ..sessions import USER_KEY, peek_session_value
from .counters import Count, Hit, MemoryWindows, RedisWindows, Windows, redis_connect
from .keys import account_key, bearer_key, key_secret
from .rules import (
    AUTH,
    BAD_INPUT,
    BLUEPRINT_LIMITS,
    EXEMPT,
    VIEW_LIMITS,
    Rule,
    cost_of,
    key_part,
    parse_rules,
)

#: Why a request was refused.
REASON_LIMITED = "Too many requests: slow down and try again later."
#: The form posts of the accounts blueprint that get the authentication limits.
AUTH_ENDPOINTS = frozenset(
    "bastion_accounts." + name
    for name in (
        "login",
        "login_verify",
        "login_passkey_options",
        "login_passkey_verify",
        "confirm",
        "unlock",
        "register",
        "verify",
        "forgot",
        "reset",
        "mfa_totp",
        "mfa_recovery",
        "mfa_disable",
    )
)
#: Of those, the password checks: the lockout (:mod:`flask_bastion.accounts.throttle`)
#: already counts their attempts per account, with delays and locks, so the account
#: limit does not count them twice.
LOCKOUT_ENDPOINTS = frozenset({"bastion_accounts.login", "bastion_accounts.confirm"})
#: IPv6 addresses whose network is remembered, at most (then the memo starts afresh).
_V6_MEMO = 4096


_HEADER_NAMES = frozenset({"ratelimit", "ratelimit-policy"})


class _Plan:
    """The limits of one endpoint for safe or unsafe methods, settled on first use."""

    __slots__ = ("closed", "cost", "policy", "rules", "single")

    def __init__(self, rules: tuple[Rule, ...], closed: bool) -> None:
        self.rules = rules
        #: The one limit of a plan that has only one, counting the client or its address
        #: at a fixed cost (the default limit alone): the fast path.
        only = rules[0] if len(rules) == 1 else None
        fast = only is not None and only.scope in ("client", "ip") and isinstance(only.cost, int)
        self.single = only if fast else None
        self.cost = only.cost if only is not None and isinstance(only.cost, int) else 1
        #: Whether a store failure refuses the request (one of its limits fails closed).
        self.closed = closed
        #: The ``RateLimit-Policy`` header value.
        self.policy = ", ".join(rule.policy for rule in rules)


class _Headers:
    """The ``RateLimit-Policy`` and ``RateLimit`` headers of one response, added by the
    response layer (:meth:`~flask_bastion.context.RequestState.on_response`)."""

    __slots__ = ("policy", "request", "value")

    def __init__(self, policy: str, value: str, request: RequestState) -> None:
        self.policy = policy
        self.value = value
        self.request = request

    def __call__(self, status: str, headers: list[tuple[str, str]]) -> None:
        # Headers a view set itself are left alone.
        if self.request.present.isdisjoint(_HEADER_NAMES):
            headers.append(("RateLimit-Policy", self.policy))
            headers.append(("RateLimit", self.value))


class RateLimiting:
    """Component: counts each request against the limits of its view, in one store
    round trip, and refuses it with 429 once one is exceeded.

    The limits of a view are the default (``BASTION_RATELIMIT_DEFAULT``, unless
    :func:`~flask_bastion.ratelimit.exempt`), its blueprints' and its own
    (:func:`~flask_bastion.ratelimit.limit`, :func:`~flask_bastion.ratelimit.page_budget`),
    plus the authentication limits on the form posts of sign-in, registration, reset,
    verification and second-factor views. They are resolved once per endpoint.
    """

    name = "ratelimit"
    stage = Stage.LIMIT

    def __init__(self, config: BastionConfig) -> None:
        self.settings = s = config.ratelimit
        #: The current Unix time; tests set their own.
        self.clock: t.Callable[[], float] = time.time
        #: The counters (made by :meth:`init_app`).
        self.windows: Windows = MemoryWindows()
        self.default = parse_rules(s.default, name="default") if s.default else ()
        self.auth_ip = (
            parse_rules(s.auth, name="auth", scope="ip", fail=s.auth_fail) if s.auth else ()
        )
        self.auth_account = (
            parse_rules(s.auth_account, name="auth-account", scope="account", fail=s.auth_fail)
            if s.auth_account
            else ()
        )
        self._exempt_networks = s.exempt_networks
        self._always = s.headers == "always"
        self._plans: dict[str | None, tuple[_Plan | None, _Plan | None]] = {}
        self._v6: dict[str, str] = {}
        self._secret = b""

    def init_app(self, app: Flask) -> None:
        """Open the counters' store: this process's memory, or Redis."""
        url = self.settings.storage_url
        if not url.startswith("memory://"):
            self.windows = RedisWindows(redis_connect(app, url), self.settings.key_prefix)
        self._secret = key_secret(app)

    # -- the request --------------------------------------------------------------------

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        """Only the views with a limit for the kind of method are counted."""
        plans = self._plans.get(endpoint)
        if plans is None:
            plans = self._plans[endpoint] = self._make_plans(endpoint)
        return plans[0 if safe else 1] is not None

    def before_request(self, request: Request, state: RequestState) -> None:
        """Count the request against its view's limits; refuse it when one is over."""
        endpoint = state.endpoint
        plans = self._plans.get(endpoint)
        if plans is None:
            plans = self._plans[endpoint] = self._make_plans(endpoint)
        # request.method, upper case, as the pipeline chose this hook by: the raw
        # REQUEST_METHOD may be "get", which werkzeug routes as a GET.
        plan = plans[0] if request.method in SAFE_METHODS else plans[1]
        if plan is None:
            return
        environ = request.environ
        address = environ.get("REMOTE_ADDR") or ""
        if self._exempt_networks and in_networks(address, self._exempt_networks):
            return
        ip = address if ":" not in address else self._network(address)
        # A session is only worth a look when a cookie came (anonymous pages stay cheap);
        # its user ID is the server's own record, not anything the client sent.
        user = peek_session_value(USER_KEY) if "HTTP_COOKIE" in environ else None
        single = plan.single
        if single is not None:
            ident = ip if user is None or single.scope == "ip" else f"u:{user}"
            now = self.clock()
            try:
                key = single.prefix + ident
                count, ends = self.windows.hit(key, single.window, plan.cost, now)
            except StoreError as exc:
                self._store_failed(plan, str(exc), endpoint)
                return
            remaining = single.amount - count
            if remaining >= 0:
                if self._always:
                    reset = math.ceil(ends - now) or 1
                    value = f"{single.header}{remaining};t={reset}"
                    state.on_response(_Headers(plan.policy, value, state))
                return
            self._decide([single], [(count, ends)], now, plan, state, endpoint, ip, user)
            return
        client = ip if user is None else f"u:{user}"
        hits: list[Hit] = []
        used: list[Rule] = []
        for limit in plan.rules:
            scope = limit.scope
            if scope == "client":
                ident = client
            elif scope == "ip":
                ident = ip
            else:
                ident = self._identity(limit, ip, user)
                if ident is None:
                    continue
            cost = limit.cost
            spent = cost if isinstance(cost, int) else cost_of(cost)
            hits.append((limit.prefix + ident, limit.window, spent))
            used.append(limit)
        if not hits:
            return
        now = self.clock()
        try:
            counts = self.windows.hit_many(hits, now)
        except StoreError as exc:
            self._store_failed(plan, str(exc), endpoint)
            return
        self._decide(used, counts, now, plan, state, endpoint, ip, user)

    def _decide(
        self,
        used: list[Rule],
        counts: list[Count],
        now: float,
        plan: _Plan,
        state: RequestState,
        endpoint: str | None,
        ip: str,
        user: t.Any,
    ) -> None:
        # The header reports the limit nearest to running out; a refusal waits for the
        # last of the exceeded limits to reset.
        shown, (count, shown_ends) = used[0], counts[0]
        remaining = shown.amount - count
        refused: Rule | None = None
        wait = 0.0
        for limit, (count, ends) in zip(used, counts, strict=True):
            left = limit.amount - count
            if left < 0 and ends - now > wait:
                refused, wait = limit, ends - now
            if left < remaining:
                shown, remaining, shown_ends = limit, left, ends
        reset = max(1, math.ceil(wait if refused is not None else shown_ends - now))
        header = _Headers(plan.policy, f"{shown.header}{max(remaining, 0)};t={reset}", state)
        if refused is None:
            if self._always:
                state.on_response(header)
            return
        state.on_response(header)
        # A page elsewhere can make its visitors' browsers load our listings (an <img>
        # per search): that spends their address's budget like any request, but must
        # not report them as scrapers for a ban.
        if refused.burst and not from_another_site():
            signals.scraping_suspected.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                ip=ip,
                user_id=user,
                endpoint=endpoint,
                limit=refused.text,
            )
        scope = "user" if refused.scope == "client" and user is not None else refused.scope
        scope = "ip" if scope == "client" else scope
        refuse(
            RateLimitExceeded(
                REASON_LIMITED,
                limit=refused.text,
                scope=scope,
                endpoint=endpoint,
                retry_after=reset,
            )
        )

    def _identity(self, limit: Rule, ip: str, user: t.Any) -> str | None:
        """The client part of ``limit``'s key for this request; ``None``: not counted."""
        scope = limit.scope
        if scope == "client":
            return ip if user is None else f"u:{user}"
        if scope == "ip":
            return ip
        if scope == "user":
            return bearer_key(self._secret) if user is None else f"u:{user}"
        if scope == "account":
            return account_key(self._secret)
        try:
            value = limit.key() if limit.key is not None else None
        except BAD_INPUT:
            value = None
        if value is None:
            return ip if user is None else f"u:{user}"
        return "k:" + key_part(str(value))

    def _network(self, address: str) -> str:
        """An IPv6 client's network (``BASTION_RATELIMIT_IPV6_PREFIX``); an IPv4-mapped
        address as IPv4."""
        found = self._v6.get(address)
        if found is None:
            try:
                # A zone ID (fe80::1%eth0) names our interface, not the client.
                ip = ipaddress.IPv6Address(address.partition("%")[0])
            except ValueError:
                found = "x:" + key_part(address)
            else:
                if ip.ipv4_mapped is not None:
                    found = str(ip.ipv4_mapped)
                else:
                    prefix = self.settings.ipv6_prefix
                    found = str(ipaddress.IPv6Network((int(ip), prefix), strict=False))
            if len(self._v6) >= _V6_MEMO:
                self._v6.clear()
            self._v6[address] = found
        return found

    # -- plans --------------------------------------------------------------------------

    def _make_plans(self, endpoint: str | None) -> tuple[_Plan | None, _Plan | None]:
        if not self.settings.enabled:
            return None, None
        view = View(current_app, endpoint)
        rules: list[Rule] = []
        exempt = view.get(EXEMPT, False) or any(
            fnmatch.fnmatchcase(endpoint or "", p) for p in self.settings.exempt_endpoints
        )
        if not exempt:
            rules += self.default
            for group in view.get(BLUEPRINT_LIMITS, {}).values():
                rules += group
        for group in view.get(VIEW_LIMITS, {}).values():
            rules += [replace(r, endpoint=endpoint or "") if r.per_endpoint else r for r in group]
        safe = self._plan(rules)
        if endpoint in LOCKOUT_ENDPOINTS:
            return safe, self._plan([*rules, *self.auth_ip])
        if endpoint in AUTH_ENDPOINTS or view.get(AUTH, False):
            return safe, self._plan([*rules, *self.auth_ip, *self.auth_account])
        return safe, safe

    def _plan(self, rules: list[Rule]) -> _Plan | None:
        if not rules:
            return None
        fail = self.settings.fail
        closed = any((rule.fail or fail) == "closed" for rule in rules)
        return _Plan(tuple(rules), closed)

    # -- failures -----------------------------------------------------------------------

    def _store_failed(self, plan: _Plan, reason: str, endpoint: str | None) -> None:
        """Fail open (serve, log, signal) or closed (503) as the request's limits say."""
        fail = "closed" if plan.closed else "open"
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.ratelimit_store_failed.send(app, reason=reason, fail=fail, endpoint=endpoint)
        security_log.error(
            "ratelimit.store_failed: %s",
            reason,
            extra={
                "event": "ratelimit.store_failed",
                "reason": reason,
                "fail": fail,
                "endpoint": endpoint,
            },
        )
        if plan.closed:
            refuse(RateLimitStoreUnavailable())
