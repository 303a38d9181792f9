"""Attacks on encryption at rest and the operator's mistakes with it: a TOTP secret whose
key left the ring, stream headers that lie about their key, and chunked files cut,
reordered or grown."""

from __future__ import annotations

import base64
import io
import os
import typing as t
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from flask_bastion import signals
from flask_bastion.context import get_state
from flask_bastion.crypto import (
    KEYRING_INFO,
    Batch,
    DecryptionFailed,
    EncryptedText,
    FolderRotation,
    KeyRing,
    PrimaryKeyUnknown,
    column_rotations,
    keyring_for,
    rotations_for,
    stream_key_id,
    streams,
)
from flask_bastion.crypto.rotation import UNKNOWN_KEY
from flask_bastion.uploads import send_upload

from .accounts_helpers import Site, make_site
from .conftest import HTTPS
from .test_crypto_columns import Base, Doc
from .test_crypto_rotation import NEW, OLD, db_url, docs_app, engine, key_ids, kid, seed
from .test_mfa_flow import code, half_signed_in, verify
from .upload_files import post, upload_app

__all__ = ["db_url", "engine"]  # fixtures


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()


def _drop_keys(site: Site) -> None:
    """The operator replaces the ring's keys without rotating first."""
    component = get_state(site.app).components["crypto"]
    component._ring = KeyRing([os.urandom(32)])  # type: ignore[attr-defined]


def test_a_totp_secret_whose_key_is_gone_is_reported(site: Site) -> None:
    """Sign-in with a second factor sealed under a removed key: the safe 500 page, and
    the decryption_failed signal naming the table and the user, never the secret."""
    client, secret, _ = half_signed_in(site)
    _drop_keys(site)
    received: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **extra: t.Any) -> None:
        received.append(extra)

    with signals.decryption_failed.connected_to(receiver):
        response = verify(client, code(site, secret))
    assert response.status_code == 500
    assert b"Stored data could not be read" in response.data
    assert secret.encode() not in response.data
    assert len(received) == 1
    details = received[0]
    assert details["column"] == "secret_encrypted"
    assert secret not in repr(details)


def _forged_stream(token: bytes) -> bytes:
    """A stream header carrying ``token`` as its wrapped key, and an empty final chunk."""
    header = streams._FIXED.pack(streams.MAGIC, streams.VERSION, 1024, bytes(7), len(token))
    return header + token + bytes(16)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(b"v1.\x1b[2J\x1b[1;.x", id="terminal-escape"),
        pytest.param(b"xx.00000000.AAAA", id="other-version"),
        pytest.param(b"v1.0000000.AAAA", id="short-id"),
    ],
)
def test_a_forged_stream_header_names_no_key(tmp_path: Path, token: bytes) -> None:
    """A header whose token is malformed has no key ID: counted as unknown, so the
    dry run never prints what the file holds."""
    (tmp_path / "f.bin").write_bytes(_forged_stream(token))
    with pytest.raises(DecryptionFailed), (tmp_path / "f.bin").open("rb") as src:
        stream_key_id(src)
    assert FolderRotation(tmp_path, lambda n: b"file:" + n.encode()).usage() == {UNKNOWN_KEY: 1}


def test_a_forged_column_value_names_no_key(engine: sa.Engine) -> None:
    """A stored value with escapes where the key ID goes is counted as unknown."""
    seed(engine, 1, [OLD])
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE docs SET body = :v"), {"v": "v1.\x1b[2J\x1b[H.AAAA"})
    app = docs_app(engine, [NEW, OLD])
    with app.app_context():
        assert rotations_for(app)["docs.body"].usage() == {UNKNOWN_KEY: 1}


def test_two_rotations_at_once_neither_double_encrypt_nor_lose_rows(engine: sa.Engine) -> None:
    """A second run finishing while the first is mid-batch: the first writes nothing over
    it, and every value opens once under the newest key."""
    ids = seed(engine, 6, [OLD])
    app = docs_app(engine, [NEW, OLD])
    with app.app_context():
        ring = keyring_for(app)
        first_db, second_db = Session(engine), Session(engine)
        mappers = Base.registry.mappers
        first = column_rotations(mappers, lambda: first_db)["docs.body"]
        second = column_rotations(mappers, lambda: second_db)["docs.body"]
        done: list[Batch] = []

        class Racing(KeyRing):
            def rotate(self, token: str, *, context: bytes = b"") -> str:
                if not done:  # the other run goes right through, mid-batch of this one
                    done.extend(second.rotate(ring, 100))
                return ring.rotate(token, context=context)

        racing = Racing.__new__(Racing)
        racing.__dict__.update(ring.__dict__)
        batches = list(first.rotate(racing, 100))
        first_db.close()
        second_db.close()
    assert [b.rotated for b in done] == [6]
    assert [(b.seen, b.rotated) for b in batches] == [(6, 0)]
    assert set(key_ids(engine)) == {kid(NEW)}
    with app.app_context(), Session(engine) as db:
        assert sorted(t.cast(Doc, db.get(Doc, i)).body for i in ids) == [
            f"body {i}" for i in range(6)
        ]


class KeyBase(DeclarativeBase):
    pass


class Fixed(KeyBase):
    """A fixed-width key: PostgreSQL pads it with spaces."""

    __tablename__ = "attack_fixed_keys"
    id: Mapped[str] = mapped_column(sa.CHAR(8), primary_key=True)
    body: Mapped[str] = mapped_column(EncryptedText())


class Uid(KeyBase):
    """A UUID key given as text: it comes back in lower case with hyphens."""

    __tablename__ = "attack_uuid_keys"
    id: Mapped[str] = mapped_column(sa.Uuid(as_uuid=False), primary_key=True)
    body: Mapped[str] = mapped_column(EncryptedText())


class Money(KeyBase):
    """A decimal key with a scale: ``5`` comes back as ``5.00``."""

    __tablename__ = "attack_decimal_keys"
    id: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), primary_key=True)
    body: Mapped[str] = mapped_column(EncryptedText())


UID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def key_db(db_url: str) -> Iterator[Session]:
    engine = sa.create_engine(db_url)
    KeyBase.metadata.drop_all(engine)
    KeyBase.metadata.create_all(engine)
    with Session(engine, info={KEYRING_INFO: KeyRing([bytes(32)])}) as db:
        yield db
    KeyBase.metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.parametrize(
    ("model", "given", "stored"),
    [
        pytest.param(Fixed, "abc", "abc     ", id="char-padded"),
        pytest.param(Uid, UID.upper(), UID, id="uuid-capitals"),
        pytest.param(Uid, UID.replace("-", ""), UID, id="uuid-without-hyphens"),
        pytest.param(Money, 5, Decimal("5.00"), id="numeric-scale"),
    ],
)
def test_a_key_the_database_respells_is_refused(
    key_db: Session, model: type[t.Any], given: t.Any, stored: t.Any
) -> None:
    """A value sealed to the key as given would never open under the key as loaded: the
    insert is refused; the key in the database's own spelling round-trips."""
    key_db.add(model(id=given, body="secret"))
    with pytest.raises(PrimaryKeyUnknown, match="read back as"):
        key_db.flush()
    key_db.rollback()
    key_db.add(model(id=stored, body="secret"))
    key_db.commit()
    key_db.expunge_all()
    assert key_db.scalars(sa.select(model)).one().body == "secret"


def _download_app(tmp_path: Path) -> Flask:
    app = upload_app(tmp_path)

    @app.get("/download/<path:name>")
    def download(name: str) -> t.Any:
        return send_upload(name, content_type="text/plain", download_name="a.txt")

    return app


def test_a_stored_file_swapped_for_another_is_reported(tmp_path: Path) -> None:
    """A file copied over another user's stored name does not open there: the safe 500
    page and the decryption_failed signal naming the stored file, not a traceback."""
    app = _download_app(tmp_path)
    mine = post(app, (b"my own file", "a.txt")).get_json()[0]["name"]
    theirs = post(app, (b"their secret file", "b.txt")).get_json()[0]["name"]
    folder = tmp_path / "store"
    (folder / theirs).write_bytes((folder / mine).read_bytes())
    received: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **extra: t.Any) -> None:
        received.append(extra)

    with signals.decryption_failed.connected_to(receiver):
        response = app.test_client().get(f"/download/{theirs}", base_url=HTTPS)
    assert response.status_code == 500
    assert b"my own file" not in response.data
    assert [r["row_id"] for r in received] == [theirs]


def test_a_stored_file_cut_short_is_reported_when_the_download_reaches_the_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The chunks before the cut are authentic and sent; the missing end breaks the
    transfer and writes the security log line naming the file."""
    app = _download_app(tmp_path)
    name = post(app, (b"x" * (streams.CHUNK_SIZE + 500), "a.txt")).get_json()[0]["name"]
    path = tmp_path / "store" / name
    path.write_bytes(path.read_bytes()[:-100])
    response = app.test_client().get(f"/download/{name}", base_url=HTTPS, buffered=False)
    assert response.status_code == 200  # the headers left before the end was read
    with pytest.raises(DecryptionFailed):
        b"".join(response.response)
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "crypto.decryption_failed"]
    assert line.row_id == name


def test_a_file_deleted_during_its_rotation_stays_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attachment removed while rotate-keys re-encrypts it is not renamed back into
    place, and no temporary file is left."""
    old = KeyRing([bytes(range(32))])
    path = tmp_path / "f.bin"
    with path.open("wb") as dst:
        streams.encrypt_stream(io.BytesIO(b"gone soon"), dst, context=b"f", ring=old)
    real = streams.encrypt_stream

    def deleting(*args: t.Any, **kwargs: t.Any) -> int:
        path.unlink()  # the user removes the attachment meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(streams, "encrypt_stream", deleting)
    with pytest.raises(FileNotFoundError):
        streams.rotate_file(
            path, context=b"f", ring=KeyRing([bytes(range(32, 64)), *[bytes(range(32))]])
        )
    assert list(tmp_path.iterdir()) == []


def test_a_stored_file_that_does_not_decrypt_is_named_by_rotate_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rotate-keys says the security log names each value left: for a file swapped over
    another's name, it does; the readable one is rotated."""
    app = upload_app(tmp_path, BASTION_CRYPTO_KEYS=[OLD])
    mine = post(app, (b"mine", "a.txt")).get_json()[0]["name"]
    theirs = post(app, (b"theirs", "b.txt")).get_json()[0]["name"]
    folder = tmp_path / "store"
    (folder / theirs).write_bytes((folder / mine).read_bytes())
    ring = KeyRing([os.urandom(32), base64.urlsafe_b64decode(OLD + "=")])
    with app.app_context():
        batches = list(rotations_for(app)["uploads"].rotate(ring, 10))
    assert [(b.rotated, b.unreadable) for b in batches] == [(1, 1)]
    lines = [r for r in caplog.records if getattr(r, "event", "") == "crypto.decryption_failed"]
    found = [(r.__dict__["table"], r.__dict__["column"], r.__dict__["row_id"]) for r in lines]
    assert found == [("uploads", "file", theirs)]
