"""Passwords through the accounts views: older hashes upgraded on sign-in, and the NIST
SP 800-63B-4 rules at their edges on registration and on the password page."""

from __future__ import annotations

import json
import typing as t
import unicodedata
from collections.abc import Iterator

import argon2
import bcrypt
import pyotp
import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from flask_bastion.accounts import User, accounts_state

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site

#: The prefix of a hash under the default "owasp" profile.
CURRENT = "$argon2id$v=19$m=19456,t=2,p=1$"
JSON = {"Accept": "application/json"}
#: 15 characters that break no rule.
FIFTEEN = "plum ferry jolt"
TOO_SHORT = "Use at least 15 characters."


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def stored_hash(site: Site, email: str) -> str:
    with site.app.app_context():
        db = accounts_state(site.app).db()
        return str(db.scalars(sa.select(User.password_hash).where(User.email == email)).one())


def store_hash(site: Site, email: str, value: str) -> None:
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).where(User.email == email).values(password_hash=value))
        db.commit()


def register(site: Site, password: str, email: str = "ann@example.com") -> t.Any:
    """Register ``email`` with ``password`` as a JSON client."""
    return site.client().post(
        f"{BASE}/register", json={"email": email, "password": password}, headers=JSON
    )


def change(client: t.Any, new: str, current: str = GOOD_PASSWORD) -> t.Any:
    """Change the signed-in user's password as a JSON client."""
    return client.post(
        f"{BASE}/account/password",
        json={"current_password": current, "new_password": new},
        headers=JSON,
    )


def full_width(text: str) -> str:
    """``text`` with its printable ASCII characters in their full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Hash upgrades on sign-in


#: Older hashes, in their formats, with low costs so that the tests stay quick.
LEGACY = {
    "pbkdf2": lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"),
    "scrypt": lambda pw: generate_password_hash(pw, method="scrypt:1024:8:1"),
    "bcrypt": lambda pw: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode(),
    "weak-argon2id": lambda pw: argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(pw),
}


@pytest.mark.parametrize("kind", LEGACY, ids=list(LEGACY))
def test_signing_in_upgrades_an_older_hash_to_the_current_profile(site: Site, kind: str) -> None:
    """A pbkdf2, scrypt, bcrypt or weaker argon2id hash signs in and is replaced."""
    site.user("ann@example.com")
    legacy = LEGACY[kind](GOOD_PASSWORD)
    store_hash(site, "ann@example.com", legacy)
    assert site.login(site.client(), "ann@example.com", OTHER_PASSWORD).status_code == 401
    assert stored_hash(site, "ann@example.com") == legacy
    assert site.login(site.client(), "ann@example.com").status_code == 303
    upgraded = stored_hash(site, "ann@example.com")
    assert upgraded.startswith(CURRENT)
    assert site.login(site.client(), "ann@example.com").status_code == 303
    assert stored_hash(site, "ann@example.com") == upgraded  # current: left alone


def test_a_plaintext_password_column_never_signs_in(site: Site) -> None:
    """A stored value in no known hash format is never compared, even when equal."""
    site.user("ann@example.com")
    store_hash(site, "ann@example.com", GOOD_PASSWORD)
    assert site.login(site.client(), "ann@example.com").status_code == 401
    assert stored_hash(site, "ann@example.com") == GOOD_PASSWORD


# Length


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        (FIFTEEN[:-1], False),
        (FIFTEEN, True),
        ((FIFTEEN + " ") * 4 + "42", True),
        (("quiet river bend " * 61)[:1024], True),
    ],
    ids=["14", "15", "64", "1024"],
)
def test_registration_takes_15_to_1024_characters(
    site: Site, password: str, accepted: bool
) -> None:
    """14 characters are too few; 15, 64 and 1,024 are accepted."""
    response = register(site, password)
    assert response.status_code == (200 if accepted else 422)
    if not accepted:
        assert response.json["errors"]["password"] == [TOO_SHORT]


def test_a_1024_character_password_signs_in(site: Site) -> None:
    """The longest password is hashed and verified like any other."""
    password = ("quiet river bend " * 61)[:1024]
    client = site.user("ann@example.com", password)
    assert client.get(f"{BASE}/account").status_code == 200


@pytest.mark.parametrize("path", ["/register", "/login"])
def test_over_1024_characters_is_a_422_not_a_500(site: Site, path: str) -> None:
    """A 1,025-character password is a field error before any hashing."""
    response = site.client().post(
        BASE + path, json={"email": "ann@example.com", "password": "x" * 1025}, headers=JSON
    )
    assert response.status_code == 422
    assert response.json["errors"]["password"] == ["Use at most 1024 characters."]


def test_a_password_that_nfkc_lengthens_past_the_limit_is_refused_cleanly(site: Site) -> None:
    """1,024 characters that normalise to 18,432 are too long to register and simply
    wrong at sign-in (never hashed, never a 500)."""
    password = "\ufdfa" * 1024  # one ligature, eighteen characters under NFKC
    response = register(site, password)
    assert response.status_code == 422
    assert response.json["errors"]["password"] == ["Use at most 1024 characters."]
    site.user("ann@example.com")
    assert site.login(site.client(), "ann@example.com", password).status_code == 401


@pytest.mark.parametrize("path", ["/register", "/login", "/forgot"])
def test_a_lone_surrogate_is_a_field_error(site: Site, path: str) -> None:
    """JSON can carry a lone surrogate, which no encoder takes: a 422, never a 500."""
    body = '{"email": "ann\\ud800@example.com", "password": "\\ud800 quiet river bend"}'
    response = site.client().post(
        BASE + path, data=body, headers={**JSON, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json["errors"]["email"] == ["Enter text."]


def test_a_lone_surrogate_in_a_new_password_is_a_field_error(site: Site) -> None:
    """The password page refuses it too, and the password is unchanged."""
    client = site.user("ann@example.com")
    response = change(client, OTHER_PASSWORD + "\ud800")
    assert response.status_code == 422
    assert response.json["errors"]["new_password"] == ["Enter text."]
    assert site.login(site.client(), "ann@example.com").status_code == 303


# Unicode and spaces


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        (full_width(FIFTEEN), FIFTEEN),
        (unicodedata.normalize("NFD", "café crème brûlée"), "café crème brûlée"),
        ("🐢🦒🐘🦓🐧🦉🐙🦑🐌🦋🐝🐞🦗🐜🦂", "🐢🦒🐘🦓🐧🦉🐙🦑🐌🦋🐝🐞🦗🐜🦂"),
    ],
    ids=["full-width", "combining", "emoji"],
)
def test_unicode_passwords_sign_in_in_any_normal_form(
    site: Site, registered: str, typed: str
) -> None:
    """Full-width, decomposed and emoji passwords register, and sign in as typed in
    another form with the same NFKC normalisation."""
    site.user("ann@example.com", registered)
    assert site.login(site.client(), "ann@example.com", typed).status_code == 303


def test_length_is_counted_after_normalisation(site: Site) -> None:
    """14 accented letters sent decomposed (19 code points) are still 14 characters."""
    decomposed = unicodedata.normalize("NFD", "déjà vu à côté")
    assert len(decomposed) == 19
    response = register(site, decomposed)
    assert response.status_code == 422
    assert response.json["errors"]["password"] == [TOO_SHORT]


def test_spaces_are_kept_as_typed(site: Site) -> None:
    """Leading and trailing spaces are part of the password, never stripped."""
    site.user("ann@example.com", f"  {FIFTEEN}  ")
    assert site.login(site.client(), "ann@example.com", FIFTEEN).status_code == 401
    assert site.login(site.client(), "ann@example.com", f"  {FIFTEEN}  ").status_code == 303


# The blocklist and context words


@pytest.mark.parametrize(
    "password",
    ["qwerty123456789", "QWERTY123456789", full_width("QWERTY") + "123456789"],
    ids=["lower", "upper", "full-width"],
)
def test_common_passwords_are_refused_in_any_case(site: Site, password: str) -> None:
    """A blocklisted password is refused whatever its case or width."""
    response = register(site, password)
    assert response.status_code == 422
    assert response.json["errors"]["password"] == [
        "This is one of the most common passwords. Choose another."
    ]


def test_the_local_part_of_the_address_is_a_context_word(site: Site) -> None:
    """A password holding the address's local part is refused."""
    response = register(site, "Marigold rowboat 77", email="marigold@example.org")
    assert response.status_code == 422
    assert response.json["errors"]["password"] == [
        "Do not use your email address, your user name or the name of this site in your password."
    ]
    assert register(site, "Marigold rowboat 77", email="ann@example.org").status_code == 200


def test_every_problem_is_reported_at_once(site: Site) -> None:
    """Short, common and holding the address: three messages for one password."""
    response = register(site, "example", email="ann@example.com")
    assert response.status_code == 422
    problems = response.json["errors"]["password"]
    assert len(problems) == 3
    assert problems[0] == TOO_SHORT


def test_the_password_page_applies_the_same_rules(site: Site) -> None:
    """A new password on /account/password is refused for the same reasons, and the old
    one still signs in."""
    client = site.user("ann@example.com")
    response = change(client, FIFTEEN[:-1])
    assert response.status_code == 422
    assert response.json["errors"]["new_password"] == [TOO_SHORT]
    assert change(client, "x" * 1025).json["errors"]["new_password"] == [
        "Use at most 1024 characters."
    ]
    assert site.login(site.client(), "ann@example.com").status_code == 303
    assert change(client, FIFTEEN).status_code == 200


# An account with a second factor


def test_eight_characters_are_enough_with_a_second_factor(site: Site) -> None:
    """With a second factor the password page takes 8 characters (not 7); registration,
    where no second factor exists yet, still asks for 15."""
    assert register(site, "vR2#kq9x").json["errors"]["password"] == [TOO_SHORT]
    client = site.user("ann@example.com")
    page = client.get(f"{BASE}/account/mfa/totp", headers={"Accept": "application/json"})
    code = pyotp.TOTP(page.json["secret"]).at(site.clock.now)
    assert client.post(f"{BASE}/account/mfa/totp", data={"code": code}).status_code == 200
    short = change(client, "vR2#kq9")
    assert short.json["errors"]["new_password"] == ["Use at least 8 characters."]
    assert change(client, "vR2#kq9x").status_code == 200
    signed_in = site.login(site.client(), "ann@example.com", "vR2#kq9x")
    assert signed_in.headers["Location"].endswith("/login/verify")


def test_json_password_errors_never_echo_the_password(site: Site) -> None:
    """The problem document names the rules, never the password."""
    response = register(site, "QWERTY123456789")
    assert "QWERTY" not in json.dumps(response.json)
