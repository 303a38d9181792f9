"""Attacks on Vault's attachment downloads: hostile stored types and names, and signed
links moved to another file or replayed after the file is gone."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from sqlalchemy import select
from test_attachments import attach, download_links
from test_attachments import clamd as clamd
from test_attachments import vault as vault
from test_notes import BASE, PASSWORD, add_user, create, sign_in

from flask_bastion.uploads import DOWNLOAD_HEADERS
from vault.db import get_db
from vault.models import Attachment


def stored_as(app: Flask, **fields: t.Any) -> None:
    """Change the one attachment row, as a row written by another tool (an import, an
    older version, a database edit) could hold it: the upload pipeline is not in the way."""
    with app.app_context():
        db = get_db()
        row = db.scalars(select(Attachment)).one()
        for name, value in fields.items():
            setattr(row, name, value)
        db.commit()


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "image/svg+xml", "application/xhtml+xml", "text/html; charset=utf-7"],
    ids=["html", "svg", "xhtml", "html-utf7"],
)
def test_hostile_stored_type_is_still_a_sandboxed_download(vault: Flask, content_type: str) -> None:
    """A row whose type would render as a page is served as an attachment that no browser
    shows inline, sniffs, or runs scripts in."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello <b>x</b>", "a.txt")
    stored_as(vault, content_type=content_type, name="page.html")
    [link] = download_links(client, note_id)
    response = client.get(BASE + link)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    for header, value in DOWNLOAD_HEADERS.items():
        assert response.headers.getlist(header) == [value]


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ('a".txt', 'attachment; filename="a\\".txt"'),
        (
            'naïve "q";.txt',
            'attachment; filename="naive \\"q\\";.txt"; '
            "filename*=UTF-8''na%C3%AFve%20%22q%22%3B.txt",
        ),
        ("a\r\nSet-Cookie: x=1.txt", 'attachment; filename="a__Set-Cookie: x=1.txt"'),
        ("a\u202egnp.exe", "attachment; filename=a_gnp.exe"),
        ("../../etc/passwd", "attachment; filename=.._.._etc_passwd"),
        (" \r\n ", "attachment; filename=download"),
        ("_", "attachment; filename=_"),
    ],
    ids=[
        "quote",
        "non-ascii-quote-semicolon",
        "crlf",
        "bidi-override",
        "path",
        "only-controls",
        "underscore-kept",
    ],
)
def test_stored_name_cannot_break_content_disposition(
    vault: Flask, name: str, disposition: str
) -> None:
    """Quotes, semicolons and non-ASCII are quoted; line breaks, format characters and path
    separators in a stored name become ``_`` (not a 500, not a second header)."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello", "a.txt")
    stored_as(vault, name=name)
    [link] = download_links(client, note_id)
    response = client.get(BASE + link)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == disposition
    assert "x=1" not in response.headers.get("Set-Cookie", "")


def test_link_moved_to_another_attachment_or_note_is_refused(vault: Flask) -> None:
    """A signed link names one note and one attachment: another attachment's ID in the same
    query, or another note's path, does not verify."""
    client = sign_in(vault)
    note_id = create(client)
    other_note = create(client)
    attach(client, note_id, b"one", "a.txt")
    attach(client, other_note, b"two", "b.txt")
    [first] = download_links(client, note_id)
    [second] = download_links(client, other_note)
    path, _, query = first.partition("?")
    second_path = second.partition("?")[0]
    assert client.get(f"{BASE}{second_path}?{query}").status_code == 403
    moved = path.replace(f"/notes/{note_id}/", f"/notes/{other_note}/")
    assert client.get(f"{BASE}{moved}?{query}").status_code == 403


def test_link_replayed_after_the_attachment_is_deleted_is_gone(vault: Flask) -> None:
    """A link outlives neither the attachment nor its file: after deletion it is a 404."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello", "a.txt")
    [link] = download_links(client, note_id)
    with vault.app_context():
        row_id = get_db().scalars(select(Attachment)).one().id
    client.post(f"{BASE}/notes/{note_id}/attachments/{row_id}/delete")
    assert client.get(BASE + link).status_code == 404


def test_link_opened_signed_out_is_refused(vault: Flask) -> None:
    """A link bound to its user does not open for an anonymous holder (a leaked link)."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello", "a.txt")
    [link] = download_links(client, note_id)
    anonymous = vault.test_client()
    response = anonymous.get(BASE + link, headers={"Sec-Fetch-Site": "none"})
    assert response.status_code in (302, 303, 403)
    assert b"hello" not in response.data


def test_link_bound_to_a_deleted_account_does_not_open_for_the_next_account(
    vault: Flask,
) -> None:
    """The next account never gets a deleted account's ID (AUTOINCREMENT on SQLite), so a
    link bound to the old account does not verify for it; and the note and its shares
    went with the old account anyway."""
    with vault.app_context():
        carol_id = add_user("carol@example.com")
    carol = sign_in(vault, "carol@example.com")
    ann = sign_in(vault)
    shared_note = create(ann)
    attach(ann, shared_note, b"ann's", "a.txt")
    ann.post(
        f"{BASE}/notes/{shared_note}/share", data={"email": "carol@example.com", "access": "read"}
    )
    own_note = create(carol)
    attach(carol, own_note, b"carol's", "c.txt")
    links = download_links(carol, shared_note) + download_links(carol, own_note)
    assert [carol.get(BASE + link).status_code for link in links] == [200, 200]
    carol.post(f"{BASE}/account/delete", data={"current_password": PASSWORD})
    with vault.app_context():
        reused = add_user("dave@example.com")
    assert reused != carol_id
    dave = sign_in(vault, "dave@example.com")
    # Bound to another user: the signed URL itself is refused.
    assert [dave.get(BASE + link).status_code for link in links] == [403, 403]
