"""Note attachments: uploads through the pipeline, signed downloads, deletion of files."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import sys
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from test_notes import BASE, PASSWORD, add_user, create, sign_in

from flask_bastion import signals
from flask_bastion.crypto import new_key, rotations_for
from flask_bastion.uploads import DOWNLOAD_HEADERS, REASON_EXECUTABLE, REASON_MALWARE
from vault.db import get_db, init_db
from vault.models import Attachment

_spec = importlib.util.spec_from_file_location(
    "bastion_test_clamav", Path(__file__).parents[3] / "tests" / "clamav.py"
)
assert _spec is not None and _spec.loader is not None
clamav = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = clamav
_spec.loader.exec_module(clamav)


@pytest.fixture(scope="module")
def clamd() -> Iterator[t.Any]:
    if not clamav.clamd_available():
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("clamd is not installed but BASTION_REQUIRE_SERVICES=1")
        pytest.skip("clamd is not installed (Debian's clamav-daemon)")
    yield from clamav.start_private_clamd()


@pytest.fixture
def vault(make_app: Callable[..., Flask], clamd: t.Any, tmp_path: Path) -> Flask:
    app = make_app(
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_UPLOADS_CLAMD_URL=clamd.unix_url,
        BASTION_UPLOADS_FOLDER=str(tmp_path / "uploads"),
    )
    with app.app_context():
        init_db()
        add_user("ann@example.com")
        add_user("bob@example.com")
    return app


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(out, "PNG")
    return out.getvalue()


def attach(client: FlaskClient, note_id: str, data: bytes, name: str) -> t.Any:
    return client.post(
        f"{BASE}/notes/{note_id}/attachments", data={"file": (io.BytesIO(data), name)}
    )


def files_on_disk(tmp_path: Path) -> list[Path]:
    root = tmp_path / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def rows(app: Flask) -> list[Attachment]:
    with app.app_context():
        return list(get_db().scalars(select(Attachment)))


def download_links(client: FlaskClient, note_id: str) -> list[str]:
    page = client.get(f"{BASE}/notes/{note_id}").get_data(as_text=True)
    return [
        link.replace("&amp;", "&")
        for link in re.findall(r'href="(/notes/[^"]+/attachments/[^"]+)"', page)
    ]


def test_upload_listed_and_downloaded(vault: Flask, tmp_path: Path) -> None:
    """An attachment is stored encrypted, listed on the note and downloaded through its
    signed link as an attachment that never renders."""
    client = sign_in(vault)
    note_id = create(client)
    response = attach(client, note_id, b"minutes of the meeting", "minutes.txt")
    assert response.status_code == 303
    [row] = rows(vault)
    assert row.name == "minutes.txt" and row.content_type == "text/plain"
    [path] = files_on_disk(tmp_path)
    assert b"minutes" not in path.read_bytes()
    [link] = download_links(client, note_id)
    assert "signature=" in link and "bound=1" in link
    download = client.get(BASE + link)
    assert download.status_code == 200
    assert download.data == b"minutes of the meeting"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "text/plain"
    for header, value in DOWNLOAD_HEADERS.items():
        assert download.headers[header] == value


def test_download_needs_signed_link(vault: Flask) -> None:
    """The download URL without its signature, or with another user, is refused."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello", "a.txt")
    [link] = download_links(client, note_id)
    bare = link.split("?", 1)[0]
    assert client.get(BASE + bare).status_code == 403
    bob = sign_in(vault, "bob@example.com")
    assert bob.get(BASE + link).status_code == 403


def test_download_checks_read_again(vault: Flask) -> None:
    """A link made under a share dies with the share."""
    ann = sign_in(vault)
    note_id = create(ann)
    attach(ann, note_id, b"hello", "a.txt")
    ann.post(f"{BASE}/notes/{note_id}/share", data={"email": "bob@example.com", "access": "read"})
    bob = sign_in(vault, "bob@example.com")
    [link] = download_links(bob, note_id)
    assert bob.get(BASE + link).status_code == 200
    ann.post(f"{BASE}/notes/{note_id}/share", data={"revoke": "2"})  # bob is user 2
    assert bob.get(BASE + link).status_code == 404


def test_read_share_cannot_upload(vault: Flask, tmp_path: Path) -> None:
    """A read share may download but not attach."""
    ann = sign_in(vault)
    note_id = create(ann)
    ann.post(f"{BASE}/notes/{note_id}/share", data={"email": "bob@example.com", "access": "read"})
    bob = sign_in(vault, "bob@example.com")
    assert attach(bob, note_id, b"hello", "a.txt").status_code == 404
    assert files_on_disk(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "name", "status", "reason"),
    [
        pytest.param(clamav.EICAR, "eicar.txt", 422, REASON_MALWARE, id="eicar"),
        pytest.param(b"<svg onload=alert(1)>", "a.svg", 415, None, id="svg"),
        pytest.param(b"<html><script>x</script>", "a.png", 415, REASON_EXECUTABLE, id="html"),
    ],
)
def test_hostile_attachment_refused_on_the_page(
    vault: Flask, tmp_path: Path, data: bytes, name: str, status: int, reason: str | None
) -> None:
    """A refused file re-renders the note with the reason and its status; nothing stays."""
    client = sign_in(vault)
    note_id = create(client)
    seen: list[str] = []

    def record(sender: Flask, **kw: t.Any) -> None:
        seen.append(kw["reason"])

    with signals.upload_refused.connected_to(record), signals.malware_found.connected_to(record):
        response = attach(client, note_id, data, name)
    assert response.status_code == status
    assert 'role="alert"' in response.get_data(as_text=True)
    assert len(seen) == 1 and (reason is None or seen == [reason])
    assert rows(vault) == [] and files_on_disk(tmp_path) == []


def test_remove_attachment(vault: Flask, tmp_path: Path) -> None:
    """Removing an attachment deletes its row and file."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, png(), "a.png")
    [row] = rows(vault)
    response = client.post(f"{BASE}/notes/{note_id}/attachments/{row.id}/delete")
    assert response.status_code == 303
    assert rows(vault) == [] and files_on_disk(tmp_path) == []


def test_deleting_note_removes_files(vault: Flask, tmp_path: Path) -> None:
    """Deleting a note deletes its attachments' rows and files."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"one", "a.txt")
    attach(client, note_id, b"two", "b.txt")
    assert len(files_on_disk(tmp_path)) == 2
    assert client.post(f"{BASE}/notes/{note_id}/delete").status_code == 303
    assert rows(vault) == [] and files_on_disk(tmp_path) == []


def test_deleting_account_removes_files(vault: Flask, tmp_path: Path) -> None:
    """Deleting an account deletes the files of its notes."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"one", "a.txt")
    bob = sign_in(vault, "bob@example.com")
    attach(bob, create(bob), b"bob's", "b.txt")
    response = client.post(f"{BASE}/account/delete", data={"current_password": PASSWORD})
    assert response.status_code in (200, 303)
    assert rows(vault)[0].name == "b.txt"
    assert len(files_on_disk(tmp_path)) == 1


def test_attachments_rotate(vault: Flask, make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """rotate-keys re-encrypts the attachments (file names and contents) under a new key;
    then the new key alone opens them."""
    client = sign_in(vault)
    note_id = create(client)
    attach(client, note_id, b"hello", "a.txt")
    with vault.app_context():
        assert sum(rotations_for(vault)["uploads"].usage().values()) == 1
    same = {
        "DATABASE_URL": vault.config["DATABASE_URL"],
        "BASTION_UPLOADS_FOLDER": str(tmp_path / "uploads"),
        "SECRET_KEY": vault.config["SECRET_KEY"],
        "TRUSTED_HOSTS": ["localhost"],
        "BASTION_SESSIONS_STORE": "memory",
    }
    fresh, old = new_key(), vault.config["BASTION_CRYPTO_KEYS"][0]
    both = make_app(**same, BASTION_CRYPTO_KEYS=[fresh, old])
    result = both.test_cli_runner().invoke(args=["bastion", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "uploads: 1 re-encrypted" in result.output
    assert "attachments.name: 1 re-encrypted" in result.output
    after = make_app(**same, BASTION_CRYPTO_KEYS=[fresh])
    reader = sign_in(after)
    [link] = download_links(reader, note_id)
    assert reader.get(BASE + link).data == b"hello"


def test_markup_name_is_text(vault: Flask) -> None:
    """A name full of markup shows as text on the note's page."""
    client = sign_in(vault)
    note_id = create(client)
    assert attach(client, note_id, b"hello", "<img src=x onerror=alert(1)>.txt").status_code == 303
    page = client.get(f"{BASE}/notes/{note_id}").get_data(as_text=True)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page
