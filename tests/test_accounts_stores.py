"""Accounts on the production stores: the account tables on PostgreSQL, with sessions and
sign-in counters either on PostgreSQL too or on Redis, driven through the views."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site

#: Waits before each of ten failures so that none is refused; the tenth locks.
TO_LOCK = (0, 0, 0, 0, 0, 1, 2, 4, 8, 16)


@pytest.fixture(params=["postgresql", "redis"])
def site(request: pytest.FixtureRequest, smtp_server: t.Any, pg_url: str) -> Iterator[Site]:
    """Accounts on PostgreSQL; sessions and counters on PostgreSQL or on Redis."""
    config: dict[str, t.Any] = {"BASTION_ACCOUNTS_DATABASE_URL": pg_url}
    if request.param == "postgresql":
        config.update(BASTION_SESSIONS_STORE="sql", BASTION_SESSIONS_URL=pg_url)
    else:
        url, prefix = request.getfixturevalue("redis_prefix")
        config.update(
            BASTION_SESSIONS_STORE="redis",
            BASTION_SESSIONS_URL=url,
            BASTION_SESSIONS_KEY_PREFIX=prefix + "s:",
            BASTION_LOCKOUT_STORE="redis",
            BASTION_LOCKOUT_URL=url,
            BASTION_LOCKOUT_KEY_PREFIX=prefix + "l:",
        )
    made = make_site(smtp_server, **config)
    yield made
    made.mails()  # the background worker is done before the server stops


def counters_stored(site: Site) -> int:
    """How many sign-in counters the site's store holds."""
    config = site.app.config
    if config.get("BASTION_LOCKOUT_STORE") == "redis":
        client = redis.Redis.from_url(config["BASTION_LOCKOUT_URL"])
        try:
            return len(list(client.scan_iter(match=config["BASTION_LOCKOUT_KEY_PREFIX"] + "*")))
        finally:
            client.close()
    engine = sa.create_engine(config["BASTION_SESSIONS_URL"])
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT count(*) FROM bastion_login_counters")
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_register_verify_sign_in_and_out(site: Site) -> None:
    """The whole sign-up, a second device, and sign-out, on the shared stores."""
    client = site.user("ann@example.com")
    phone = site.client()
    assert site.login(phone, "ann@example.com").status_code == 303
    listed = client.get(f"{BASE}/account/sessions", headers={"Accept": "application/json"})
    assert len(listed.json["sessions"]) == 2
    assert client.post(f"{BASE}/logout").status_code == 303
    assert client.get(f"{BASE}/account").status_code == 303
    assert phone.get(f"{BASE}/account").status_code == 200


def test_reset_signs_out_every_device(site: Site) -> None:
    """A reset changes the password and ends the sessions held in the store."""
    device = site.user("ann@example.com")
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 303
    assert device.get(f"{BASE}/account").status_code == 303
    assert site.login(client, "ann@example.com", GOOD_PASSWORD).status_code == 401
    assert site.login(client, "ann@example.com", OTHER_PASSWORD).status_code == 303


def test_a_personal_token_signs_in_a_bearer_request(site: Site) -> None:
    """A token made on the tokens page reaches the API until it is revoked."""
    client = site.user("ann@example.com")
    made = client.post(
        f"{BASE}/account/tokens",
        json={"name": "ci", "scopes": ["api"], "days": 7},
        headers={"Accept": "application/json"},
    )
    assert made.status_code == 201
    auth = {"Authorization": f"Bearer {made.json['token']}"}
    api = site.app.test_client()
    assert api.get(f"{BASE}/api/me", headers=auth).json["email"] == "ann@example.com"
    client.post(f"{BASE}/account/tokens", data={"action": "revoke", "id": made.json["id"]})
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 401


def test_email_change(site: Site) -> None:
    """The new address is confirmed by its link and signs in; the old one no longer."""
    client = site.user("ann@example.com")
    client.post(f"{BASE}/account/email", data={"new_email": "ann@new.example"})
    link = site.last_link("ann@new.example", "/account/email/")
    assert client.post(BASE + link).status_code == 303
    assert site.login(site.client(), "ann@example.com").status_code == 401
    assert site.login(site.client(), "ann@new.example").status_code == 303


def test_lock_and_unlock_link(site: Site) -> None:
    """Ten failures lock the account in the shared store; the mailed link unlocks it."""
    site.user("ann@example.com")
    attacker = site.client()
    for wait in TO_LOCK:
        site.clock.now += wait
        assert site.login(attacker, "ann@example.com", OTHER_PASSWORD).status_code == 401
    assert counters_stored(site) > 0
    owner = site.client()
    owner.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert site.login(owner, "ann@example.com").status_code == 401
    link = site.last_link("ann@example.com", "/unlock/")
    assert re.fullmatch(r"/unlock/[A-Za-z0-9_-]{43}", link)
    assert owner.post(BASE + link).status_code == 303
    assert site.login(owner, "ann@example.com").status_code == 303


def test_a_deleted_accounts_id_is_never_given_again_on_sqlite(tmp_path: t.Any) -> None:
    """The newest account deleted, the next one gets a new ID (SQLite AUTOINCREMENT), on
    Bastion's own model and on an application's model mixing UserMixin in."""
    import sqlalchemy as sa
    from sqlalchemy.orm import DeclarativeBase, Session

    from flask_bastion.accounts.models import AccountsBase, User, UserMixin

    class Base(DeclarativeBase):
        pass

    class AppUser(UserMixin, Base):
        __tablename__ = "app_users"

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ids.sqlite3'}")
    AccountsBase.metadata.create_all(engine, tables=[User.__table__])  # type: ignore[list-item]
    Base.metadata.create_all(engine)
    for model in (User, AppUser):
        with Session(engine) as db:
            first = model(email="a@example.com", email_key="a@example.com", created_at=0.0)
            db.add(first)
            db.commit()
            gone = first.id
            db.delete(first)
            db.commit()
            second = model(email="b@example.com", email_key="b@example.com", created_at=0.0)
            db.add(second)
            db.commit()
            assert second.id != gone
    engine.dispose()
