"""What a limit is, and the decorators that put limits on views and blueprints."""

from __future__ import annotations

import hashlib
import math
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from flask import Blueprint

from ..config.parsers import Invalid, rate_limits
from ..markers import mark

V = t.TypeVar("V")

#: Mark of a view's own limits (a dict, so stacked decorators combine).
VIEW_LIMITS = "ratelimit"
#: Mark of a blueprint's limits, kept apart so a view's own limits add to them.
BLUEPRINT_LIMITS = "ratelimit_blueprint"
#: Mark of a view or blueprint the default and blueprint limits do not apply to.
EXEMPT = "ratelimit_exempt"
#: Mark of a view that gets the authentication limits on its form posts.
AUTH = "ratelimit_auth"

#: What a limit counts: the signed-in user, else the address (``client``); the address
#: (``ip``); the signed-in user only (``user``: a bearer request counts its token, other
#: anonymous requests are not counted);
#: the account named by the request (``account``); a key of the application's
#: (``key``).
Scope = t.Literal["client", "ip", "user", "account", "key"]
#: A key function: called in the request, returns the key, or ``None`` for the client.
KeyFunc = Callable[[], "str | None"]
#: A cost function: called in the request, returns the cost of this request.
CostFunc = Callable[[], int]

#: The largest cost one request may have: far above any sensible limit, far below
#: Redis's 64-bit counter.
MAX_COST = 1_000_000


@dataclass(frozen=True)
class Rule:
    """One limit as a view gets it."""

    #: ``"600/1 minute"``: the normalised limit.
    text: str
    #: Requests allowed per window.
    amount: int
    #: The window, in seconds.
    window: int
    #: The policy's name in the ``RateLimit-Policy`` header.
    name: str
    #: What the limit counts.
    scope: Scope = "client"
    #: The key function of ``scope="key"``.
    key: KeyFunc | None = None
    #: The cost of one request, or a function of the request returning it.
    cost: int | CostFunc = 1
    #: ``"open"``, ``"closed"``, or ``None`` for the setting of the limit's class.
    fail: str | None = None
    #: A burst limit of a page budget: going over it sends ``scraping_suspected``.
    burst: bool = False
    #: Counted per endpoint: an unnamed view limit, so that two views of one name (an
    #: ``index`` in each of two blueprints) keep apart budgets.
    per_endpoint: bool = False
    #: The endpoint the counters of a ``per_endpoint`` limit belong to (set when the
    #: endpoint's limits are resolved).
    endpoint: str = ""

    #: The start of the limit's counter keys (``limits``' ``key_for`` order).
    prefix: str = field(init=False, repr=False, compare=False)
    #: The limit as a member of the ``RateLimit-Policy`` header.
    policy: str = field(init=False, repr=False, compare=False)
    #: The start of the ``RateLimit`` header when this limit is the one shown.
    header: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: the request path only concatenates.
        where = f"{self.endpoint}/" if self.endpoint else ""
        object.__setattr__(self, "prefix", f"{where}{self.name}/{self.amount}/{self.window}/")
        object.__setattr__(self, "policy", f'"{self.name}";q={self.amount};w={self.window}')
        object.__setattr__(self, "header", f'"{self.name}";r=')


def parse_rules(
    value: str | t.Sequence[str],
    *,
    name: str,
    scope: Scope = "client",
    key: KeyFunc | None = None,
    cost: int | CostFunc = 1,
    fail: str | None = None,
    burst: bool = False,
) -> tuple[Rule, ...]:
    """The rules of ``value`` (``limits``' notation, ``;`` between limits).

    :raises ValueError: for a malformed limit, cost, failure mode or name.
    """
    from limits import parse

    try:
        texts = rate_limits(value)
    except Invalid as exc:
        raise ValueError(str(exc)) from None
    if not texts:
        raise ValueError("expected at least one limit, such as '5/minute'")
    if isinstance(cost, bool) or (isinstance(cost, int) and not 1 <= cost <= MAX_COST):
        raise ValueError(f"cost must be an int from 1 to {MAX_COST}, or a function")
    if fail not in (None, "open", "closed"):
        raise ValueError("fail must be 'open' or 'closed'")
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError("a limit's name is letters, digits, '-', '_' and '.'")
    rules = []
    for number, text in enumerate(texts, 1):
        item = parse(text)
        # Each policy of a response has a name of its own: default, default-2, ...
        label = name if number == 1 else f"{name}-{number}"
        rules.append(
            Rule(text, item.amount, item.get_expiry(), label, scope, key, cost, fail, burst)
        )
    return tuple(rules)


def limit(
    value: str,
    *,
    key: t.Literal["client", "ip", "user"] | KeyFunc = "client",
    cost: int | CostFunc = 1,
    fail: t.Literal["open", "closed"] | None = None,
    name: str | None = None,
) -> Callable[[V], V]:
    """Limit a view, a class-based view or a blueprint (every route it registers), on top
    of the default limit::

        @app.post("/search")
        @limit("5/minute")
        def search(): ...

        limit("100/minute", key="ip")(api_blueprint)

    :param value: ``"5/minute"``, ``"10/second; 500/hour"`` (the ``limits`` notation).
    :param key: ``"client"``: the signed-in user, else the address (proxy trust settles
        it; IPv6 by network, ``BASTION_RATELIMIT_IPV6_PREFIX``); ``"ip"``: the address
        even when signed in; ``"user"``: signed-in users only (a bearer request by its
        token); or a function returning the key (``None`` for the client). A key from
        the request itself (a header, a form field) is chosen by the client: count it
        *besides* an address limit, never instead of one. Keys longer than 64
        characters, or not printable ASCII, are hashed.
    :param cost: what one request counts, from 1 to :data:`MAX_COST`, or a function of
        the request returning it (clamped to that range).
    :param fail: what the limit does when the store cannot be reached: ``"open"`` or
        ``"closed"``; by default ``BASTION_RATELIMIT_FAIL``.
    :param name: the policy's name in the ``RateLimit-Policy`` header (default: the
        view's or blueprint's name). A view limit without ``name`` is counted per
        endpoint (two ``index`` views of two blueprints keep apart budgets); views
        given the same ``name`` and limit share one budget.
    :raises ValueError: for a malformed limit, cost or name.

    .. versionadded:: 0.1
    """
    scope: Scope = "key" if callable(key) else key
    if scope not in ("client", "ip", "user", "key"):
        raise ValueError("key must be 'client', 'ip', 'user' or a function")
    keyfunc = key if callable(key) else None

    def decorate(target: V) -> V:
        label = name or getattr(target, "name", None) or getattr(target, "__name__", "view")
        rules = parse_rules(value, name=str(label), scope=scope, key=keyfunc, cost=cost, fail=fail)
        where = BLUEPRINT_LIMITS if isinstance(target, Blueprint) else VIEW_LIMITS
        if where == VIEW_LIMITS and name is None:
            rules = tuple(replace(rule, per_endpoint=True) for rule in rules)
        return mark(target, where, {f"{value}|{id(rules)}": rules})

    return decorate


def page_budget(
    *,
    per_ip: str | None = "300/hour",
    per_user: str | None = "1000/hour",
    burst: str | None = "30/10 seconds",
) -> Callable[[V], V]:
    """Scraping throttle of a listing or search view (or a blueprint of them): page
    budgets per address and per signed-in user, and a burst limit per client. A scraper
    that rotates accounts still meets its address's budget; one that rotates addresses
    behind one account meets the account's. Going over ``burst`` (pages faster than a
    person reads them) is a 429 like the others, and sends
    :data:`~flask_bastion.signals.scraping_suspected`, for bans and monitoring.

    :param per_ip: pages per address, signed in or not; ``None`` for none.
    :param per_user: pages per signed-in user (per token for a bearer request); ``None``
        for none.
    :param burst: pages per client in a short window; ``None`` for none.
    :raises ValueError: for a malformed limit, or when all three are ``None``.

    .. versionadded:: 0.1
    """
    rules: list[Rule] = []
    if per_ip:
        rules += parse_rules(per_ip, name="pages-ip", scope="ip")
    if per_user:
        rules += parse_rules(per_user, name="pages-user", scope="user")
    if burst:
        rules += parse_rules(burst, name="pages-burst", burst=True)
    if not rules:
        raise ValueError("a page budget needs per_ip, per_user or burst")

    def decorate(target: V) -> V:
        where = BLUEPRINT_LIMITS if isinstance(target, Blueprint) else VIEW_LIMITS
        return mark(target, where, {f"page_budget|{id(rules)}": tuple(rules)})

    return decorate


def exempt(target: V) -> V:
    """Free a view or blueprint from the default limit and from its blueprints' limits
    (its own :func:`limit` and the authentication limits still apply).

    .. versionadded:: 0.1
    """
    return mark(target, EXEMPT, True)


def auth_limited(target: V) -> V:
    """Give an application's own sign-in, registration, reset or second-factor view the
    strict authentication limits on its form posts (``BASTION_RATELIMIT_AUTH`` per
    address, ``BASTION_RATELIMIT_AUTH_ACCOUNT`` per posted ``email``), failing closed
    by default. The accounts blueprint's views have them already.

    .. versionadded:: 0.1
    """
    return mark(target, AUTH, True)


#: What a key or cost function raises on input it cannot read (``int("lots")``): the
#: request is then counted as the client's, at cost 1, rather than answered with a 500.
BAD_INPUT = (ValueError, TypeError, ArithmeticError, LookupError)


def cost_of(function: t.Callable[[], int]) -> int:
    """The cost a cost function gives, rounded up, within 1 and :data:`MAX_COST`."""
    try:
        value: t.Any = function()
        if isinstance(value, float):
            value = math.ceil(value)  # ValueError / OverflowError for nan and inf
    except BAD_INPUT:
        return 1
    if isinstance(value, bool) or not isinstance(value, int):
        return 1
    return min(max(value, 1), MAX_COST)


def key_part(value: str) -> str:
    """``value`` as a key part: itself when short printable ASCII without spaces, else
    its SHA-256 (a client-chosen key can neither be huge nor smuggle separators)."""
    if len(value) <= 64 and value.isascii() and value.isprintable() and " " not in value:
        return value
    return "h:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
