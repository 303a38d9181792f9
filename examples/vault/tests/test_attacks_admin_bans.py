"""Attacks on Vault's ban page (/admin/bans) by a confused or careless administrator:
input that must be a 400 with a message, never a 500."""

from __future__ import annotations

import pytest
from flask import Flask
from test_admin import BASE, admin_client
from test_admin_bans import ban_list


@pytest.mark.parametrize(
    ("network", "remote"),
    [("::/0", "127.0.0.1"), ("0.0.0.0/0", "::1"), ("::ffff:0.0.0.0/96", "::1")],
)
def test_banning_every_address_of_the_other_family_is_a_400(
    vault: Flask, network: str, remote: str
) -> None:
    """'::/0' typed by an admin on IPv4 (or '0.0.0.0/0' on IPv6) holds no address of
    theirs, so the own-address guard lets it through; the ban API refuses /0 with a
    ValueError, which must come back as the form's 400, not a 500."""
    client = admin_client(vault)
    response = client.post(
        f"{BASE}/admin/bans",
        data={"network": network, "duration": "3600"},
        environ_base={"REMOTE_ADDR": remote},
    )
    assert response.status_code == 400
    assert "every address" in response.get_data(as_text=True)
    assert ban_list(vault) == []
