"""Passkeys through the JSON endpoints, with a software authenticator (P-256, "none"
attestation) built here: registration, sign-in alone and after the password, and each
refusal: another origin or RP ID, no user verification, a challenge replayed or expired,
a counter that went back, someone else's passkey; the list, rename, delete; the second
factor it makes."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field

import cbor2
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url

from flask_bastion import signals
from flask_bastion.accounts import User, accounts_state
from flask_bastion.exceptions import ConfigurationError
from flask_bastion.mfa import Passkey
from flask_bastion.mfa.passkeys import CHALLENGE_TTL, rp_id, rp_name

from .accounts_helpers import BASE, Site, make_site

JSON = {"Accept": "application/json"}
EMAIL = "ann@example.com"
ORIGIN = "https://localhost"
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


@dataclass
class Authenticator:
    """A software authenticator holding one discoverable P-256 credential."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    count: int = 0
    handle: bytes = b""

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return t.cast(
            bytes,
            cbor2.dumps(
                {
                    1: 2,
                    3: -7,
                    -1: 1,
                    -2: numbers.x.to_bytes(32, "big"),
                    -3: numbers.y.to_bytes(32, "big"),
                }
            ),
        )

    def create(
        self,
        options: dict[str, t.Any],
        *,
        origin: str = ORIGIN,
        rp: str | None = None,
        flags: int = UP | UV | AT,
    ) -> dict[str, t.Any]:
        self.handle = options["user"]["id"]
        client = json.dumps(
            {"type": "webauthn.create", "challenge": options["challenge"], "origin": origin}
        ).encode()
        rp_hash = hashlib.sha256((rp or options["rp"]["id"]).encode()).digest()
        attested = (
            bytes(16)
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose()
        )
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client),
                "attestationObject": b64(attestation),
                "transports": ["internal", "bogus"],
            },
        }

    def get(
        self,
        options: dict[str, t.Any],
        *,
        origin: str = ORIGIN,
        flags: int = UP | UV,
        count: int | None = None,
    ) -> dict[str, t.Any]:
        self.count = self.count + 1 if count is None else count
        client = json.dumps(
            {"type": "webauthn.get", "challenge": options["challenge"], "origin": origin}
        ).encode()
        rp_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.count)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": self.handle,
            },
        }


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()


def options(client: t.Any, path: str) -> dict[str, t.Any]:
    response = client.post(f"{BASE}{path}", json={}, headers=JSON)
    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    return t.cast("dict[str, t.Any]", response.get_json())


def register(client: t.Any, device: Authenticator, **create: t.Any) -> t.Any:
    made = device.create(options(client, "/account/passkeys/register/options"), **create)
    return client.post(
        f"{BASE}/account/passkeys/register/verify",
        json={"credential": made, "name": " Laptop "},
        headers=JSON,
    )


def with_passkey(site: Site) -> tuple[t.Any, Authenticator]:
    """A signed-in client of a user with one passkey."""
    client = site.user(EMAIL)
    device = Authenticator()
    assert register(client, device).status_code == 200
    return client, device


def sign_in(client: t.Any, device: Authenticator, **get: t.Any) -> t.Any:
    answer = device.get(options(client, "/login/passkey/options"), **get)
    return client.post(
        f"{BASE}/login/passkey/verify",
        json={"credential": answer, "next": "/api/me"},
        headers=JSON,
    )


def rows(site: Site) -> list[Passkey]:
    with site.app.app_context():
        return list(accounts_state(site.app).db().scalars(sa.select(Passkey)).all())


# Registration


def test_registration_options_require_a_verified_discoverable_credential(site: Site) -> None:
    """The creation options ask for a resident key and user verification, for this RP."""
    made = options(site.user(EMAIL), "/account/passkeys/register/options")
    assert made["rp"] == {"id": "localhost", "name": site.app.name}
    assert made["authenticatorSelection"]["residentKey"] == "required"
    assert made["authenticatorSelection"]["userVerification"] == "required"
    assert EMAIL not in made["user"]["id"]


def test_a_registered_passkey_is_stored_with_its_public_key(site: Site) -> None:
    """The answer stores one row: name stripped, transports filtered, count kept."""
    with_passkey(site)
    [row] = rows(site)
    assert (row.name, row.transports, row.sign_count) == ("Laptop", "internal", 0)


def test_registering_sends_mfa_enabled(site: Site) -> None:
    """mfa_enabled carries method='passkey'."""
    client = site.user(EMAIL)
    seen: list[str] = []
    with signals.mfa_enabled.connected_to(lambda s, **kw: seen.append(kw["method"]), site.app):
        assert register(client, Authenticator()).status_code == 200
    assert seen == ["passkey"]


@pytest.mark.parametrize(
    "create",
    [
        {"origin": "https://evil.example"},
        {"rp": "evil.example"},
        {"flags": UP | AT},
    ],
    ids=["other-origin", "other-rp-id", "no-user-verification"],
)
def test_a_wrong_registration_is_refused(site: Site, create: dict[str, t.Any]) -> None:
    """Another origin, another RP ID, or no user verification: 400 and no row."""
    response = register(site.user(EMAIL), Authenticator(), **create)
    assert response.status_code == 400
    assert rows(site) == []


def test_a_registration_challenge_is_used_once(site: Site) -> None:
    """The same answer sent twice is refused the second time."""
    client = site.user(EMAIL)
    made = Authenticator().create(options(client, "/account/passkeys/register/options"))
    url = f"{BASE}/account/passkeys/register/verify"
    assert client.post(url, json={"credential": made}, headers=JSON).status_code == 200
    assert client.post(url, json={"credential": made}, headers=JSON).status_code == 400


def test_an_expired_registration_challenge_is_refused(site: Site) -> None:
    """Past CHALLENGE_TTL seconds on the accounts clock the answer is refused."""
    client = site.user(EMAIL)
    made = Authenticator().create(options(client, "/account/passkeys/register/options"))
    site.clock.now += CHALLENGE_TTL + 1
    response = client.post(
        f"{BASE}/account/passkeys/register/verify", json={"credential": made}, headers=JSON
    )
    assert response.status_code == 400


def test_a_passkey_registered_twice_is_refused(site: Site) -> None:
    """The same credential ID cannot be stored again."""
    client, device = with_passkey(site)
    assert register(client, device).status_code == 400
    assert len(rows(site)) == 1


def test_a_malformed_registration_is_refused(site: Site) -> None:
    """A credential that is not an object: 400."""
    client = site.user(EMAIL)
    options(client, "/account/passkeys/register/options")
    response = client.post(
        f"{BASE}/account/passkeys/register/verify", json={"credential": "x"}, headers=JSON
    )
    assert response.status_code == 400


def test_registration_needs_a_fresh_sign_in(site: Site) -> None:
    """Past the fresh window the options endpoint answers 401."""
    client = site.user(EMAIL)
    site.clock.now += 3600
    response = client.post(f"{BASE}/account/passkeys/register/options", json={}, headers=JSON)
    assert response.status_code == 401


# Sign-in


def test_a_passkey_alone_signs_in(site: Site) -> None:
    """Signed out, the passkey signs the user in with method='passkey' and 'next'."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    seen: list[str] = []
    with signals.user_logged_in.connected_to(lambda s, **kw: seen.append(kw["method"]), site.app):
        response = sign_in(client, device)
    assert response.status_code == 200
    assert response.get_json() == {"user": {"id": "1", "email": EMAIL}, "redirect": "/api/me"}
    assert client.get(f"{BASE}/account").status_code == 200
    assert seen == ["passkey"]
    assert rows(site)[0].sign_count == 1


def test_sign_in_options_ask_for_any_passkey_with_user_verification(site: Site) -> None:
    """Without a pending user the options list no credential (discoverable)."""
    made = options(site.client(), "/login/passkey/options")
    assert made["rpId"] == "localhost"
    assert made["userVerification"] == "required"
    assert made.get("allowCredentials", []) == []


@pytest.mark.parametrize(
    "get",
    [
        {"origin": "https://evil.example"},
        {"flags": UP},
        {"count": 0},
    ],
    ids=["other-origin", "no-user-verification", "counter-not-moving"],
)
def test_a_wrong_assertion_is_refused(site: Site, get: dict[str, t.Any]) -> None:
    """Another origin, no user verification, or a counter that did not move: 401."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    device.count = 5
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(Passkey).values(sign_count=5))
        db.commit()
    assert sign_in(client, device, **get).status_code == 401
    assert client.get(f"{BASE}/account", headers=JSON).status_code == 401


def test_a_refused_assertion_sends_mfa_failed(site: Site) -> None:
    """A known passkey with a bad answer sends mfa_failed with method='passkey'."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    seen: list[str] = []
    with signals.mfa_failed.connected_to(lambda s, **kw: seen.append(kw["method"]), site.app):
        assert sign_in(client, device, flags=UP).status_code == 401
    assert seen == ["passkey"]


def test_a_sign_in_challenge_is_used_once(site: Site) -> None:
    """The same assertion replayed is refused."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    answer = device.get(options(client, "/login/passkey/options"))
    url = f"{BASE}/login/passkey/verify"
    assert client.post(url, json={"credential": answer}, headers=JSON).status_code == 200
    client.post(f"{BASE}/logout")
    assert client.post(url, json={"credential": answer}, headers=JSON).status_code == 401


def test_an_unknown_passkey_is_refused(site: Site) -> None:
    """A credential ID the site never stored: 401."""
    client = site.client()
    device = Authenticator(handle=b64(b"1"))
    assert sign_in(client, device).status_code == 401


def test_a_user_handle_of_another_account_is_refused(site: Site) -> None:
    """The assertion's user handle must be the passkey owner's."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    device.handle = b64(b"2")
    assert sign_in(client, device).status_code == 401


def test_an_inactive_account_cannot_sign_in_with_its_passkey(site: Site) -> None:
    """A deactivated account's passkey is refused."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).values(active=False))
        db.commit()
    assert sign_in(client, device).status_code == 401


def test_sign_in_without_a_challenge_is_refused(site: Site) -> None:
    """An answer with no options asked first: 401."""
    response = site.client().post(
        f"{BASE}/login/passkey/verify", json={"credential": {}}, headers=JSON
    )
    assert response.status_code == 401


# As the second factor


def test_a_passkey_makes_the_password_ask_for_a_second_step(site: Site) -> None:
    """With a passkey, the password alone only half signs in."""
    client, _ = with_passkey(site)
    client.post(f"{BASE}/logout")
    response = site.login(client, EMAIL)
    assert response.headers["Location"].endswith("/login/verify")


def test_after_the_password_the_passkey_finishes_the_sign_in(site: Site) -> None:
    """On the code page, the pending user's passkey signs in; only it is offered."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    site.login(client, EMAIL)
    made = options(client, "/login/passkey/options")
    assert [c["id"] for c in made["allowCredentials"]] == [b64(device.credential_id)]
    response = client.post(
        f"{BASE}/login/passkey/verify", json={"credential": device.get(made)}, headers=JSON
    )
    assert response.status_code == 200
    assert response.get_json()["redirect"] == "/account"


def test_after_the_password_another_users_passkey_is_refused(site: Site) -> None:
    """A passkey of another account cannot finish someone's half-signed-in session."""
    client, _ = with_passkey(site)
    client.post(f"{BASE}/logout")
    other = site.user("bob@example.com")
    bobs = Authenticator()
    assert register(other, bobs).status_code == 200
    site.login(client, EMAIL)
    made = options(client, "/login/passkey/options")
    response = client.post(
        f"{BASE}/login/passkey/verify", json={"credential": bobs.get(made)}, headers=JSON
    )
    assert response.status_code == 401


def test_an_expired_half_sign_in_gets_no_options(site: Site) -> None:
    """Past the pending deadline the options endpoint answers 401."""
    client, _ = with_passkey(site)
    client.post(f"{BASE}/logout")
    site.login(client, EMAIL)
    site.clock.now += 301
    response = client.post(f"{BASE}/login/passkey/options", json={}, headers=JSON)
    assert response.status_code == 401


# The list


def test_the_list_shows_the_passkeys(site: Site) -> None:
    """GET /account/passkeys lists names, as a page and as JSON."""
    client, _ = with_passkey(site)
    assert b"Laptop" in client.get(f"{BASE}/account/passkeys").data
    listed = client.get(f"{BASE}/account/passkeys", headers=JSON).get_json()
    assert [p["name"] for p in listed["passkeys"]] == ["Laptop"]


def test_a_passkey_is_renamed(site: Site) -> None:
    """POST .../rename stores the new name."""
    client, _ = with_passkey(site)
    passkey_id = rows(site)[0].id
    response = client.post(f"{BASE}/account/passkeys/{passkey_id}/rename", data={"name": "Phone"})
    assert response.status_code == 303
    assert rows(site)[0].name == "Phone"


def test_an_empty_name_is_refused(site: Site) -> None:
    """A blank name: 422."""
    client, _ = with_passkey(site)
    response = client.post(f"{BASE}/account/passkeys/{rows(site)[0].id}/rename", data={"name": ""})
    assert response.status_code == 422


def test_a_deleted_passkey_no_longer_signs_in(site: Site) -> None:
    """Deleting the passkey removes the row and the second factor."""
    client, _ = with_passkey(site)
    response = client.post(f"{BASE}/account/passkeys/{rows(site)[0].id}/delete")
    assert response.status_code == 303
    assert rows(site) == []
    client.post(f"{BASE}/logout")
    assert site.login(client, EMAIL).headers["Location"].endswith("/account")


@pytest.mark.parametrize("action", ["rename", "delete"])
def test_another_users_passkey_cannot_be_changed(site: Site, action: str) -> None:
    """Renaming or deleting someone else's passkey: 404, row unchanged."""
    with_passkey(site)
    other = site.user("bob@example.com")
    response = other.post(
        f"{BASE}/account/passkeys/{rows(site)[0].id}/{action}", data={"name": "Mine"}
    )
    assert response.status_code == 404
    assert [row.name for row in rows(site)] == ["Laptop"]


# The relying party


def test_the_rp_id_and_name_come_from_the_settings(site: Site) -> None:
    """BASTION_ACCOUNTS_WEBAUTHN_RP_ID wins over the host; the name defaults to the app's."""
    settings = accounts_state(site.app).settings
    object.__setattr__(settings, "webauthn_rp_id", "example.org")
    with site.app.test_request_context("/", base_url=ORIGIN):
        assert rp_id() == "example.org"
        assert rp_name() == site.app.name


def test_the_rp_id_is_server_names_host(site: Site) -> None:
    """With SERVER_NAME, its host without the port is the RP ID."""
    site.app.config["SERVER_NAME"] = "www.example.org:8443"
    with site.app.test_request_context("/", base_url="https://www.example.org:8443"):
        assert rp_id() == "www.example.org"


def test_an_unchecked_host_gives_no_rp_id(site: Site) -> None:
    """Without SERVER_NAME or TRUSTED_HOSTS the host is not trusted."""
    site.app.config["TRUSTED_HOSTS"] = None
    with (
        site.app.test_request_context("/", base_url=ORIGIN),
        pytest.raises(ConfigurationError),
    ):
        rp_id()


def test_a_count_used_by_a_concurrent_request_is_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two answers checked at once: the atomic update lets only one through."""
    from flask_bastion.mfa import passkeys

    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    checked = passkeys.verify_authentication_response

    def racing(**kwargs: t.Any) -> t.Any:
        result = checked(**kwargs)
        db = accounts_state(site.app).db()
        db.execute(
            sa.update(Passkey).values(sign_count=result.new_sign_count),
            execution_options={"synchronize_session": False},
        )
        return result

    monkeypatch.setattr(passkeys, "verify_authentication_response", racing)
    assert sign_in(client, device).status_code == 401


def test_a_passkey_sign_in_keeps_the_password_change_hold(site: Site) -> None:
    """An account that must change its password is sent to the password page."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).values(must_change_password=True))
        db.commit()
    response = sign_in(client, device)
    assert response.status_code == 200
    assert response.get_json()["redirect"] == "/account/password"


def test_a_registration_without_transports_stores_none(site: Site) -> None:
    """A browser that reports no transports leaves the column empty."""
    client = site.user(EMAIL)
    made = Authenticator().create(options(client, "/account/passkeys/register/options"))
    del made["response"]["transports"]
    response = client.post(
        f"{BASE}/account/passkeys/register/verify", json={"credential": made}, headers=JSON
    )
    assert response.status_code == 200
    assert [(row.name, row.transports) for row in rows(site)] == [("Passkey", "")]


def test_the_two_factor_page_says_a_passkey_is_on(site: Site) -> None:
    """With a passkey and no app, /account/mfa does not say the factor is off."""
    client, _ = with_passkey(site)
    page = client.get(f"{BASE}/account/mfa")
    assert b"On with a passkey" in page.data
    assert b"Off:" not in page.data


def test_adding_and_removing_a_passkey_mails_the_owner(site: Site) -> None:
    """One mail when a passkey is added, one when it is removed."""
    client, _ = with_passkey(site)
    client.post(f"{BASE}/account/passkeys/{rows(site)[0].id}/delete")
    subjects = [
        m.get_body(("plain",)).get_content()
        for m in site.mails(EMAIL)
        if m["Subject"] == "The second factor of your account changed"
    ]
    assert ["added" in subjects[0], "removed" in subjects[1], len(subjects)] == [True, True, 2]
