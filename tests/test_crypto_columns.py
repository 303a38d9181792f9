"""Encrypted columns: values sealed to their table, column and row, opened on load; a
moved, edited or orphaned value is one clean error; plaintext never reaches SQL. On
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import secrets
import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from flask_bastion import signals
from flask_bastion.crypto import (
    KEYRING_INFO,
    Ciphertext,
    DecryptionFailed,
    EncryptedBytes,
    EncryptedText,
    KeyRing,
    PlaintextRefused,
    PrimaryKeyUnknown,
    UnreadableValue,
    column_context,
    keyring_for,
)

from .conftest import HTTPS, make_app

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()


class Base(DeclarativeBase):
    pass


def new_id() -> str:
    return secrets.token_urlsafe(9)


class Doc(Base):
    __tablename__ = "docs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(sa.String(32), default="ann")
    body: Mapped[str] = mapped_column(EncryptedText(), default="")
    blob: Mapped[bytes | None] = mapped_column(EncryptedBytes(), nullable=True)
    note: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)


class Counted(Base):
    """A table whose key the database assigns: too late to bind values to it."""

    __tablename__ = "counted"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    body: Mapped[str] = mapped_column(EncryptedText())


class Pair(Base):
    """A composite key set in Python."""

    __tablename__ = "pairs"

    a: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    b: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedText())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: t.Any) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/docs.sqlite3"
    else:
        url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app() -> Flask:
    return make_app(BASTION_CRYPTO_KEYS=[KEY])


@pytest.fixture
def db(app: Flask, engine: sa.Engine) -> Iterator[Session]:
    with app.app_context(), Session(engine, expire_on_commit=False) as session:
        yield session


def raw(db: Session, table: str, column: str, key: str) -> t.Any:
    """The column's stored text, bypassing the type."""
    statement = sa.text(f"SELECT {column} FROM {table} WHERE id = :id")  # noqa: S608 - test names
    return db.connection().execute(statement, {"id": key}).scalar()


def add(db: Session, **values: t.Any) -> Doc:
    doc = Doc(**values)
    db.add(doc)
    db.commit()
    return doc


def test_round_trip(db: Session) -> None:
    """Text and bytes come back equal after a commit and a fresh load."""
    doc = add(db, body="Grüße, Welt", blob=b"\x00\xff binary")
    db.expunge_all()
    again = db.get(Doc, doc.id)
    assert again is not None
    assert (again.body, again.blob, again.note) == ("Grüße, Welt", b"\x00\xff binary", None)
    assert type(again.body) is str and type(again.blob) is bytes


def test_stored_value_is_a_token(db: Session) -> None:
    """The database holds a key ring token under the newest key, never the plaintext."""
    doc = add(db, body="the launch code is 0000")
    stored = raw(db, "docs", "body", doc.id)
    assert stored.startswith(f"v1.{keyring_for(make_app(BASTION_CRYPTO_KEYS=[KEY])).current_id}.")
    assert "launch" not in stored


def test_attribute_stays_plaintext_after_flush(db: Session) -> None:
    """After a flush and a commit the object still holds the plaintext, as a plain str,
    and is not dirty."""
    doc = add(db, body="hello")
    assert doc.body == "hello" and type(doc.body) is str
    assert not db.dirty


def test_context_names_table_column_and_row(db: Session) -> None:
    """The token opens with the context of its table, column and row only."""
    doc = add(db, body="x")
    ring = keyring_for(make_app(BASTION_CRYPTO_KEYS=[KEY]))
    token = raw(db, "docs", "body", doc.id)
    assert ring.decrypt(token, context=column_context("docs", "body", [doc.id])) == b"x"
    for context in (
        column_context("docs", "note", [doc.id]),
        column_context("other", "body", [doc.id]),
        column_context("docs", "body", ["another-row"]),
    ):
        with pytest.raises(DecryptionFailed):
            ring.decrypt(token, context=context)


def test_update_reseals_only_changed_columns(db: Session) -> None:
    """Changing one encrypted attribute rewrites its token; the others keep theirs."""
    doc = add(db, body="one", note="kept")
    before_body, before_note = raw(db, "docs", "body", doc.id), raw(db, "docs", "note", doc.id)
    doc.body = "two"
    db.commit()
    assert raw(db, "docs", "body", doc.id) != before_body
    assert raw(db, "docs", "note", doc.id) == before_note
    db.expunge_all()
    assert db.get(Doc, doc.id).body == "two"  # type: ignore[union-attr]


def _swap(db: Session, column: str, source: str, target: str) -> None:
    db.connection().execute(
        sa.text(
            f"UPDATE docs SET {column} = (SELECT {column} FROM docs WHERE id = :s) "  # noqa: S608
            "WHERE id = :t"
        ),
        {"s": source, "t": target},
    )
    db.commit()


def test_value_copied_to_another_row_does_not_open(db: Session) -> None:
    """A token copied into another row raises UnreadableValue on load, with a signal
    naming the table, column and row (and not the value)."""
    victim = add(db, body="victim's secret")
    mallory = add(db, body="mine", owner="mallory")
    _swap(db, "body", victim.id, mallory.id)
    db.expunge_all()
    sent: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **kw: t.Any) -> None:
        sent.append(kw)

    with signals.decryption_failed.connected_to(receiver), pytest.raises(UnreadableValue) as info:
        db.get(Doc, mallory.id)
    assert sent == [
        {
            "reason": sent[0]["reason"],
            "status": 500,
            "table": "docs",
            "column": "body",
            "row_id": mallory.id,
        }
    ]
    assert isinstance(info.value, DecryptionFailed)
    assert "victim" not in str(info.value)


def test_value_copied_to_another_column_does_not_open(db: Session) -> None:
    """A token copied from body into note (same row) does not open either."""
    doc = add(db, body="secret", note="n")
    db.connection().execute(sa.text("UPDATE docs SET note = body WHERE id = :i"), {"i": doc.id})
    db.commit()
    db.expunge_all()
    with pytest.raises(UnreadableValue):
        db.get(Doc, doc.id)


def test_value_under_a_removed_key_is_one_clean_error(app: Flask, engine: sa.Engine) -> None:
    """Loading a row sealed under a key gone from the ring raises UnreadableValue."""
    with app.app_context(), Session(engine, expire_on_commit=False) as db:
        doc_id = add(db, body="old").id
    later = make_app(BASTION_CRYPTO_KEYS=[OTHER_KEY])
    with later.app_context(), Session(engine) as db, pytest.raises(UnreadableValue):
        db.get(Doc, doc_id)


def test_unreadable_row_in_a_view_is_a_safe_500(app: Flask, engine: sa.Engine) -> None:
    """A view that loads a tampered row answers the safe 500 page: no traceback, no
    token, no key ID."""
    with app.app_context(), Session(engine, expire_on_commit=False) as db:
        a, b = add(db, body="a"), add(db, body="b")
        _swap(db, "body", a.id, b.id)
        token = raw(db, "docs", "body", b.id)

    @app.get("/doc/<key>")
    def show(key: str) -> str:
        with Session(engine) as db:
            doc = db.get(Doc, key)
            return doc.body if doc else ""

    response = app.test_client().get(
        f"/doc/{b.id}", base_url=HTTPS, headers={"Accept": "text/html"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "could not be read" in page
    assert "Traceback" not in page and token[:12] not in page and "docs" not in page


def test_plaintext_is_refused_in_core_statements(db: Session) -> None:
    """A Core UPDATE, an ORM bulk UPDATE and a WHERE comparison on an encrypted column
    raise PlaintextRefused rather than store or compare clear text."""
    doc = add(db, body="x")
    for statement in (
        sa.update(Doc).where(Doc.id == doc.id).values(body="clear"),
        sa.insert(Doc).values(id="new", owner="o", body="clear"),
        sa.select(Doc).where(Doc.body == "x"),
    ):
        with pytest.raises(sa.exc.StatementError) as info:
            db.execute(statement)
        assert isinstance(info.value.orig, PlaintextRefused)
        db.rollback()


def test_column_query_returns_ciphertext(db: Session) -> None:
    """select(Doc.body) gives Ciphertext objects, never something that passes for text."""
    doc = add(db, body="x")
    value = db.scalar(sa.select(Doc.body).where(Doc.id == doc.id))
    assert isinstance(value, Ciphertext) and value.token == raw(db, "docs", "body", doc.id)
    assert "x" not in repr(value)[20:]


def test_primary_key_from_python_default(db: Session) -> None:
    """A key from a Python default is drawn before sealing and kept."""
    doc = add(db, body="x")
    assert doc.id and len(doc.id) == 12


def test_database_assigned_key_is_refused(db: Session) -> None:
    """An autoincrement key is unknown when values are sealed: a clear error."""
    db.add(Counted(body="x"))
    with pytest.raises(PrimaryKeyUnknown, match=r"counted\.id"):
        db.flush()
    db.rollback()
    db.add(Counted(id=7, body="x"))  # given in Python: fine
    db.commit()
    db.expunge_all()
    assert db.get(Counted, 7).body == "x"  # type: ignore[union-attr]


def test_changing_the_primary_key_is_refused(db: Session) -> None:
    """Renaming a row would orphan its sealed values: refused."""
    doc = add(db, body="x")
    doc.id = "renamed"
    with pytest.raises(PrimaryKeyUnknown):
        db.flush()
    db.rollback()


def test_composite_primary_key(db: Session) -> None:
    """Both parts of a composite key are bound."""
    db.add_all([Pair(a=1, b="x", secret="s1"), Pair(a=1, b="y", secret="s2")])
    db.commit()
    db.expunge_all()
    assert db.get(Pair, (1, "y")).secret == "s2"  # type: ignore[union-attr]
    db.connection().execute(
        sa.text("UPDATE pairs SET secret = (SELECT secret FROM pairs WHERE b = 'x') WHERE b = 'y'")
    )
    db.commit()
    db.expunge_all()
    with pytest.raises(UnreadableValue):
        db.get(Pair, (1, "y"))


def test_wrong_python_type_is_refused(db: Session) -> None:
    """EncryptedText takes str, EncryptedBytes takes bytes."""
    db.add(Doc(body=b"bytes"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Doc\.body takes str"):
        db.flush()
    db.rollback()


def test_expired_attribute_is_opened_on_refresh(db: Session) -> None:
    """An attribute expired by a commit is reloaded and opened."""
    doc = add(db, body="x")
    db.expire(doc)
    assert doc.body == "x"


def test_keyring_from_session_info_without_app(engine: sa.Engine) -> None:
    """Outside an application context, a ring in Session.info seals and opens."""
    ring = KeyRing([bytes(range(32))])
    with Session(engine, info={KEYRING_INFO: ring}, expire_on_commit=False) as db:
        doc = add(db, body="script")
        db.expunge_all()
        assert db.get(Doc, doc.id).body == "script"  # type: ignore[union-attr]


def test_no_app_and_no_ring_is_a_clear_error(engine: sa.Engine) -> None:
    """Without an application context or a ring, flushing says what is missing."""
    with Session(engine) as db:
        db.add(Doc(body="x"))
        with pytest.raises(RuntimeError, match="application context"):
            db.flush()
