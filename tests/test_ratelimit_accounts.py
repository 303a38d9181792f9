"""The authentication rate limits on the accounts blueprint's form posts."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest

from .accounts_helpers import BASE, OTHER_PASSWORD, Site, make_site


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_RATELIMIT_AUTH="3/minute",
        BASTION_RATELIMIT_AUTH_ACCOUNT="2/minute",
    )
    yield made
    made.mails()


def post_from(site: Site, ip: str, path: str, data: dict[str, str]) -> t.Any:
    client = site.client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client.post(BASE + path, data=data)


def test_sign_in_posts_are_limited_per_address(site: Site) -> None:
    """The fourth sign-in post from one address in a minute is a 429 with Retry-After,
    whatever the account; the sign-in page itself is not counted."""
    codes = [
        post_from(site, "192.0.2.1", "/login", {"email": f"u{n}@x.org", "password": "x"})
        for n in range(4)
    ]
    assert [c.status_code for c in codes] == [401, 401, 401, 429]
    assert codes[-1].headers["Retry-After"] == "60"
    assert site.client().get(BASE + "/login").status_code == 200


def test_limits_follow_the_accounts_clock(site: Site) -> None:
    """The limits run on the clock the accounts use: a minute later the address may post
    again."""
    for n in range(3):
        post_from(site, "192.0.2.1", "/login", {"email": f"u{n}@x.org", "password": "x"})
    site.clock.now += 60
    again = post_from(site, "192.0.2.1", "/login", {"email": "z@x.org", "password": "x"})
    assert again.status_code == 401


def test_reset_requests_are_limited_per_account(site: Site) -> None:
    """Reset requests for one address from many addresses meet the account limit."""
    codes = [
        post_from(site, f"192.0.2.{n}", "/forgot", {"email": "ann@example.com"}).status_code
        for n in range(3)
    ]
    assert codes == [200, 200, 429]
    other = post_from(site, "192.0.2.9", "/forgot", {"email": "bob@example.com"})
    assert other.status_code == 200


def test_sign_in_is_counted_per_account_by_the_lockout_only(site: Site) -> None:
    """Password posts on one account from many addresses meet the lockout's delays, not
    the account rate limit: the lockout owns per-account counting of sign-in."""
    site.user("ann@example.com")
    codes = []
    for n in range(4):
        site.clock.now += 60  # past any delay and any window
        response = post_from(
            site, f"192.0.2.{n}", "/login", {"email": "ann@example.com", "password": OTHER_PASSWORD}
        )
        codes.append(response.status_code)
    assert 429 not in codes


def test_registration_posts_are_limited(site: Site) -> None:
    """Registration posts share the address's authentication budget."""
    codes = [
        post_from(
            site, "198.51.100.1", "/register", {"email": f"n{n}@x.org", "password": "x"}
        ).status_code
        for n in range(4)
    ]
    assert codes[-1] == 429 and 429 not in codes[:3]
