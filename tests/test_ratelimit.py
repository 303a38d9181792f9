"""Rate limits in one process (the memory store): limits, keys, headers, refusals."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest
from flask import Blueprint, Flask

from flask_bastion import get_state, signals
from flask_bastion.exceptions import ConfigurationError
from flask_bastion.ratelimit import (
    MAX_COST,
    REASON_LIMITED,
    auth_limited,
    exempt,
    limit,
    page_budget,
)

from .conftest import HTTPS, BrowserClient, make_app

#: A start time for the injected clock.
T0 = 1_800_000_000.0


class Clock:
    """An injected clock: tests move it, nothing sleeps."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def limited_app(**config: t.Any) -> tuple[Flask, Clock]:
    """The test app with a default limit of 3 a minute (unless given), an injected clock
    and routes for sessions, per-view limits, an exemption and a blueprint."""
    config.setdefault("BASTION_RATELIMIT_DEFAULT", "3/minute")
    app = make_app(**config)
    app.test_client_class = BrowserClient

    @app.post("/login/<user>")
    def login(user: str) -> str:
        from flask import session

        from flask_bastion.sessions import rotate_session

        rotate_session()
        session["_user_id"] = user
        return "ok"

    @app.get("/strict")
    @limit("1/minute")
    def strict() -> str:
        return "strict"

    @app.get("/free")
    @exempt
    def free() -> str:
        return "free"

    @app.get("/costly")
    @limit("10/minute", cost=4)
    def costly() -> str:
        return "costly"

    @app.post("/signin")
    @auth_limited
    def signin() -> str:
        return "signin"

    @app.get("/list")
    @exempt
    @page_budget(per_ip="5/hour", per_user="3/hour", burst="2/10 seconds")
    def listing() -> str:
        return "list"

    bp = Blueprint("api", __name__)

    @bp.get("/a")
    def a() -> str:
        return "a"

    @bp.get("/b")
    def b() -> str:
        return "b"

    limit("2/minute", name="api")(bp)
    app.register_blueprint(bp, url_prefix="/bp")
    clock = Clock()
    get_state(app).component("ratelimit").clock = clock
    return app, clock


def hit(client: t.Any, path: str = "/", ip: str = "192.0.2.10", **kwargs: t.Any) -> t.Any:
    method = kwargs.pop("method", "GET")
    environ = {"REMOTE_ADDR": ip, **kwargs.pop("environ_base", {})}
    return client.open(path, method=method, base_url=HTTPS, environ_base=environ, **kwargs)


def statuses(client: t.Any, count: int, path: str = "/", **kwargs: t.Any) -> list[int]:
    return [hit(client, path, **kwargs).status_code for _ in range(count)]


@pytest.fixture
def recorded() -> Iterator[list[dict[str, t.Any]]]:
    """The rate_limited signals sent during the test."""
    calls: list[dict[str, t.Any]] = []

    def receive(sender: t.Any, **kw: t.Any) -> None:
        calls.append(kw)

    signals.rate_limited.connect(receive)
    yield calls
    signals.rate_limited.disconnect(receive)


def test_default_limit_refuses_past_its_amount(recorded: list[dict[str, t.Any]]) -> None:
    """The fourth request in a minute under '3/minute' is a 429 with its signal."""
    app, _ = limited_app()
    assert statuses(app.test_client(), 4) == [200, 200, 200, 429]
    assert recorded == [
        {
            "reason": REASON_LIMITED,
            "status": 429,
            "limit": "3/1 minute",
            "scope": "ip",
            "endpoint": "index",
        }
    ]


def test_refusal_carries_retry_after_and_ratelimit_headers() -> None:
    """A 429 says when to retry, which policy refused and that nothing is left."""
    app, clock = limited_app()
    client = app.test_client()
    statuses(client, 3)
    clock.now += 20
    response = hit(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "40"
    assert response.headers["RateLimit-Policy"] == '"default";q=3;w=60'
    assert response.headers["RateLimit"] == '"default";r=0;t=40'


def test_allowed_responses_carry_the_remaining_budget() -> None:
    """With BASTION_RATELIMIT_HEADERS='always', every limited response says what is left
    of the policy nearest to running out."""
    app, _ = limited_app(BASTION_RATELIMIT_HEADERS="always")
    client = app.test_client()
    assert hit(client).headers["RateLimit"] == '"default";r=2;t=60'
    assert hit(client, "/strict").headers["RateLimit"] == '"strict";r=0;t=60'
    assert hit(client, "/strict").headers["RateLimit-Policy"] == (
        '"default";q=3;w=60, "strict";q=1;w=60'
    )


def test_headers_only_on_refusals_by_default() -> None:
    """By default (BASTION_RATELIMIT_HEADERS='refused') allowed responses carry none."""
    app, _ = limited_app()
    client = app.test_client()
    assert [("RateLimit" in hit(client).headers) for _ in range(4)] == [False] * 3 + [True]


def test_refusal_as_problem_json() -> None:
    """A JSON client's 429 is an RFC 9457 document."""
    app, _ = limited_app()
    client = app.test_client()
    statuses(client, 3)
    response = hit(client, headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == REASON_LIMITED
    assert "Retry-After" in response.headers


def test_refusal_as_page() -> None:
    """A browser's 429 is the safe error page."""
    app, _ = limited_app()
    client = app.test_client()
    statuses(client, 3)
    response = hit(client)
    assert response.mimetype == "text/html"
    assert REASON_LIMITED.split(":")[0] in response.get_data(as_text=True)


def test_window_ends_on_the_injected_clock() -> None:
    """Once the window has passed, the client has its whole budget again."""
    app, clock = limited_app()
    client = app.test_client()
    assert statuses(client, 4) == [200, 200, 200, 429]
    clock.now += 59
    assert hit(client).status_code == 429
    clock.now += 1
    assert statuses(client, 4) == [200, 200, 200, 429]


def test_refused_hits_do_not_extend_the_window() -> None:
    """Hammering while refused does not push the window's end (limits' fixed window)."""
    app, clock = limited_app()
    client = app.test_client()
    statuses(client, 3)
    for _ in range(30):
        clock.now += 1
        hit(client)
    clock.now += 30
    assert hit(client).status_code == 200


def test_clients_are_counted_apart() -> None:
    """Another address has its own budget."""
    app, _ = limited_app()
    client = app.test_client()
    assert statuses(client, 4, ip="192.0.2.1") == [200, 200, 200, 429]
    assert statuses(client, 1, ip="192.0.2.2") == [200]


def test_view_limit_adds_to_the_default() -> None:
    """@limit counts besides the default limit."""
    app, _ = limited_app()
    client = app.test_client()
    assert statuses(client, 2, "/strict") == [200, 429]
    assert statuses(client, 2) == [200, 429]  # the default counted /strict's requests


def test_exempt_view_has_no_default_limit() -> None:
    """@exempt removes the default limit: no headers, no refusals."""
    app, _ = limited_app()
    client = app.test_client()
    responses = [hit(client, "/free") for _ in range(10)]
    assert {r.status_code for r in responses} == {200}
    assert "RateLimit" not in responses[0].headers


def test_exempt_endpoints_setting() -> None:
    """BASTION_RATELIMIT_EXEMPT_ENDPOINTS frees endpoints by pattern."""
    app, _ = limited_app(BASTION_RATELIMIT_EXEMPT_ENDPOINTS=["ind*"])
    assert set(statuses(app.test_client(), 6)) == {200}


def test_blueprint_limit_covers_its_routes_together() -> None:
    """A blueprint's limit counts all its routes in one budget per client."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)
    client = app.test_client()
    assert [hit(client, p).status_code for p in ("/bp/a", "/bp/b", "/bp/a")] == [200, 200, 429]
    assert hit(client).status_code == 200  # not a blueprint route


def test_cost_counts_several_requests() -> None:
    """A request of cost 4 uses 4 of the budget."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)
    client = app.test_client()
    assert statuses(client, 3, "/costly") == [200, 200, 429]


def test_signed_in_users_are_counted_by_user_id() -> None:
    """One user on two addresses shares a budget; another user on the same address has
    their own."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="4/minute")
    alice, bob = app.test_client(), app.test_client()
    assert hit(alice, "/login/alice", method="POST").status_code == 200
    assert hit(bob, "/login/bob", method="POST").status_code == 200
    assert [hit(alice, ip=f"192.0.2.{n}").status_code for n in range(5)] == [200] * 4 + [429]
    assert hit(bob).status_code == 200


def test_anonymous_cookie_does_not_change_the_key() -> None:
    """A made-up session cookie is no user: the address is counted."""
    app, _ = limited_app()
    client = app.test_client()
    cookies = [f"__Host-session=forged{n}" for n in range(4)]
    codes = [hit(client, headers={"Cookie": c}).status_code for c in cookies]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", True),
        ("2001:db8:1:2::1", "2001:DB8:1:2:0:0:0:9", True),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("fe80::1%eth0", "fe80::2", True),
    ],
    ids=["same-64", "spelling", "other-64", "ipv4-mapped", "zone-id"],
)
def test_ipv6_clients_are_counted_by_network(first: str, second: str, shared: bool) -> None:
    """IPv6 addresses in one /64 share a budget; an IPv4-mapped address is its IPv4."""
    app, _ = limited_app()
    client = app.test_client()
    statuses(client, 3, ip=first)
    assert hit(client, ip=second).status_code == (429 if shared else 200)


def test_ipv6_prefix_setting() -> None:
    """BASTION_RATELIMIT_IPV6_PREFIX widens the shared network."""
    app, _ = limited_app(BASTION_RATELIMIT_IPV6_PREFIX=48)
    client = app.test_client()
    statuses(client, 3, ip="2001:db8:1:2::1")
    assert hit(client, ip="2001:db8:1:ffff::1").status_code == 429


@pytest.mark.parametrize(
    "proxy",
    [{}, {"BASTION_PROXY_TRUSTED_HOPS": 1}, {"BASTION_PROXY_TRUSTED_CIDRS": ["192.0.2.0/24"]}],
    ids=["no-proxy", "one-trusted-hop", "trusted-cidr"],
)
def test_forwarded_for_cannot_evade_a_limit(proxy: dict[str, t.Any]) -> None:
    """A client writing X-Forwarded-For gets no new budget: without a trusted proxy the
    header is ignored; behind one, only the entry the proxy appended counts."""
    app, _ = limited_app(**proxy)
    client = app.test_client()
    codes = []
    for n in range(5):
        # The spoofed part, then what our proxy appended: the real peer.
        forwarded = f"203.0.113.{n}, 198.51.100.7" if proxy else f"203.0.113.{n}"
        codes.append(hit(client, headers={"X-Forwarded-For": forwarded}).status_code)
    assert codes == [200, 200, 200, 429, 429]


def test_trusted_proxy_gives_each_client_its_budget() -> None:
    """Behind a trusted proxy, the clients it names are counted apart."""
    app, _ = limited_app(BASTION_PROXY_TRUSTED_HOPS=1)
    client = app.test_client()
    statuses(client, 3, headers={"X-Forwarded-For": "198.51.100.7"})
    assert hit(client, headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_exempt_networks() -> None:
    """A client in BASTION_RATELIMIT_EXEMPT_NETWORKS is never limited."""
    app, _ = limited_app(BASTION_RATELIMIT_EXEMPT_NETWORKS=["192.0.2.0/24"])
    assert set(statuses(app.test_client(), 6)) == {200}


def test_auth_limits_count_posts_per_address() -> None:
    """Form posts to an @auth_limited view meet BASTION_RATELIMIT_AUTH per address."""
    app, _ = limited_app(
        BASTION_RATELIMIT_DEFAULT=None,
        BASTION_RATELIMIT_AUTH="2/minute",
        BASTION_RATELIMIT_AUTH_ACCOUNT=None,
    )
    client = app.test_client()
    assert statuses(client, 3, "/signin", method="POST") == [200, 200, 429]
    assert statuses(client, 1, "/signin", method="POST", ip="192.0.2.99") == [200]


def test_auth_limits_count_posts_per_account() -> None:
    """The same email from many addresses meets BASTION_RATELIMIT_AUTH_ACCOUNT, whatever
    its spelling; another email is counted apart."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None, BASTION_RATELIMIT_AUTH_ACCOUNT="2/minute")
    client = app.test_client()
    emails = ["alice@example.org", " Alice@Example.ORG", "alice@example.org"]
    codes = [
        hit(client, "/signin", method="POST", ip=f"192.0.2.{n}", data={"email": e}).status_code
        for n, e in enumerate(emails)
    ]
    assert codes == [200, 200, 429]
    other = hit(client, "/signin", method="POST", ip="192.0.2.50", data={"email": "bob@x.org"})
    assert other.status_code == 200


def test_limit_keys_hold_no_email_address() -> None:
    """The counters are keyed by a keyed hash of the account, never the address."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)
    hit(app.test_client(), "/signin", method="POST", data={"email": "alice@example.org"})
    keys = list(get_state(app).component("ratelimit").windows._windows)
    assert keys and not any("alice" in key for key in keys)


def test_page_budget_burst_sends_scraping_signal() -> None:
    """Pages faster than the burst limit are refused and reported as scraping."""
    app, clock = limited_app()
    seen: list[dict[str, t.Any]] = []

    def receive(sender: t.Any, **kw: t.Any) -> None:
        seen.append(kw)

    signals.scraping_suspected.connect(receive)
    try:
        client = app.test_client()
        assert statuses(client, 3, "/list") == [200, 200, 429]
    finally:
        signals.scraping_suspected.disconnect(receive)
    assert seen == [
        {"ip": "192.0.2.10", "user_id": None, "endpoint": "listing", "limit": "2/10 second"}
    ]
    clock.now += 10
    assert hit(client, "/list").status_code == 200


def test_page_budget_per_address_and_per_user() -> None:
    """The address budget holds for every account on it; the user budget follows the
    user to any address."""
    app, clock = limited_app()
    client = app.test_client()
    codes = []
    for _ in range(6):
        clock.now += 10  # never a burst
        codes.append(hit(client, "/list").status_code)
    assert codes == [200] * 5 + [429]
    user = app.test_client()
    hit(user, "/login/carol", method="POST", ip="198.51.100.1")
    codes = []
    for n in range(4):
        clock.now += 10
        codes.append(hit(user, "/list", ip=f"198.51.100.{n + 1}").status_code)
    assert codes == [200, 200, 200, 429]


def test_huge_cost_is_a_429_not_an_error() -> None:
    """A cost function returning an absurd number is clamped: the request is refused,
    the counter does not overflow, and a negative cost cannot refill the budget."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)
    costs = iter([10**30, -(10**6), 1])

    @app.get("/dynamic")
    @limit("5/minute", cost=lambda: next(costs))
    def dynamic() -> str:
        return "ok"

    client = app.test_client()
    assert statuses(client, 3, "/dynamic") == [429, 429, 429]
    windows = get_state(app).component("ratelimit").windows._windows
    assert max(int(w[0]) for w in windows.values()) == MAX_COST + 2


@pytest.mark.parametrize(
    "value",
    ["x" * 10_000, "a b", "é", "key\nX-Injected: 1", "x/y:z"],
    ids=["huge", "space", "non-ascii", "newline", "separators"],
)
def test_client_chosen_keys_are_hashed(value: str) -> None:
    """A key function returning text from the request never lands raw in the store."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)

    @app.get("/keyed")
    @limit("1/minute", key=lambda: value)
    def keyed() -> str:
        return "ok"

    client = app.test_client()
    assert statuses(client, 2, "/keyed") == [200, 429]
    (key,) = get_state(app).component("ratelimit").windows._windows
    if value != "x/y:z":
        assert value not in key and len(key) < 120


def test_key_function_returning_none_counts_the_client() -> None:
    """A key function with nothing to say leaves the client's own key."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None)

    @app.get("/maybe")
    @limit("1/minute", key=lambda: None)
    def maybe() -> str:
        return "ok"

    assert statuses(app.test_client(), 2, "/maybe") == [200, 429]


def test_two_apps_count_apart() -> None:
    """Two applications in one process have their own counters."""
    first, _ = limited_app()
    second, _ = limited_app()
    statuses(first.test_client(), 3)
    assert hit(second.test_client()).status_code == 200


def test_disabled_limits_count_nothing() -> None:
    """BASTION_RATELIMIT_ENABLED=False turns every limit off."""
    app, _ = limited_app(BASTION_RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert set(statuses(client, 5)) == {200}
    assert set(statuses(client, 3, "/signin", method="POST")) == {200}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BASTION_RATELIMIT_DEFAULT", "lots"),
        ("BASTION_RATELIMIT_DEFAULT", "0/minute"),
        ("BASTION_RATELIMIT_AUTH", 5),
        ("BASTION_RATELIMIT_STORAGE_URL", "memcached://localhost"),
        ("BASTION_RATELIMIT_STORAGE_URL", "redis:/nohost"),
        ("BASTION_RATELIMIT_IPV6_PREFIX", 8),
        ("BASTION_RATELIMIT_FAIL", "maybe"),
    ],
    ids=["words", "zero", "number", "memcached", "malformed-url", "prefix", "fail"],
)
def test_bad_settings_are_refused(key: str, value: object) -> None:
    """A malformed limit or store URL stops init_app, naming the key."""
    with pytest.raises(ConfigurationError) as info:
        make_app(**{key: value})
    assert info.value.key == key


@pytest.mark.parametrize(
    "kwargs",
    [{"cost": 0}, {"cost": MAX_COST + 1}, {"cost": True}, {"fail": "later"}, {"key": "mac"}],
    ids=["zero-cost", "huge-cost", "bool-cost", "fail", "key"],
)
def test_bad_decorator_arguments_are_refused(kwargs: dict[str, t.Any]) -> None:
    """@limit checks its arguments when applied."""
    with pytest.raises(ValueError, match=r"."):
        limit("1/minute", **kwargs)(lambda: "x")


def test_bad_limit_string_in_decorator_is_refused() -> None:
    """@limit with a malformed limit fails where it is applied."""
    with pytest.raises(ValueError, match="not a limit"):
        limit("many/minute")(lambda: "x")


def test_view_set_ratelimit_headers_are_kept() -> None:
    """A view that sends its own RateLimit header keeps it, not doubled."""
    app, _ = limited_app(BASTION_RATELIMIT_HEADERS="always")

    @app.get("/own")
    def own() -> t.Any:
        return "own", 200, {"ratelimit": '"mine";r=1;t=1'}

    response = hit(app.test_client(), "/own")
    assert response.headers.getlist("RateLimit") == ['"mine";r=1;t=1']
    assert "RateLimit-Policy" not in response.headers


def test_account_limit_reads_json_bodies_too() -> None:
    """Posting the email as JSON instead of a form does not escape the account limit."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None, BASTION_RATELIMIT_AUTH_ACCOUNT="2/minute")
    client = app.test_client()
    codes = [
        hit(client, "/signin", method="POST", ip=f"192.0.2.{n}", **body).status_code
        for n, body in enumerate(
            [
                {"data": {"email": "ann@example.org"}},
                {"json": {"email": "ANN@example.org"}},
                {"json": {"email": "ann@example.org"}},
            ]
        )
    ]
    assert codes == [200, 200, 429]


def test_account_spelling_variants_share_a_budget() -> None:
    """Full-width and case variants of an address (NFKC, case-folded) are one account."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT=None, BASTION_RATELIMIT_AUTH_ACCOUNT="1/minute")
    client = app.test_client()
    first = hit(client, "/signin", method="POST", data={"email": "ann@example.org"})
    second = hit(
        client,
        "/signin",
        method="POST",
        ip="192.0.2.77",
        data={"email": "\uff21\uff2e\uff2e@example.org"},
    )
    assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.parametrize("address", ["", "unix:/run/app.sock", "not-an-ip:::zz"])
def test_odd_peer_addresses_are_counted_not_errors(address: str) -> None:
    """A peer address that is empty or not an IP (a Unix socket) is a key like any other."""
    app, _ = limited_app()
    client = app.test_client()
    assert statuses(client, 4, ip=address) == [200, 200, 200, 429]


def test_many_ipv6_clients_keep_the_memo_bounded() -> None:
    """Thousands of IPv6 addresses do not grow the network memo without bound."""
    from flask_bastion.ratelimit import component

    app, _ = limited_app()
    client = app.test_client()
    for n in range(component._V6_MEMO + 10):
        hit(client, ip=f"2001:db8:{n:x}::1")
    assert len(get_state(app).component("ratelimit")._v6) <= component._V6_MEMO


def test_auth_limits_hold_for_every_unsafe_method_whatever_came_first() -> None:
    """A view's limits for unsafe requests count invented and lower-case methods too,
    though the view first saw only safe ones (which it does not count)."""
    app, _ = limited_app(
        BASTION_RATELIMIT_DEFAULT=None,
        BASTION_RATELIMIT_AUTH="2/minute",
        BASTION_RATELIMIT_AUTH_ACCOUNT=None,
    )

    @app.route("/dav", methods=["GET", "PROPFIND", "DELETE"])
    @auth_limited
    def dav() -> str:
        return "dav"

    client = app.test_client()
    for method in ("GET", "HEAD", "OPTIONS", "GET"):
        assert hit(client, "/dav", method=method).status_code == 200
    unsafe = [
        hit(client, "/dav", method="GET", environ_overrides={"REQUEST_METHOD": method})
        for method in ("PROPFIND", "delete", "propfind")
    ]
    assert [r.status_code for r in unsafe] == [200, 200, 429]


def test_lower_case_safe_method_is_not_counted_as_a_post() -> None:
    """A safe method spelled in lower case (werkzeug routes it as the upper-case one) is
    counted as the safe request it is, as the pipeline and the forgery check take it,
    never against the authentication limits of form posts."""
    app, _ = limited_app(BASTION_RATELIMIT_AUTH="1/minute", BASTION_RATELIMIT_AUTH_ACCOUNT=None)

    @app.route("/enter", methods=["GET", "POST"])
    @auth_limited
    def enter() -> str:
        return "enter"

    client = app.test_client()
    lower = {"REQUEST_METHOD": "get"}
    assert statuses(client, 3, "/enter", environ_overrides=lower) == [200, 200, 200]
    assert statuses(client, 1, "/enter", method="POST", ip="192.0.2.11") == [200]
