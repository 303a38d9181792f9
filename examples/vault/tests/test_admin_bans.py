"""Vault's ban page (/admin/bans) and its admin allowlist (VAULT_ADMIN_ALLOW): only
administrators list, add and lift bans, through CSRF-protected forms, each change
audited; a ban holds at once; the admin area refuses networks outside the allowlist."""

from __future__ import annotations

import logging
import re
import typing as t
from collections.abc import Callable

import pytest
from flask import Flask
from test_admin import BASE, admin_client, member_client
from vault_testing import browser

from flask_bastion.exceptions import ConfigurationError
from flask_bastion.ipfilter import ban, bans
from vault.db import init_db


def ban_list(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(str(b.network), b.by, b.reason) for b in bans()]


def from_ip(app: Flask, ip: str) -> int:
    return browser(app).get(f"{BASE}/", environ_base={"REMOTE_ADDR": ip}).status_code


def test_admin_bans_and_lifts(vault: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """The admin bans a network from the page: it holds at once and is listed; lifting it
    opens the door again. Each change is a vault.admin_action and an ipfilter line."""
    client = admin_client(vault)
    with caplog.at_level(logging.INFO, logger="flask_bastion.security"):
        added = client.post(
            f"{BASE}/admin/bans",
            data={"network": "203.0.113.0/24", "duration": "3600", "reason": "scanner"},
        )
        assert added.status_code == 303
        assert from_ip(vault, "203.0.113.9") == 403
        assert ban_list(vault) == [("203.0.113.0/24", "admin:1", "scanner")]
        page = client.get(f"{BASE}/admin/bans").get_data(as_text=True)
        assert "203.0.113.0/24" in page and "scanner" in page and "59 min" in page
        lifted = client.post(f"{BASE}/admin/bans/lift", data={"network": "203.0.113.0/24"})
        assert lifted.status_code == 303
    assert from_ip(vault, "203.0.113.9") == 200
    assert ban_list(vault) == []
    events = [(getattr(r, "event", ""), getattr(r, "action", None)) for r in caplog.records]
    assert ("vault.admin_action", "ban") in events
    assert ("vault.admin_action", "unban") in events
    assert ("ipfilter.banned", None) in events and ("ipfilter.unbanned", None) in events


def test_page_lists_bans_from_every_source(vault: Flask) -> None:
    """Bans made in code (or by an automatic control) show on the page, escaped."""
    with vault.app_context():
        ban("2001:db8::/64", 600, "<script>alert(1)</script>", by="notfound")
    page = admin_client(vault).get(f"{BASE}/admin/bans").get_data(as_text=True)
    assert "2001:db8::/64" in page and "notfound" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        pytest.param({"network": "10.0.0.1/8", "duration": "3600"}, "host bits", id="host-bits"),
        pytest.param({"network": "example.com", "duration": "3600"}, "not an IP", id="name"),
        pytest.param({"network": "", "duration": "3600"}, "not an IP", id="empty"),
        pytest.param({"network": "10.0.0.1", "duration": "5"}, "durations offered", id="dur"),
        pytest.param({"network": "10.0.0.1", "duration": "x"}, "invalid literal", id="nan"),
        pytest.param({"network": "127.0.0.0/8", "duration": "3600"}, "your own", id="self"),
    ],
)
def test_bad_ban_forms_are_refused(vault: Flask, form: dict[str, str], message: str) -> None:
    """A malformed network or duration, or the admin's own address, is a 400 that says
    why; nothing is banned."""
    response = admin_client(vault).post(f"{BASE}/admin/bans", data=form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert ban_list(vault) == []


def test_members_and_forgeries_cannot_ban(vault: Flask) -> None:
    """A member gets 403 on the page and its forms; a cross-site form post by the admin's
    browser is refused by CSRF; nothing is banned."""
    member = member_client(vault)
    assert member.get(f"{BASE}/admin/bans").status_code == 403
    data = {"network": "198.51.100.7", "duration": "3600"}
    assert member.post(f"{BASE}/admin/bans", data=data).status_code == 403
    admin = admin_client(vault)
    forged = admin.post(f"{BASE}/admin/bans", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    with vault.app_context():
        ban("198.51.100.9", 600, "x")
    lift = member.post(f"{BASE}/admin/bans/lift", data={"network": "198.51.100.9"})
    assert lift.status_code == 403
    assert [n for n, _, _ in ban_list(vault)] == ["198.51.100.9/32"]


def test_lifting_an_unknown_ban_says_so(vault: Flask) -> None:
    """Lifting a network that is not banned changes nothing and says so."""
    client = admin_client(vault)
    response = client.post(
        f"{BASE}/admin/bans/lift", data={"network": "198.51.100.1"}, follow_redirects=True
    )
    assert "was not banned" in response.get_data(as_text=True)


# VAULT_ADMIN_ALLOW


def allowlisted(make_app: Callable[..., Flask], tmp_path: t.Any, allow: t.Any) -> Flask:
    app = make_app(
        TRUSTED_HOSTS=["localhost"],
        BASTION_MAIL_OUTBOX=str(tmp_path / "outbox"),
        BASTION_SESSIONS_STORE="memory",
        ADMIN_ALLOW=allow,
    )
    with app.app_context():
        init_db()
    return app


@pytest.mark.parametrize(
    "allow",
    [pytest.param(["127.0.0.0/8", "::1"], id="list"), pytest.param("127.0.0.0/8, ::1", id="env")],
)
def test_admin_allowlist(make_app: Callable[..., Flask], tmp_path: t.Any, allow: t.Any) -> None:
    """With VAULT_ADMIN_ALLOW, a signed-in admin outside it gets a bare 403 from /admin
    (every admin route), while the rest of Vault still serves that address."""
    app = allowlisted(make_app, tmp_path, allow)
    client = admin_client(app)  # from 127.0.0.1, inside
    assert client.get(f"{BASE}/admin/bans").status_code == 200
    outside = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.get(f"{BASE}/admin/", environ_base=outside).status_code == 403
    assert client.get(f"{BASE}/admin/bans", environ_base=outside).status_code == 403
    assert client.get(f"{BASE}/notes", environ_base=outside).status_code == 200


def test_malformed_admin_allowlist_stops_start_up(make_app: Callable[..., Flask]) -> None:
    """A bad VAULT_ADMIN_ALLOW is a ConfigurationError naming it, at start-up."""
    with pytest.raises(ConfigurationError) as error:
        make_app(ADMIN_ALLOW="10.0.0.1/8")
    assert error.value.key == "VAULT_ADMIN_ALLOW"


def test_ban_page_with_the_store_down_is_a_clean_503(
    make_app: Callable[..., Flask], tmp_path: t.Any
) -> None:
    """A ban store that cannot be opened: Vault is served (fail open), the ban page
    answers 503 without a traceback, and banning answers 503 too."""
    app = make_app(
        TRUSTED_HOSTS=["localhost"],
        BASTION_MAIL_OUTBOX=str(tmp_path / "outbox"),
        BASTION_SESSIONS_STORE="memory",
        BASTION_IPFILTER_BANS_URL=f"sqlite:///{tmp_path}/missing/dir/bans.db",
    )
    with app.app_context():
        init_db()
    client = admin_client(app)
    page = client.get(f"{BASE}/admin/bans")
    assert page.status_code == 503
    assert "Traceback" not in page.get_data(as_text=True)
    data = {"network": "198.51.100.7", "duration": "3600"}
    assert client.post(f"{BASE}/admin/bans", data=data).status_code == 503


def test_ban_page_finds_bans_and_shows_at_most_a_page(vault: Flask) -> None:
    """?q= with an address finds the bans covering it, with text the bans mentioning it;
    a long list shows its first page only."""
    with vault.app_context():
        ban("198.51.100.0/24", 600, "scanner")
        ban("2001:db8::/64", 900, "stuffing", by="stuffing")
        for n in range(205):
            ban(f"10.0.{n // 256}.{n % 256}", 1200, "bulk")
    client = admin_client(vault)

    def networks(query: str) -> list[str]:
        page = client.get(f"{BASE}/admin/bans", query_string={"q": query})
        return re.findall(r"<td>([0-9a-f:./]+/\d+)</td>", page.get_data(as_text=True))

    assert networks("198.51.100.77") == ["198.51.100.0/24"]
    assert networks("2001:db8::5") == ["2001:db8::/64"]
    assert networks("STUFF") == ["2001:db8::/64"]
    assert networks("203.0.113.1") == []
    whole = client.get(f"{BASE}/admin/bans").get_data(as_text=True)
    assert "207 ban(s), the 200 ending soonest shown." in whole
