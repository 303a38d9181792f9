"""Attacks on the text of Vault's notes: a lone surrogate (valid JSON, not storable), a
bidirectional override in a title, control characters, and Unicode that should compare
equal after normalisation."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from test_notes import BASE, any_vault, create, notes, sign_in, token

from vault.models import TITLE_MAX

__all__ = ["any_vault"]  # the fixture, used by name below


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("title", "\ud800", id="lone-surrogate-title"),
        pytest.param("body", "x\udfff", id="lone-surrogate-body"),
        pytest.param("title", "invoice\u202egnp.exe", id="bidi-override-title"),
        pytest.param("title", "two\nlines", id="line-break-in-title"),
        pytest.param("body", "bell\x07", id="control-in-body"),
    ],
)
def test_api_refuses_text_it_cannot_store_or_show_honestly(
    any_vault: Flask, field: str, value: str
) -> None:
    """A 422 problem naming the field, never a 500 from the database or the cipher."""
    response = any_vault.test_client().post(
        f"{BASE}/api/v1/notes",
        data=json.dumps({"title": "t", field: value}),  # a surrogate as "\\ud800"
        headers={**token(any_vault), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("title", "body"),
    [
        pytest.param("invoice\u202egnp.exe", "", id="bidi-override-title"),
        pytest.param("two\r\nlines", "", id="line-break-in-title"),
        pytest.param("t", "escape\x1b[2J", id="terminal-escape-in-body"),
    ],
)
def test_the_note_form_refuses_hostile_text(any_vault: Flask, title: str, body: str) -> None:
    """The HTML form applies the same rules: a 422 page, nothing stored."""
    client = sign_in(any_vault)
    response = client.post(f"{BASE}/notes/new", data={"title": title, "body": body})
    assert response.status_code == 422
    assert notes(any_vault) == []


def test_note_text_is_stored_normalised(any_vault: Flask) -> None:
    """``é`` typed as ``e`` and a combining accent is stored as one code point, so a
    search for it finds it whichever way it is typed."""
    client = sign_in(any_vault)
    create(client, "Cafe\u0301", "cre\u0300me")
    [note] = notes(any_vault)
    assert (note.title, note.body) == ("Caf\u00e9", "cr\u00e8me")


def test_title_length_is_measured_as_stored(any_vault: Flask) -> None:
    """A title of TITLE_MAX characters that NFC makes three times longer is refused."""
    client = sign_in(any_vault)
    response = client.post(f"{BASE}/notes/new", data={"title": "\ufb2c" * TITLE_MAX})
    assert response.status_code == 422
    api = any_vault.test_client().post(
        f"{BASE}/api/v1/notes", json={"title": "\ufb2c" * TITLE_MAX}, headers=token(any_vault)
    )
    assert api.status_code == 422
    assert notes(any_vault) == []
