"""Attacks on the rate limits from outside, and by a confused operator: request input
that crashes a key or cost function, limits and store URLs that only fail at request
time, and the boundary race on real Redis."""

from __future__ import annotations

import signal
import subprocess
import threading
import typing as t
from collections.abc import Iterator

import pytest
from flask import Blueprint, request

from flask_bastion.exceptions import ConfigurationError
from flask_bastion.ratelimit import limit

from .accounts_helpers import BASE, Site, make_site
from .conftest import make_app
from .test_mfa_flow import code, half_signed_in, user_row, verify
from .test_ratelimit import hit, limited_app, statuses
from .test_sessions_faults import private_redis  # noqa: F401  (a fixture)


def test_cost_function_fed_garbage_is_no_500() -> None:
    """The documented cost function ``int(request.args["pages"])`` raises ValueError on
    ``?pages=lots``: the request is counted at cost 1, not answered with a 500."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/export")
    @limit("10/minute", cost=lambda: int(request.args.get("pages", 1)))
    def export() -> str:
        return "export"

    client = app.test_client()
    assert hit(client, "/export?pages=lots").status_code == 200
    assert hit(client, "/export?pages=8").status_code == 200
    assert hit(client, "/export?pages=1.5").status_code == 200  # 1 + 8 + 1 = 10
    assert hit(client, "/export?pages=x").status_code == 429


def test_cost_function_returning_a_float_is_rounded_up() -> None:
    """A cost computed as a float (a size over 1024) counts, rounded up, not as 1."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/upload")
    @limit("10/minute", cost=lambda: float(request.args["kb"]) / 1024)
    def upload() -> str:
        return "upload"

    client = app.test_client()
    assert hit(client, "/upload?kb=9000").status_code == 200  # cost 9
    assert hit(client, "/upload?kb=2000").status_code == 429  # cost 2: 11 > 10
    assert hit(client, "/upload?kb=nan").status_code == 429  # cost 1, still over


def test_key_function_fed_garbage_is_no_500() -> None:
    """A key function that fails on the request's input counts the client instead."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/tenant")
    @limit("2/minute", key=lambda: str(int(request.args["tenant"])))
    def tenant() -> str:
        return "tenant"

    client = app.test_client()
    assert statuses(client, 3, "/tenant?tenant=abc") == [200, 200, 429]
    assert hit(client, "/tenant?tenant=7").status_code == 200


@pytest.mark.parametrize("value", ["5/99999999999 years", "1/500 years", "10/minute; 1/400 years"])
def test_window_beyond_what_a_store_can_expire_is_refused_at_start(value: str) -> None:
    """A window of billions of years passes ``limits``' parser, then makes Redis's EXPIRE
    fail on every new window (the limit silently fails open) and leaves counters that
    never expire: refused when the application starts."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_RATELIMIT_DEFAULT=value)
    assert info.value.key == "BASTION_RATELIMIT_DEFAULT"
    with pytest.raises(ValueError, match="window"):
        limit(value)(lambda: "x")


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://localhost:26379",
        "redis+sentinel://localhost:26379/",
        "redis+cluster://",
        "redis+cluster:///",
    ],
)
def test_store_url_missing_its_parts_is_refused_at_start(url: str) -> None:
    """A Sentinel URL without its service name, or a Cluster URL without a node, is only
    found out by ``limits`` on the first request (a 500 there): refused at start."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_RATELIMIT_STORAGE_URL=url)
    assert info.value.key == "BASTION_RATELIMIT_STORAGE_URL"


def test_many_threads_at_the_boundary_get_exactly_the_limit(
    redis_prefix: tuple[str, str],
) -> None:
    """Sixty threads racing against a limit of 25 on real Redis: exactly 25 get through,
    whatever the interleaving (one atomic script per hit)."""
    url, prefix = redis_prefix
    app = make_app(
        BASTION_RATELIMIT_STORAGE_URL=url,
        BASTION_RATELIMIT_KEY_PREFIX=prefix,
        BASTION_RATELIMIT_DEFAULT="25/hour",
    )
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def worker() -> None:
        client = app.test_client()
        start.wait()
        for _ in range(5):
            code = hit(client, "/api/ping").status_code
            with lock:
                results.append(code)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(200) == 25
    assert results.count(429) == 35


def test_memory_store_race_gets_exactly_the_limit() -> None:
    """The same race on the memory store."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="25/hour")
    results: list[int] = []
    start = threading.Barrier(12)

    def worker() -> None:
        client = app.test_client()
        start.wait()
        results.extend(hit(client, "/api/ping").status_code for _ in range(5))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) == 25 and results.count(429) == 35


@pytest.fixture
def mfa_site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    """A site with the account limit on (2 a minute) and a wide address limit."""
    made = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_RATELIMIT_AUTH="100/minute",
        BASTION_RATELIMIT_AUTH_ACCOUNT="2/minute",
    )
    yield made
    made.mails()


def test_posted_email_cannot_spend_a_half_signed_in_users_budget(mfa_site: Site) -> None:
    """The account limit of a sign-in waiting for its code was keyed like a posted email
    ``user:<id>``: anyone posting that 'email' to /forgot (user IDs are small numbers)
    spent the victim's code budget, and the victim's right code was a 429."""
    victim, secret, _codes = half_signed_in(mfa_site)
    victim_id = user_row(mfa_site).id
    attacker = mfa_site.client()
    attacker.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    for _ in range(3):
        attacker.post(f"{BASE}/forgot", data={"email": f"user:{victim_id}"})
    answered = verify(victim, code(mfa_site, secret))
    assert answered.status_code == 303


def test_posted_email_cannot_refresh_the_code_budget(mfa_site: Site) -> None:
    """Someone past the password, guessing codes, adds a new ``email`` field to each
    post: the account limit still counts the user waiting for the code."""
    client, _secret, _codes = half_signed_in(mfa_site)
    answers = [
        client.post(f"{BASE}/login/verify", data={"code": "000000", "email": f"x{n}@x.org"})
        for n in range(3)
    ]
    assert answers[-1].status_code == 429


def test_half_signed_in_session_still_spends_the_posted_email_elsewhere(
    mfa_site: Site,
) -> None:
    """Reset requests for a victim from a session waiting for its own code still meet
    the victim's account limit (the waiting user is no shield for mail bombing)."""
    client, _secret, _codes = half_signed_in(mfa_site)
    codes = [
        client.post(f"{BASE}/forgot", data={"email": "victim@example.com"}).status_code
        for _ in range(3)
    ]
    assert codes[-1] == 429


def test_redis_hanging_mid_request_fails_as_configured(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """Redis frozen (SIGSTOP: connections stay open, nothing answers) after the first
    request: past the one-second timeout the default limit serves, the authentication
    limit answers 503 with Retry-After, never a 500; once Redis wakes, counting resumes
    on fresh connections (whether the frozen hits landed is up to Redis: they were
    sent), never reading a stale answer."""
    url, process = private_redis
    app, _ = limited_app(
        BASTION_RATELIMIT_STORAGE_URL=url,
        BASTION_STORES_REDIS_TIMEOUT=1,
        BASTION_RATELIMIT_HEADERS="always",
    )
    client = app.test_client()
    assert hit(client).status_code == 200
    process.send_signal(signal.SIGSTOP)
    try:
        assert hit(client).status_code == 200
        refused = hit(client, "/signin", method="POST", data={"email": "a@example.org"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
    finally:
        process.send_signal(signal.SIGCONT)
    # Redis's own TTL runs on the wall clock; the budget left is what matters.
    headers = [hit(client).headers["RateLimit"] for _ in range(4)]
    remaining = [int(h.split(";r=")[1].split(";")[0]) for h in headers]
    assert remaining[-1] == 0
    assert remaining == sorted(remaining, reverse=True)


def test_views_of_one_name_in_two_blueprints_keep_apart_budgets() -> None:
    """Two blueprints each with an ``index`` view under ``@limit("2/minute")``: using one
    spent the other's budget (the counters were keyed by the view's name)."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")
    for name in ("shop", "blog"):
        blueprint = Blueprint(name, __name__)

        @blueprint.get("/")
        @limit("2/minute")
        def index() -> str:
            return "page"

        app.register_blueprint(blueprint, url_prefix=f"/{name}")
    client = app.test_client()
    assert statuses(client, 2, "/shop/") == [200, 200]
    assert statuses(client, 3, "/blog/") == [200, 200, 429]
    assert hit(client, "/shop/").headers["RateLimit-Policy"].endswith('"index";q=2;w=60')


def test_views_given_one_name_share_a_budget() -> None:
    """An explicit ``name`` is how two views share one budget."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")
    for path in ("/one", "/two"):
        app.add_url_rule(path, path.strip("/"), limit("2/minute", name="pair")(lambda: "x"))
    client = app.test_client()
    assert [hit(client, p).status_code for p in ("/one", "/two", "/one")] == [200, 200, 429]


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json;q=abc"},
        {"Accept": "*/*;q=nan"},
        {"Accept": "application/problem+json;q=1e999"},
        {"Accept": "\x7f\x01"},
        {"Host": "bad host"},
        {"Host": "[::1"},
        {"Host": "localhost:99999999"},
        {"Cookie": "session=" + "A" * 3000},
    ],
)
def test_odd_headers_on_a_refused_request_still_get_a_429(headers: dict[str, str]) -> None:
    """Malformed Accept, Host or cookie on a request over the limit: a 429 (page or
    problem document), never a 500."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="1/minute")
    client = app.test_client()
    hit(client)
    response = hit(client, headers=headers)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"


def test_punycode_spelling_of_a_domain_shares_the_account_budget(mfa_site: Site) -> None:
    """``ann@xn--exmple-cua.com`` and ``ann@EXÄMPLE.com`` are one account to the reset
    form (email-validator decodes the domain), so they share its reset budget."""
    client = mfa_site.client()
    spellings = ["ann@xn--exmple-cua.com", "ann@EXÄMPLE.com", "ann@XN--EXMPLE-CUA.COM"]
    codes = [client.post(f"{BASE}/forgot", data={"email": e}).status_code for e in spellings]
    assert codes == [200, 200, 429]
