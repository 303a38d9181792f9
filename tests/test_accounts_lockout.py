"""Brute-force defence through the sign-in views: growing delays that answer like a wrong
password, the lock and its unlock link (real SMTP), the limits per address and against
credential stuffing, and sign-in failing closed when a store is down."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import scoped_session, sessionmaker

from flask_bastion import signals
from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.throttle import (
    REASON_DELAYED,
    REASON_LOCKED,
    REASON_PAIR_DELAYED,
    REASON_STUFFING,
)

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site, strip_volatile
from .servers import free_port
from .test_sessions_faults import StallingProxy

#: Waits before each of ten consecutive failures so that none is refused (the default
#: policy: five free attempts, then 1, 2, 4, 8, 16 seconds); the tenth locks.
TO_LOCK = (0, 0, 0, 0, 0, 1, 2, 4, 8, 16)
#: Seconds after ten failures when the address is no longer slowed down on the account
#: (its pair delay is 32 seconds) but the account is still locked (900 seconds).
PAST_PAIR_DELAY = 33


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def recorded(site: Site, signal: t.Any) -> list[dict[str, t.Any]]:
    """The keyword arguments of every ``signal`` sent by the site's app from now on."""
    seen: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **extra: t.Any) -> None:
        seen.append(extra)

    signal.connect(receiver, site.app, weak=False)
    return seen


def from_address(site: Site, ip: str) -> t.Any:
    client = site.client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def lock(site: Site, email: str, client: t.Any = None) -> t.Any:
    """Fail ten times on ``email``, waiting out each delay: the account is locked."""
    client = client or site.client()
    for wait in TO_LOCK:
        site.clock.now += wait
        assert site.login(client, email, OTHER_PASSWORD).status_code == 401
    return client


# Delays


def test_after_the_free_attempts_even_the_right_password_answers_like_a_wrong_one(
    site: Site,
) -> None:
    """During the delay the right password gets the wrong password's status and page."""
    site.user("ann@example.com")
    failed = recorded(site, signals.login_failed)
    client = site.client()
    wrong = [site.login(client, "ann@example.com", OTHER_PASSWORD) for _ in range(5)]
    delayed = site.login(client, "ann@example.com", GOOD_PASSWORD)
    assert [r.status_code for r in wrong] == [401] * 5
    assert delayed.status_code == 401
    assert strip_volatile(delayed.data) == strip_volatile(wrong[-1].data)
    assert "Retry-After" not in delayed.headers
    assert [f["reason"] for f in failed] == ["password"] * 5 + [REASON_DELAYED]
    site.clock.now += 1
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 303


def test_the_delay_doubles_with_each_failure(site: Site) -> None:
    """After the sixth failure the account waits 2 seconds, not 1."""
    site.user("ann@example.com")
    client = site.client()
    for _ in range(5):
        site.login(client, "ann@example.com", OTHER_PASSWORD)
    site.clock.now += 1
    assert site.login(client, "ann@example.com", OTHER_PASSWORD).status_code == 401
    site.clock.now += 1
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 401
    site.clock.now += 1
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 303


def test_a_success_starts_the_counters_afresh(site: Site) -> None:
    """After a success, four failures and the right password sign in without waiting."""
    site.user("ann@example.com")
    client = site.client()
    for _ in range(5):
        site.login(client, "ann@example.com", OTHER_PASSWORD)
    site.clock.now += 1
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 303
    for _ in range(4):
        assert site.login(client, "ann@example.com", OTHER_PASSWORD).status_code == 401
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 303


# The lock and the unlock link


def test_ten_failures_lock_the_account_and_mail_the_owner_an_unlock_link(site: Site) -> None:
    """The tenth failure locks the account, sends account_locked and mails the link."""
    site.user("ann@example.com")
    locked = recorded(site, signals.account_locked)
    failed = recorded(site, signals.login_failed)
    lock(site, "ann@example.com")
    assert [f["reason"] for f in failed] == ["password"] * 10
    assert len(locked) == 1 and locked[0]["until"] == site.clock.now + 900
    site.clock.now += PAST_PAIR_DELAY
    assert site.login(site.client(), "ann@example.com").status_code == 401
    assert failed[-1]["reason"] == REASON_LOCKED
    subjects = [m["Subject"] for m in site.mails("ann@example.com")]
    assert "Sign-in to your account was paused" in subjects
    assert site.last_link("ann@example.com", "/unlock/").startswith("/unlock/")


def test_the_unlock_link_lifts_the_lock_but_not_the_attackers_delay(site: Site) -> None:
    """GET shows a button; POST unlocks: the owner signs in from their address at once,
    while the address that caused the lock is still slowed down on the account."""
    site.user("ann@example.com")
    unlocked = recorded(site, signals.account_unlocked)
    attacker = lock(site, "ann@example.com", from_address(site, "198.51.100.9"))
    link = site.last_link("ann@example.com", "/unlock/")
    owner = from_address(site, "203.0.113.5")
    assert owner.get(BASE + link).status_code == 200  # a button, nothing unlocked yet
    assert site.login(owner, "ann@example.com").status_code == 401
    assert owner.post(BASE + link).headers["Location"] == "/login"
    assert [u["by"] for u in unlocked] == ["link"]
    failed = recorded(site, signals.login_failed)
    assert site.login(attacker, "ann@example.com").status_code == 401
    assert failed[-1]["reason"] == REASON_PAIR_DELAYED
    assert site.login(owner, "ann@example.com").status_code == 303
    assert owner.post(BASE + link).status_code == 400  # single use


def test_the_lock_lifts_after_its_duration_however_often_it_is_tried(site: Site) -> None:
    """Attempts during the lock do not extend it: it ends 900 seconds after the tenth."""
    site.user("ann@example.com")
    client = lock(site, "ann@example.com")
    locked_at = site.clock.now
    for second in (40, 300, 899):
        site.clock.now = locked_at + second
        assert site.login(client, "ann@example.com").status_code == 401
    site.clock.now = locked_at + 900
    assert site.login(client, "ann@example.com").status_code == 303


def test_a_password_reset_lifts_the_lock(site: Site) -> None:
    """Choosing a new password with the reset link unlocks the account."""
    site.user("ann@example.com")
    lock(site, "ann@example.com")
    site.clock.now += PAST_PAIR_DELAY
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 303
    assert site.login(client, "ann@example.com", OTHER_PASSWORD).status_code == 303


def test_confirming_the_password_counts_failures_on_the_account(site: Site) -> None:
    """Wrong passwords on /account/confirm slow the account down like wrong sign-ins."""
    client = site.user("ann@example.com")
    site.clock.now += 601
    for _ in range(5):
        response = client.post(f"{BASE}/account/confirm", data={"password": OTHER_PASSWORD})
        assert response.status_code == 401
    delayed = client.post(f"{BASE}/account/confirm", data={"password": GOOD_PASSWORD})
    assert delayed.status_code == 401
    assert site.login(site.client(), "ann@example.com").status_code == 401
    site.clock.now += 1
    assert client.post(f"{BASE}/account/confirm", data={"password": GOOD_PASSWORD}).status_code == (
        303
    )


def test_known_and_unknown_accounts_are_counted_alike(site: Site) -> None:
    """The same failures give the same answers, reasons and lock, account or not."""
    site.user("ann@example.com")
    runs = {}
    for email, ip in (("ann@example.com", "192.0.2.1"), ("nobody@example.com", "192.0.2.2")):
        failed = recorded(site, signals.login_failed)
        locked = recorded(site, signals.account_locked)
        client = from_address(site, ip)
        pages = [site.login(client, email, OTHER_PASSWORD) for _ in range(6)]
        lock(site, email, client)
        site.clock.now += PAST_PAIR_DELAY
        pages.append(site.login(client, email, OTHER_PASSWORD))
        runs[email] = (
            [(p.status_code, strip_volatile(p.data).replace(email.encode(), b"X")) for p in pages],
            [f["reason"] for f in failed],
            len(locked),
        )
        signals.login_failed.disconnect(site.app)
        signals.account_locked.disconnect(site.app)
    assert runs["ann@example.com"] == runs["nobody@example.com"]
    assert runs["ann@example.com"][1][5] == REASON_DELAYED
    assert runs["ann@example.com"][1][-1] == REASON_LOCKED
    assert site.mails("nobody@example.com") == []


# Limits on the client's address


def test_an_address_over_its_failure_limit_gets_429_with_retry_after(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Past BASTION_LOCKOUT_IP_LIMIT failures the address gets 429 until its window ends,
    even with the right password; another address is not affected."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_IP_LIMIT=3,
    )
    site.user("ann@example.com")
    client = from_address(site, "198.51.100.7")
    for n in range(3):
        assert site.login(client, f"guess{n}@example.com", OTHER_PASSWORD).status_code == 401
    refused = site.login(client, "ann@example.com")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(int(3600 - site.clock.now % 3600))
    assert site.login(from_address(site, "198.51.100.8"), "ann@example.com").status_code == 303
    site.mails()


def test_credential_stuffing_is_refused_and_signalled_once(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Failures on ten accounts from one address: 429 for the window, one signal (the
    ban that follows by default, tests/test_ipfilter_bans.py, is off here)."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_IPFILTER_STUFFING_BAN=0,
    )
    site.user("ann@example.com")
    stuffing = recorded(site, signals.credential_stuffing)
    failed = recorded(site, signals.login_failed)
    client = from_address(site, "198.51.100.7")
    for n in range(10):
        assert site.login(client, f"leaked{n}@example.com", OTHER_PASSWORD).status_code == 401
    answers = [site.login(client, "ann@example.com") for _ in range(3)]
    assert [a.status_code for a in answers] == [429] * 3
    assert answers[0].headers["Retry-After"] == "600"
    assert failed[-1]["reason"] == REASON_STUFFING
    assert stuffing == [{"ip": "198.51.100.7", "accounts": 10, "window": 600}]
    assert site.login(from_address(site, "198.51.100.8"), "ann@example.com").status_code == 303
    site.clock.now += 600
    assert site.login(client, "ann@example.com").status_code == 303
    site.mails()


# Failing closed


@pytest.mark.parametrize(
    ("store", "scheme"),
    [("redis", "redis://127.0.0.1:{port}/0"), ("sql", "postgresql+psycopg://u@127.0.0.1:{port}/x")],
    ids=["redis", "postgresql"],
)
def test_sign_in_fails_closed_when_the_counters_store_is_down(
    smtp_server: t.Any, tmp_path: t.Any, store: str, scheme: str
) -> None:
    """With the counters unreachable, sign-in is a 503 with Retry-After and nobody signs
    in, not even with the right password."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_STORE=store,
        BASTION_LOCKOUT_URL=scheme.format(port=free_port()),
        BASTION_STORES_CONNECT_TIMEOUT=1,
    )
    client = site.client()
    # The mail limit of registration lives in the same store: it fails closed too.
    assert site.register(client, "bob@example.com").status_code == 503
    with site.app.app_context():
        state = accounts_state(site.app)
        db = state.db()
        db.add(
            User(
                email="ann@example.com",
                email_key="ann@example.com",
                password_hash=state.passwords.hash(GOOD_PASSWORD),
                created_at=site.clock.now,
                email_verified_at=site.clock.now,
            )
        )
        db.commit()
    signed_in = recorded(site, signals.user_logged_in)
    page = site.login(client, "ann@example.com")
    assert (page.status_code, page.headers["Retry-After"]) == (503, "5")
    assert b"Traceback" not in page.data
    as_json = client.post(
        f"{BASE}/login",
        json={"email": "ann@example.com", "password": GOOD_PASSWORD},
        headers={"Accept": "application/json"},
    )
    assert (as_json.status_code, as_json.mimetype) == (503, "application/problem+json")
    assert signed_in == []
    assert client.get(f"{BASE}/account").status_code == 303


#: Every accounts page that reads the database, as an anonymous visitor reaches it.
ANONYMOUS_PAGES = [
    ("POST", "/login", {"email": "ann@example.com", "password": GOOD_PASSWORD}),
    ("POST", "/register", {"email": "ann@example.com", "password": GOOD_PASSWORD}),
    ("POST", "/forgot", {"email": "ann@example.com"}),
    *[(m, p + "A" * 43, None) for m in ("GET", "POST") for p in ("/verify/", "/reset/")],
    *[(m, p + "A" * 43, None) for m in ("GET", "POST") for p in ("/unlock/", "/account/email/")],
]


def test_every_page_answers_503_when_the_accounts_database_is_down(
    smtp_server: t.Any,
) -> None:
    """A database on a closed port: each page is a clean 503 with Retry-After, as a page
    and as a problem document; a bearer request too."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x",
        BASTION_STORES_CONNECT_TIMEOUT=1,
    )
    client = site.client()
    for method, path, data in ANONYMOUS_PAGES:
        page = client.open(BASE + path, method=method, data=data)
        assert (page.status_code, page.headers.get("Retry-After")) == (503, "5"), path
        assert page.mimetype == "text/html", path
        problem = client.open(
            BASE + path, method=method, json=data, headers={"Accept": "application/json"}
        )
        assert problem.status_code == 503, path
        assert problem.json["status"] == 503, path
    bearer = site.app.test_client().get(
        f"{BASE}/api/me", headers={"Authorization": "Bearer bst_" + "A" * 43}
    )
    assert (bearer.status_code, bearer.headers["Retry-After"]) == (503, "5")
    assert client.get(f"{BASE}/login").status_code == 200  # nothing to read


def test_the_applications_own_session_factory_fails_closed_too(smtp_server: t.Any) -> None:
    """With the application's SQLAlchemy session on a database that is down, sign-in
    is a 503 with Retry-After."""
    engine = sa.create_engine(
        f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x", connect_args={"connect_timeout": 1}
    )
    factory = scoped_session(sessionmaker(engine))
    site = make_site(smtp_server, accounts={"session_factory": factory})
    page = site.login(site.client(), "ann@example.com")
    assert (page.status_code, page.headers["Retry-After"]) == (503, "5")
    factory.remove()
    engine.dispose()


def test_rolling_back_before_any_query_creates_nothing(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """The rollback of the error path touches no database a request has not used."""
    url = f"sqlite:///{tmp_path}/a.db"
    site = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=url)
    with site.app.test_request_context(BASE):
        accounts_state(site.app).rollback()
    assert sa.inspect(sa.create_engine(url)).get_table_names() == []


#: The pages of a signed-in user.
ACCOUNT_PAGES = [
    "/account",
    "/account/confirm",
    "/account/password",
    "/account/email",
    "/account/sessions",
    "/account/tokens",
    "/account/delete",
]


def test_signed_in_pages_answer_503_when_the_accounts_database_goes_down(
    smtp_server: t.Any, pg_url: str
) -> None:
    """A user signed in before the database went away gets 503 on every account page."""
    url = sa.make_url(pg_url)
    proxy = StallingProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        through = url.set(host="127.0.0.1", port=proxy.port)
        site = make_site(
            smtp_server,
            BASTION_ACCOUNTS_DATABASE_URL=through.render_as_string(hide_password=False),
            BASTION_STORES_CONNECT_TIMEOUT=1,
        )
        client = site.user("ann@example.com")
        site.mails()
        proxy.close()
        for path in ACCOUNT_PAGES:
            page = client.get(BASE + path)
            assert (page.status_code, page.headers.get("Retry-After")) == (503, "5"), path
    finally:
        proxy.close()


def test_sign_out_works_with_the_accounts_database_down(site: Site) -> None:
    """Signing out needs no database: with it gone, the session still ends."""
    client = site.user("ann@example.com")
    engine = sa.create_engine(
        f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x", connect_args={"connect_timeout": 1}
    )
    accounts_state(site.app).session_factory = sessionmaker(engine)
    try:
        response = client.post(f"{BASE}/logout")
    finally:
        engine.dispose()
    assert response.status_code == 303
    assert "cookies" in response.headers["Clear-Site-Data"]


def test_a_reset_with_the_counters_down_changes_nothing(
    smtp_server: t.Any, tmp_path: t.Any, redis_prefix: tuple[str, str]
) -> None:
    """With the counters' store gone, a reset answers 503 before it uses the link or
    changes the password; once the store is back the same link works."""
    import redis

    url, prefix = redis_prefix
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/r.db",
        BASTION_LOCKOUT_STORE="redis",
        BASTION_LOCKOUT_URL=url,
        BASTION_LOCKOUT_KEY_PREFIX=prefix,
    )
    site.user("ann@example.com")
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    backend = site.app.extensions["bastion"].component("lockout").throttle.backend
    working = backend.client
    backend.client = redis.Redis(port=free_port(), socket_connect_timeout=1)
    try:
        down = client.post(BASE + link, data={"password": OTHER_PASSWORD})
    finally:
        backend.client.close()
        backend.client = working
    assert down.status_code == 503
    assert site.login(site.client(), "ann@example.com", GOOD_PASSWORD).status_code == 303
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 303
    assert site.login(site.client(), "ann@example.com", OTHER_PASSWORD).status_code == 303


def test_a_hash_upgrade_at_sign_in_keeps_the_users_links(site: Site) -> None:
    """Signing in rehashes an old hash; a reset link asked for before still works."""
    from werkzeug.security import generate_password_hash

    site.user("ann@example.com")
    with site.app.app_context():
        db = accounts_state(site.app).db()
        user = db.scalars(sa.select(User)).one()
        user.password_hash = generate_password_hash(GOOD_PASSWORD, "pbkdf2:sha256:1000")
        db.commit()
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    assert site.login(site.client(), "ann@example.com").status_code == 303
    with site.app.app_context():
        stored = accounts_state(site.app).db().scalars(sa.select(User)).one().password_hash
    assert stored.startswith("$argon2id$")
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 303
