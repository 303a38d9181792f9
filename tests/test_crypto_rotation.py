"""Key rotation: ``flask bastion rotate-keys`` moves encrypted columns, TOTP secrets and
registered folders under the newest key, in committed batches; a run stopped halfway is
resumed by the next; values that do not decrypt are reported and fail the command."""

from __future__ import annotations

import base64
import io
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from sqlalchemy.orm import Session

from flask_bastion import Bastion
from flask_bastion.accounts import Accounts, accounts_state
from flask_bastion.crypto import (
    FolderRotation,
    KeyRing,
    column_rotations,
    encrypt_stream,
    keyring_for,
    register_rotation,
    rotations_for,
    stream_key_id,
)
from flask_bastion.crypto import rotation as rotation_module
from flask_bastion.mfa import enrol_totp
from flask_bastion.mfa.models import TotpCredential

from .conftest import OPEN_APPS, SECRET, make_app
from .test_crypto_columns import Base, Doc

OLD = base64.urlsafe_b64encode(bytes(range(32))).decode()
NEW = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()
GONE = base64.urlsafe_b64encode(bytes(range(64, 96))).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rot.sqlite3"
    return t.cast(str, request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def docs_app(engine: sa.Engine, keys: list[str], folder: Path | None = None) -> Flask:
    """An app whose encrypted docs (and optionally files) are registered for rotation."""
    app = make_app(BASTION_CRYPTO_KEYS=keys)

    def session() -> Session:
        if "test_db" not in g:
            g.test_db = Session(engine)
        return t.cast(Session, g.test_db)

    @app.teardown_appcontext
    def close(exc: BaseException | None) -> None:
        db = g.pop("test_db", None)
        if db is not None:
            db.close()

    for name, rotation in column_rotations(Base.registry.mappers, session).items():
        register_rotation(app, name, rotation)
    if folder is not None:
        register_rotation(app, "files", FolderRotation(folder, lambda n: b"file:" + n.encode()))
    return app


def seed(engine: sa.Engine, count: int, keys: list[str]) -> list[str]:
    app = make_app(BASTION_CRYPTO_KEYS=keys)
    with app.app_context(), Session(engine) as db:
        docs = [Doc(body=f"body {i}", note=f"note {i}" if i % 2 else None) for i in range(count)]
        db.add_all(docs)
        db.commit()
        return [d.id for d in docs]


def key_ids(engine: sa.Engine, column: str = "body") -> list[str]:
    with engine.connect() as connection:
        tokens = connection.execute(sa.text(f"SELECT {column} FROM docs")).scalars()  # noqa: S608
        return sorted(token.split(".")[1] for token in tokens if token)


def kid(key: str) -> str:
    return KeyRing([base64.urlsafe_b64decode(key + "=")]).current_id


def test_rotation_moves_every_column(engine: sa.Engine) -> None:
    """rotate-keys re-encrypts body and note of each row under the new key; the rows
    then open with the new key alone."""
    ids = seed(engine, 12, [OLD])
    app = docs_app(engine, [NEW, OLD])
    result = app.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert "docs.body: 12 re-encrypted, 0 left" in result.output
    assert "docs.note: 6 re-encrypted, 0 left" in result.output
    assert set(key_ids(engine)) == set(key_ids(engine, "note")) == {kid(NEW)}
    after = make_app(BASTION_CRYPTO_KEYS=[NEW])
    with after.app_context(), Session(engine) as db:
        assert sorted(d.body for d in db.scalars(sa.select(Doc))) == sorted(
            f"body {i}" for i in range(12)
        )
        assert db.get(Doc, ids[3]).note == "note 3"  # type: ignore[union-attr]


def test_dry_run_counts_and_changes_nothing(engine: sa.Engine) -> None:
    """--dry-run prints, per place, how many values wait and under which key."""
    seed(engine, 4, [OLD])
    seed(engine, 2, [NEW])
    result = (
        docs_app(engine, [NEW, OLD])
        .test_cli_runner()
        .invoke(args=["bastion", "rotate-keys", "--dry-run"])
    )
    assert result.exit_code == 0, result.output
    assert f"docs.body: 4 to re-encrypt ({kid(NEW)} newest: 2, {kid(OLD)}: 4)" in result.output
    assert key_ids(engine).count(kid(OLD)) == 4


def test_dry_run_names_a_key_missing_from_the_ring(engine: sa.Engine) -> None:
    """A value under a key that is not listed is flagged in the dry run."""
    seed(engine, 1, [GONE])
    result = (
        docs_app(engine, [NEW])
        .test_cli_runner()
        .invoke(args=["bastion", "rotate-keys", "--dry-run"])
    )
    assert f"{kid(GONE)} NOT IN THE RING: 1" in result.output


def test_interrupted_run_resumes(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in the second batch keeps the first batch committed and rolls back the
    second; the next run finishes the rest and touches nothing twice."""
    seed(engine, 12, [OLD])
    app = docs_app(engine, [NEW, OLD])
    calls = {"n": 0}
    real = KeyRing.rotate

    def failing(self: KeyRing, token: str, *, context: bytes = b"") -> str:
        calls["n"] += 1
        if calls["n"] == 8:
            raise RuntimeError("power cut")
        return real(self, token, context=context)

    monkeypatch.setattr(KeyRing, "rotate", failing)
    result = app.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "5"])
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert key_ids(engine).count(kid(NEW)) == 5
    monkeypatch.setattr(KeyRing, "rotate", real)
    result = app.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert "docs.body: 7 re-encrypted, 0 left" in result.output
    assert set(key_ids(engine)) == {kid(NEW)}


def test_unreadable_values_fail_the_command(engine: sa.Engine) -> None:
    """Values under a key gone from the ring are skipped, logged, and the command exits 1
    saying how many are left; the readable ones are rotated."""
    seed(engine, 3, [OLD])
    seed(engine, 2, [GONE])
    result = docs_app(engine, [NEW, OLD]).test_cli_runner().invoke(args=["bastion", "rotate-keys"])
    assert result.exit_code == 1
    assert "docs.body: 3 re-encrypted, 2 left (2 unreadable)" in result.output
    assert "value(s) are still not under the newest key" in result.output


def test_row_changed_meanwhile_is_not_overwritten(engine: sa.Engine) -> None:
    """A value rewritten by the application during the rotation keeps the new content."""
    (doc_id,) = seed(engine, 1, [OLD])
    app = docs_app(engine, [NEW, OLD])
    with app.app_context():
        rotation = rotations_for(app)["docs.body"]
        batches = rotation.rotate(keyring_for(app), 10)
        with Session(engine) as db:
            doc = db.get(Doc, doc_id)
            assert doc is not None
            doc.body = "edited meanwhile"
            db.commit()
        assert [b.rotated for b in batches] == []  # the edit is already under NEW
    with app.app_context(), Session(engine) as db:
        assert db.get(Doc, doc_id).body == "edited meanwhile"  # type: ignore[union-attr]


def write_file(path: Path, data: bytes, key: str) -> None:
    ring = KeyRing([base64.urlsafe_b64decode(key + "=")])
    with path.open("wb") as dst:
        encrypt_stream(io.BytesIO(data), dst, context=b"file:" + path.name.encode(), ring=ring)


def test_registered_folder_is_rotated(engine: sa.Engine, tmp_path: Path) -> None:
    """A FolderRotation registered by the application re-encrypts its files."""
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(3):
        write_file(folder / f"f{i}", b"data %d" % i, OLD)
    app = docs_app(engine, [NEW, OLD], folder)
    dry = app.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--dry-run"])
    assert f"files: 3 to re-encrypt ({kid(OLD)}: 3)" in dry.output
    result = app.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "files: 3 re-encrypted, 0 left" in result.output
    for path in folder.iterdir():
        with path.open("rb") as src:
            assert stream_key_id(src) == kid(NEW)


def test_register_rotation_refuses_a_taken_name(engine: sa.Engine) -> None:
    """Two rotations cannot share a name."""
    app = docs_app(engine, [NEW])
    with pytest.raises(ValueError, match="already registered"):
        register_rotation(app, "docs.body", FolderRotation(".", lambda n: b""))


def accounts_app(url: str, keys: list[str]) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_ACCOUNTS_DATABASE_URL=url,
        BASTION_CRYPTO_KEYS=keys,
    )
    Bastion(app, components=[Accounts(blueprint=False)])
    OPEN_APPS.append(app)
    return app


def test_totp_secrets_are_rotated_by_the_command(db_url: str) -> None:
    """With accounts, rotate-keys finds the TOTP secrets on its own."""
    before = accounts_app(db_url, [OLD])
    from flask_bastion.accounts import User

    with before.app_context():
        db = accounts_state().db()
        users = [
            User(email=f"u{i}@example.com", email_key=f"u{i}@example.com", created_at=0.0)
            for i in range(3)
        ]
        db.add_all(users)
        db.commit()
        for user in users:
            enrol_totp(user)
    after = accounts_app(db_url, [NEW, OLD])
    with after.app_context():
        assert "totp" in rotations_for(after)
    result = after.test_cli_runner().invoke(args=["bastion", "rotate-keys", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "totp: 3 re-encrypted, 0 left" in result.output
    with after.app_context():
        secrets = accounts_state().db().scalars(sa.select(TotpCredential.secret_encrypted))
        assert {s.split(".")[1] for s in secrets} == {kid(NEW)}
    for app in (before, after):
        accounts_state(app).engine.dispose()


def test_pending_counts_only_older_keys(engine: sa.Engine) -> None:
    """pending() is the number of values under any key but the newest."""
    seed(engine, 2, [OLD])
    seed(engine, 3, [NEW])
    app = docs_app(engine, [NEW, OLD])
    with app.app_context():
        rotation = rotations_for(app)["docs.body"]
        assert rotation_module.pending(rotation, keyring_for(app)) == 2


_unused: Callable[..., t.Any] = lambda: None  # noqa: E731
