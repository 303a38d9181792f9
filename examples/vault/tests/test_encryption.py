"""Notes encrypted at rest: titles and bodies are key ring tokens bound to their note,
search still works over the decrypted notes, a moved body is a safe 500, and
``flask bastion rotate-keys`` moves notes and TOTP secrets to a new key. On SQLite and
PostgreSQL."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select, text
from test_notes import BASE, add_user, create, sign_in

from flask_bastion import signals
from flask_bastion.crypto import keyring_for, new_key
from flask_bastion.mfa import enrol_totp
from vault import models
from vault.db import get_db, init_db
from vault.models import Note, User, search_notes


@pytest.fixture(params=["sqlite", "postgresql"])
def vault(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    config: dict[str, t.Any] = {"TRUSTED_HOSTS": ["localhost"], "BASTION_SESSIONS_STORE": "memory"}
    if request.param == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    app = make_app(**config)
    with app.app_context():
        init_db()
        add_user("ann@example.com")
        add_user("bob@example.com")
    return app


def stored(app: Flask, note_id: str) -> tuple[str, str]:
    with app.app_context():
        row = get_db().execute(
            text("SELECT title, body FROM notes WHERE id = :id"), {"id": note_id}
        )
        title, body = row.one()
        return title, body


def test_title_and_body_are_tokens(vault: Flask) -> None:
    """The database holds tokens under Vault's own key, never the note's text."""
    note_id = create(sign_in(vault), "Launch codes", "the code is 0000")
    title, body = stored(vault, note_id)
    current = keyring_for(vault).current_id
    assert title.startswith(f"v1.{current}.") and body.startswith(f"v1.{current}.")
    assert "Launch" not in title and "0000" not in body


def test_search_over_encrypted_notes(vault: Flask) -> None:
    """?q= still finds notes by title or body, case-insensitively, pages and API alike."""
    client = sign_in(vault)
    create(client, "Groceries", "milk")
    create(client, "Taxes", "100% done")
    page = client.get(f"{BASE}/notes", query_string={"q": "MILK"}).get_data(as_text=True)
    assert "Groceries" in page and "Taxes" not in page
    page = client.get(f"{BASE}/notes", query_string={"q": "%"}).get_data(as_text=True)
    assert "Taxes" in page and "Groceries" not in page


def test_search_looks_through_a_bounded_number_of_notes(
    vault: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search decrypts at most SEARCH_SCAN_LIMIT notes, the most recent first."""
    client = sign_in(vault)
    old = create(client, "Old needle", "")
    for i in range(3):
        create(client, f"Newer {i}", "")
    monkeypatch.setattr(models, "SEARCH_SCAN_LIMIT", 3)
    with vault.app_context():
        ann = get_db().scalars(select(User).where(User.email == "ann@example.com")).one()
        assert search_notes(get_db(), ann, "needle") == []
        monkeypatch.setattr(models, "SEARCH_SCAN_LIMIT", 4)
        assert [n.id for n in search_notes(get_db(), ann, "needle")] == [old]


def test_body_moved_to_another_note_is_a_safe_500(vault: Flask) -> None:
    """A body copied in the database from Ann's note into Bob's does not decrypt: Bob's
    note answers the safe 500 page, without Ann's text, and the signal names the row."""
    ann_note = create(sign_in(vault), "Ann's", "ann's secret")
    bob = sign_in(vault, "bob@example.com")
    bob_note = create(bob, "Bob's", "bob's text")
    with vault.app_context():
        db = get_db()
        db.execute(
            text("UPDATE notes SET body = (SELECT body FROM notes WHERE id = :a) WHERE id = :b"),
            {"a": ann_note, "b": bob_note},
        )
        db.commit()
    sent: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **kw: t.Any) -> None:
        sent.append(kw)

    with signals.decryption_failed.connected_to(receiver):
        response = bob.get(f"{BASE}/notes/{bob_note}")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret" not in page and "Traceback" not in page
    assert [(s["table"], s["column"], s["row_id"]) for s in sent] == [("notes", "body", bob_note)]
    assert sign_in(vault).get(f"{BASE}/notes/{ann_note}").status_code == 200


def test_rotate_keys_moves_notes_and_totp_secrets(
    vault: Flask, make_app: Callable[..., Flask]
) -> None:
    """With a new key first, rotate-keys re-encrypts every note title, body and TOTP
    secret; then the new key alone opens them."""
    client = sign_in(vault)
    ids = [create(client, f"Note {i}", f"body {i}") for i in range(5)]
    old_key = vault.config["BASTION_CRYPTO_KEYS"][0]
    with vault.app_context():
        enrol_totp(get_db().scalars(select(User).where(User.email == "bob@example.com")).one())
    fresh = new_key()
    both = make_app(DATABASE_URL=vault.config["DATABASE_URL"], BASTION_CRYPTO_KEYS=[fresh, old_key])
    dry = both.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--dry-run"])
    assert "notes.body: 5 to re-encrypt" in dry.output, dry.output
    result = both.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    for line in ("notes.title: 5 re-encrypted", "notes.body: 5 re-encrypted", "totp: 1 re"):
        assert line in result.output
    after = make_app(DATABASE_URL=vault.config["DATABASE_URL"], BASTION_CRYPTO_KEYS=[fresh])
    with after.app_context():
        assert sorted(n.body for n in get_db().scalars(select(Note))) == [
            f"body {i}" for i in range(5)
        ]
    assert stored(after, ids[0])[0].split(".")[1] == keyring_for(after).current_id
