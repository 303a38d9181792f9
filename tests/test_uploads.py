"""The upload pipeline: limits while reading, types, re-encoding, storage, quota, downloads."""

from __future__ import annotations

import io
import threading
import typing as t
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image

from flask_bastion import uploads
from flask_bastion.crypto import rotations_for
from flask_bastion.uploads import (
    DOWNLOAD_HEADERS,
    delete_upload,
    forget_user,
    open_upload,
    send_upload,
)
from flask_bastion.uploads.component import user_folder

from .conftest import HTTPS
from .upload_files import (
    SAME_ORIGIN,
    Signals,
    jpeg_with_exif,
    png,
    post,
    stored_files,
    upload_app,
)


def quota_used(tmp_path: Path, user_id: str | None = "7") -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'quota.sqlite3'}")
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("bastion_upload_quota"):
                return 0
            found = connection.execute(
                sa.text("SELECT used FROM bastion_upload_quota WHERE user_key = :k"),
                {"k": user_folder(user_id)},
            ).scalar()
    finally:
        engine.dispose()
    return int(found or 0)


def test_image_stored_encrypted_under_random_name(tmp_path: Path) -> None:
    """A PNG is stored encrypted, under a random name in the user's folder."""
    app = upload_app(tmp_path)
    with Signals() as seen:
        response = post(app, (png(), "holiday photo.png"))
    assert response.status_code == 200
    [stored] = response.get_json()
    assert stored["original_name"] == "holiday photo.png"
    assert stored["content_type"] == "image/png"
    assert stored["name"].startswith(user_folder("7") + "/")
    assert "holiday" not in stored["name"]
    [path] = stored_files(tmp_path)
    assert not path.read_bytes().startswith(b"\x89PNG")
    with app.app_context(), open_upload(stored["name"]) as f:
        assert f.read().startswith(b"\x89PNG")
    assert seen.names() == ["bastion.upload-stored"]
    assert quota_used(tmp_path) == path.stat().st_size


def test_image_metadata_stripped(tmp_path: Path) -> None:
    """Re-encoding drops the EXIF description and GPS position of a JPEG."""
    app = upload_app(tmp_path)
    original = jpeg_with_exif("SECRET-OWNER-MARKER")
    assert b"SECRET-OWNER-MARKER" in original
    response = post(app, (original, "me.jpg"))
    assert response.status_code == 200
    with app.app_context(), open_upload(response.get_json()[0]["name"]) as f:
        stored = f.read()
    assert b"SECRET-OWNER-MARKER" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"
        assert not image.getexif().get_ifd(0x8825)


def test_unencrypted_storage(tmp_path: Path) -> None:
    """With encryption off the stored bytes are the re-encoded image itself."""
    app = upload_app(tmp_path, BASTION_UPLOADS_ENCRYPT=False)
    assert post(app, (png(), "a.png")).status_code == 200
    [path] = stored_files(tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


class CountingInput(io.BytesIO):
    """A request body that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.read_bytes += len(data)
        return data


def test_reading_stops_at_file_limit(tmp_path: Path) -> None:
    """A file past its route's limit is refused (413) after reading little more than the
    limit, not the whole body."""
    app = upload_app(tmp_path)
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + b"a" * 8_000_000 + b"\r\n--B--\r\n"
    )
    stream = CountingInput(body)
    with Signals() as seen:
        response = app.test_client().post(
            "/small",
            input_stream=stream,
            content_type="multipart/form-data; boundary=B",
            content_length=len(body),
            base_url=HTTPS,
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 413
    assert stream.read_bytes < 1_000_000
    assert seen.reasons() == [uploads.REASON_FILE_TOO_LARGE]
    assert stored_files(tmp_path) == []


def test_too_many_files(tmp_path: Path) -> None:
    """More file parts than the route allows: 413, nothing stored."""
    app = upload_app(tmp_path)
    response = post(app, [(b"one", "a.txt"), (b"two", "b.txt")], path="/small")
    assert response.status_code == 413
    assert stored_files(tmp_path) == []


def test_files_of_a_refused_parse_are_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file of a part read before the parse was refused is closed when
    the request ends, though werkzeug never handed it to the request; an accepted
    upload's files are closed too."""
    from flask_bastion.uploads import component

    made: list[t.Any] = []
    temporary_file = component.tempfile.TemporaryFile

    def recording() -> t.Any:
        made.append(temporary_file())
        return made[-1]

    monkeypatch.setattr(component.tempfile, "TemporaryFile", recording)
    app = upload_app(tmp_path)
    response = post(app, [(b"one", "a.txt"), (b"two", "b.txt")], path="/small")
    assert response.status_code == 413
    assert len(made) == 1
    assert made[0].closed
    assert post(app, (b"one", "a.txt"), path="/small").status_code == 200
    assert len(made) == 2
    assert made[1].closed


def test_route_extension_allowlist(tmp_path: Path) -> None:
    """A route's own extensions narrow the configured ones."""
    app = upload_app(tmp_path)
    assert post(app, (png(), "a.png"), path="/small").status_code == 415


def test_request_too_large(tmp_path: Path) -> None:
    """A body past MAX_CONTENT_LENGTH is a 413."""
    app = upload_app(tmp_path, MAX_CONTENT_LENGTH=2000)
    assert post(app, (b"x" * 5000, "a.txt")).status_code == 413
    assert stored_files(tmp_path) == []


def test_empty_file_input(tmp_path: Path) -> None:
    """A form whose file input was left empty: 400, no file."""
    app = upload_app(tmp_path)
    with Signals() as seen:
        response = post(app, (b"", ""))
    assert response.status_code == 400
    assert seen.reasons() == [uploads.REASON_NO_FILE]


def test_quota_refuses_and_removes(tmp_path: Path) -> None:
    """An upload past the user's quota is refused (413); what it wrote is removed and
    the counter unchanged."""
    app = upload_app(tmp_path, BASTION_UPLOADS_QUOTA=3000, BASTION_UPLOADS_ENCRYPT=False)
    assert post(app, (b"a" * 2000, "a.txt")).status_code == 200
    used = quota_used(tmp_path)
    with Signals() as seen:
        response = post(app, (b"b" * 2000, "b.txt"))
    assert response.status_code == 413
    assert seen.reasons() == [uploads.REASON_QUOTA]
    assert len(stored_files(tmp_path)) == 1
    assert quota_used(tmp_path) == used
    assert post(app, (b"c" * 500, "c.txt"), query_string={"user": "8"}).status_code == 200


def test_quota_race_two_threads(tmp_path: Path) -> None:
    """Two uploads at once that each fit the quota but not together: exactly one is
    stored."""
    app = upload_app(tmp_path, BASTION_UPLOADS_QUOTA=3000, BASTION_UPLOADS_ENCRYPT=False)
    barrier = threading.Barrier(2)

    @app.before_request
    def together() -> None:
        barrier.wait(timeout=30)

    statuses: list[int] = []

    def upload(name: str) -> None:
        statuses.append(post(app, (b"z" * 2000, name)).status_code)

    threads = [threading.Thread(target=upload, args=(f"{n}.txt",)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 413]
    [path] = stored_files(tmp_path)
    assert quota_used(tmp_path) == path.stat().st_size


def test_delete_gives_quota_back(tmp_path: Path) -> None:
    """delete_upload removes the file and gives its bytes back."""
    app = upload_app(tmp_path)
    name = post(app, (b"hello", "a.txt")).get_json()[0]["name"]
    with app.app_context():
        delete_upload(name)
        delete_upload(name)  # already gone: no error
    assert stored_files(tmp_path) == []
    assert quota_used(tmp_path) == 0


def test_forget_user(tmp_path: Path) -> None:
    """forget_user removes a user's folder and counter, and no one else's."""
    app = upload_app(tmp_path)
    post(app, (b"mine", "a.txt"))
    post(app, (b"theirs", "b.txt"), query_string={"user": "8"})
    with app.app_context():
        forget_user("7")
    assert [p.parent.name for p in stored_files(tmp_path)] == [user_folder("8")]
    assert quota_used(tmp_path) == 0
    assert quota_used(tmp_path, "8") > 0


@pytest.mark.parametrize(
    "name", ["../u/x.bin", "/etc/passwd", "shared/short.bin", "shared/" + "a" * 24 + ".txt"]
)
def test_stored_names_only(tmp_path: Path, name: str) -> None:
    """Only names save_uploads makes are opened: nothing else becomes a path."""
    app = upload_app(tmp_path)
    with app.app_context(), pytest.raises(ValueError):
        open_upload(name)


def test_download_headers(tmp_path: Path) -> None:
    """send_upload sends an attachment of the stored type that no browser renders."""
    app = upload_app(tmp_path)

    @app.get("/download/<path:name>")
    def download(name: str) -> t.Any:
        return send_upload(name, content_type="text/plain", download_name="n\u00e9.txt")

    stored = post(app, (b"hello <b>world</b>", "notes.txt")).get_json()[0]
    response = app.test_client().get(f"/download/{stored['name']}", base_url=HTTPS)
    assert response.status_code == 200
    assert response.data == b"hello <b>world</b>"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''n%C3%A9.txt" in response.headers["Content-Disposition"]
    assert response.mimetype == "text/plain"
    for header, value in DOWNLOAD_HEADERS.items():
        assert response.headers[header] == value


def test_rotation_registered(tmp_path: Path) -> None:
    """The stored files are part of rotate-keys."""
    app = upload_app(tmp_path)
    post(app, (b"hello", "a.txt"))
    with app.app_context():
        rotation = rotations_for(app)["uploads"]
        assert sum(rotation.usage().values()) == 1


def test_two_apps(tmp_path: Path) -> None:
    """Two apps keep their own folders and limits."""
    first = upload_app(tmp_path / "one")
    second: Flask = upload_app(tmp_path / "two", BASTION_UPLOADS_MAX_FILE_SIZE=10)
    assert post(first, (b"hello world", "a.txt")).status_code == 200
    assert post(second, (b"hello world", "a.txt")).status_code == 413
    assert len(stored_files(tmp_path / "one")) == 1
    assert stored_files(tmp_path / "two") == []


def test_download_of_missing_file_is_404(tmp_path: Path) -> None:
    """A stored name whose file is gone downloads as a 404, not a 500."""
    app = upload_app(tmp_path)

    @app.get("/download/<path:name>")
    def download(name: str) -> t.Any:
        return send_upload(name, content_type="text/plain", download_name="a.txt")

    name = post(app, (b"hello", "a.txt")).get_json()[0]["name"]
    for path in stored_files(tmp_path):
        path.unlink()
    assert app.test_client().get(f"/download/{name}", base_url=HTTPS).status_code == 404


def test_csrf_fallback_parses_with_the_limits(tmp_path: Path) -> None:
    """Without Fetch Metadata or Origin, the CSRF token fallback reads the form: the
    file limits apply there too (413), and a post without a token stores nothing (403)."""
    app = upload_app(tmp_path)
    client = app.test_client()
    client.set_cookie("tracking", "1", domain="localhost")  # an ambient credential
    big = {"file": (io.BytesIO(b"a" * 5000), "a.txt")}
    assert client.post("/small", data=big, base_url=HTTPS).status_code == 413
    small = {"file": (io.BytesIO(b"hello"), "a.txt")}
    assert client.post("/up", data=small, base_url=HTTPS).status_code == 403
    assert stored_files(tmp_path) == []


def test_download_name_cannot_add_parameters(tmp_path: Path) -> None:
    """A download name with quotes and semicolons stays one quoted filename."""
    app = upload_app(tmp_path)
    hostile = 'a"; filename="evil.html'

    @app.get("/download/<path:name>")
    def download(name: str) -> t.Any:
        return send_upload(name, content_type="text/plain", download_name=hostile)

    name = post(app, (b"hello", "a.txt")).get_json()[0]["name"]
    response = app.test_client().get(f"/download/{name}", base_url=HTTPS)
    disposition = response.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="a\\"; filename=\\"evil.html"'


def test_executable_type_when_explicitly_allowed(tmp_path: Path) -> None:
    """An SVG passes once listed in both allowed_extensions and allow_executable."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
    app = upload_app(
        tmp_path,
        BASTION_UPLOADS_ALLOWED_EXTENSIONS=["svg"],
        BASTION_UPLOADS_ALLOW_EXECUTABLE=["svg"],
    )
    response = post(app, (svg, "logo.svg"))
    assert response.status_code == 200
    assert response.get_json()[0]["content_type"] == "image/svg+xml"


def test_every_known_extension_has_a_kind() -> None:
    """The configuration's extensions and the pipeline's kinds agree."""
    from flask_bastion.config.sections import KNOWN_EXTENSIONS
    from flask_bastion.uploads.types import KINDS

    assert set(KNOWN_EXTENSIONS) == set(KINDS)


def test_unknown_extension_setting_refused() -> None:
    """An extension the pipeline cannot recognise is a configuration error."""
    from flask_bastion.exceptions import ConfigurationError

    from .conftest import make_app

    with pytest.raises(ConfigurationError, match="BASTION_UPLOADS_ALLOWED_EXTENSIONS"):
        make_app(BASTION_UPLOADS_ALLOWED_EXTENSIONS=["docx"])


@pytest.mark.parametrize("url", ["http://127.0.0.1:3310", "tcp://host", "unix://relative"])
def test_bad_clamd_url_refused(url: str) -> None:
    """BASTION_UPLOADS_CLAMD_URL must be tcp://host:port or unix:///path."""
    from flask_bastion.exceptions import ConfigurationError

    from .conftest import make_app

    with pytest.raises(ConfigurationError, match="BASTION_UPLOADS_CLAMD_URL"):
        make_app(BASTION_UPLOADS_CLAMD_URL=url)


def test_quota_needs_sqlite_or_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quota counters refuse another database, naming BASTION_UPLOADS_URL: their
    reservation is an upsert only SQLite and PostgreSQL spell that way."""
    from flask_bastion.exceptions import ConfigurationError
    from flask_bastion.stores.sql import SQLDatabase
    from flask_bastion.uploads.quota import Quota

    database = SQLDatabase("sqlite://")
    monkeypatch.setattr(database.engine.dialect, "name", "mysql")
    with pytest.raises(ConfigurationError, match="BASTION_UPLOADS_URL: the quota counters need"):
        Quota(database, "bastion_upload_quota")
