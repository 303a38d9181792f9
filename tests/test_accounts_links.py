"""Emailed links at their edges: the 24-hour lifetimes of verification and change of
address, reuse, a newer link voiding an older one, and links that die with the account
they were issued for."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.models import AccountToken

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site

DAY = 86_400


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def email_link(site: Site, client: t.Any, new: str) -> str:
    """Ask to move the signed-in user to ``new``; the link mailed there."""
    assert client.post(f"{BASE}/account/email", data={"new_email": new}).status_code == 200
    return site.last_link(new, "/account/email/")


def test_a_verification_link_lasts_24_hours(site: Site) -> None:
    """A second before the day ends the link works; at the day's end it is refused."""
    client = site.client()
    site.register(client, "ann@example.com")
    link = site.last_link("ann@example.com", "/verify/")
    site.clock.now += DAY - 1
    assert client.get(BASE + link).status_code == 200
    site.clock.now += 1
    assert client.get(BASE + link).status_code == 400
    assert client.post(BASE + link).status_code == 400
    assert site.login(client, "ann@example.com").status_code == 403  # still unverified


def test_an_email_change_link_lasts_24_hours(site: Site) -> None:
    """The change-of-address link is refused once a day has passed; the address stays."""
    client = site.user("ann@example.com")
    link = email_link(site, client, "ann@new.example")
    site.clock.now += DAY - 1
    assert client.get(BASE + link).status_code == 200
    site.clock.now += 1
    assert client.post(BASE + link).status_code == 400
    assert site.login(site.client(), "ann@example.com").status_code == 303


def test_an_email_change_link_works_once(site: Site) -> None:
    """The second use of a change-of-address link is refused."""
    client = site.user("ann@example.com")
    link = email_link(site, client, "ann@new.example")
    assert client.post(BASE + link).status_code == 303
    assert client.post(BASE + link).status_code == 400
    assert client.get(BASE + link).status_code == 400


def test_a_newer_email_change_link_voids_the_older(site: Site) -> None:
    """Asking to move to a second address kills the link sent to the first."""
    client = site.user("ann@example.com")
    first = email_link(site, client, "ann@first.example")
    second = email_link(site, client, "ann@second.example")
    assert client.post(BASE + first).status_code == 400
    assert client.post(BASE + second).status_code == 303
    assert site.login(site.client(), "ann@second.example").status_code == 303
    assert site.login(site.client(), "ann@first.example").status_code == 401


def test_a_newer_reset_link_voids_the_older(site: Site) -> None:
    """Of two reset links, only the newest works."""
    site.user("ann@example.com")
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    first = site.last_link("ann@example.com", "/reset/")
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    second = site.last_link("ann@example.com", "/reset/")
    assert first != second
    assert client.get(BASE + first).status_code == 400
    assert client.get(BASE + second).status_code == 200


def test_a_reset_link_from_before_an_email_change_dies(site: Site) -> None:
    """A reset link mailed to the old address is refused once the address changed."""
    client = site.user("ann@example.com")
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    reset = site.last_link("ann@example.com", "/reset/")
    assert client.post(BASE + email_link(site, client, "ann@new.example")).status_code == 303
    assert site.client().get(BASE + reset).status_code == 400
    response = site.client().post(BASE + reset, data={"password": "violet tugboat orchestra"})
    assert response.status_code == 400
    assert site.login(site.client(), "ann@new.example", GOOD_PASSWORD).status_code == 303


def test_an_email_change_link_dies_with_a_password_change(site: Site) -> None:
    """A pending change of address is void once the password changed."""
    client = site.user("ann@example.com")
    link = email_link(site, client, "ann@new.example")
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": "violet tugboat orchestra"},
    )
    assert changed.status_code == 303
    assert client.post(BASE + link).status_code == 400


def test_an_address_taken_before_the_link_is_used_is_a_409(site: Site) -> None:
    """Someone registers the new address before the link is followed: a 409, no change."""
    client = site.user("ann@example.com")
    link = email_link(site, client, "shared@example.com")
    site.user("shared@example.com")
    assert client.post(BASE + link).status_code == 409
    assert site.login(site.client(), "ann@example.com").status_code == 303


def test_links_die_with_the_account(site: Site) -> None:
    """After deletion, the account's reset link is refused."""
    client = site.user("ann@example.com")
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    reset = site.last_link("ann@example.com", "/reset/")
    deleted = client.post(f"{BASE}/account/delete", data={"current_password": GOOD_PASSWORD})
    assert deleted.status_code == 303
    assert site.client().get(BASE + reset).status_code == 400


def test_a_link_is_bound_to_its_site(smtp_server: t.Any, tmp_path: t.Any, site: Site) -> None:
    """A verification link of one application means nothing to another one."""
    client = site.client()
    site.register(client, "ann@example.com")
    link = site.last_link("ann@example.com", "/verify/")
    other = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/b.db")
    assert other.client().get(BASE + link).status_code == 400


def test_links_die_when_the_account_is_deactivated(site: Site) -> None:
    """A reset link mailed before deactivation no longer works afterwards."""
    site.user("ann@example.com")
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.scalars(sa.select(User)).one().active = False
        db.commit()
    assert client.get(BASE + link).status_code == 400
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 400


def test_expired_link_rows_are_purged(site: Site) -> None:
    """Rows of links expired for more than a day go when a new link is made."""
    site.user("ann@example.com")
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    site.mails()
    site.clock.now += 3 * 86_400
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    site.mails()
    with site.app.app_context():
        rows = list(accounts_state(site.app).db().scalars(sa.select(AccountToken)))
    assert [row.created_at for row in rows] == [site.clock.now]
