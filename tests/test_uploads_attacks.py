"""Attacks on the upload pipeline found by attacking it from outside: multipart edge
cases, Unicode tricks, polyglots, archive and animation bombs, and quota races."""

from __future__ import annotations

import io
import threading
import typing as t
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from flask_bastion import uploads
from flask_bastion.uploads import open_upload

from .conftest import HTTPS
from .upload_files import (
    SAME_ORIGIN,
    Signals,
    png,
    png_with_text,
    post,
    stored_files,
    upload_app,
    zip_of,
)


def raw_post(app: Flask, head: bytes, content: bytes, boundary: bytes = b"B") -> t.Any:
    """Post a hand-made multipart body: one part with the header lines ``head``."""
    body = b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content
    body += b"\r\n--" + boundary + b"--\r\n"
    return app.test_client().post(
        "/up",
        data=body,
        content_type="multipart/form-data; boundary=" + boundary.decode(),
        base_url=HTTPS,
        headers=SAME_ORIGIN,
    )


def test_rfc5987_filename_with_path(tmp_path: Path) -> None:
    """A path smuggled in ``filename*`` (RFC 5987 percent-encoding) is refused."""
    app = upload_app(tmp_path)
    head = (
        b'Content-Disposition: form-data; name="file"; filename="a.txt"; '
        b"filename*=UTF-8''..%2F..%2Fetc%2Fcron.d%2Fx.txt"
    )
    with Signals() as seen:
        response = raw_post(app, head, b"hello")
    assert response.status_code == 400
    assert seen.reasons() == [uploads.REASON_BAD_NAME]
    assert stored_files(tmp_path) == []


def test_multipart_without_boundary(tmp_path: Path) -> None:
    """``multipart/form-data`` without a boundary parses to nothing: 400."""
    app = upload_app(tmp_path)
    response = app.test_client().post(
        "/up",
        data=b"--x\r\n\r\nhello",
        content_type="multipart/form-data",
        base_url=HTTPS,
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 400
    assert stored_files(tmp_path) == []


def test_file_under_another_field_is_not_taken(tmp_path: Path) -> None:
    """Only the named field's files are stored; a file elsewhere still counts for the
    file limit but is not stored."""
    app = upload_app(tmp_path)
    response = app.test_client().post(
        "/up",
        data={"other": (io.BytesIO(b"hello"), "a.txt")},
        base_url=HTTPS,
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 400
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("setup.\uff45\uff58\uff45", 415, id="fullwidth-exe"),
        pytest.param("a\u2028b.txt", 400, id="line-separator"),
        pytest.param("\ufeffa.txt", 400, id="byte-order-mark"),
        pytest.param("a\u2066.txt", 400, id="bidi-isolate"),
        pytest.param("..", 400, id="dot-dot"),
        pytest.param("...txt", 400, id="leading-dots"),
        pytest.param("   .txt", 415, id="spaces-no-base"),
        pytest.param("photo.pn\u0261", 415, id="homoglyph-extension"),
    ],
)
def test_unicode_name_tricks(tmp_path: Path, name: str, status: int) -> None:
    """Names that hide their extension, break lines or climb are refused."""
    app = upload_app(tmp_path)
    assert post(app, (b"MZ" + b"\x00" * 62, name)).status_code == status
    assert stored_files(tmp_path) == []


def test_decomposed_name_is_normalised(tmp_path: Path) -> None:
    """A decomposed name is stored NFC-normalised."""
    app = upload_app(tmp_path)
    response = post(app, (b"hello", "cafe\u0301.txt"))
    assert response.status_code == 200
    assert response.get_json()[0]["original_name"] == "caf\u00e9.txt"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xef\xbb\xbf  \n<html><body>x</body></html>", id="bom-whitespace-html"),
        pytest.param(b"<!-- a comment --><script>alert(1)</script>", id="comment-first"),
        pytest.param(b'<?xml version="1.0"?><svg/>', id="xml-declaration"),
        pytest.param(b"#!/bin/sh\nrm -rf ~\n", id="shebang"),
        pytest.param(b"\x7fELF\x02\x01\x01" + b"\x00" * 57, id="elf"),
    ],
)
def test_executable_content_in_text(tmp_path: Path, content: bytes) -> None:
    """Content that opens as a page or a program is refused as text."""
    app = upload_app(tmp_path)
    with Signals() as seen:
        response = post(app, (content, "notes.txt"))
    assert response.status_code == 415
    assert seen.reasons() == [uploads.REASON_EXECUTABLE]


def test_utf16_html_is_not_text(tmp_path: Path) -> None:
    """UTF-16 (where the markup patterns do not match byte for byte) is not UTF-8 text."""
    app = upload_app(tmp_path)
    content = "\ufeff<html><script>alert(1)</script>".encode("utf-16-le")
    assert post(app, (content, "a.txt")).status_code == 415


def test_jpeg_with_appended_zip_loses_it(tmp_path: Path) -> None:
    """Bytes appended after an image's end (a JPEG/ZIP polyglot) do not survive."""
    app = upload_app(tmp_path)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "JPEG")
    polyglot = out.getvalue() + zip_of({"payload.txt": b"APPENDED-PAYLOAD"})
    response = post(app, (polyglot, "photo.jpg"))
    assert response.status_code == 200
    with app.app_context(), open_upload(response.get_json()[0]["name"]) as f:
        stored = f.read()
    assert b"PK\x03\x04" not in stored
    assert not zipfile.is_zipfile(io.BytesIO(stored))


@pytest.mark.parametrize(
    ("fmt", "name", "frames"),
    [
        pytest.param("GIF", "a.gif", 1, id="gif"),
        pytest.param("GIF", "a.gif", 3, id="animated-gif"),
        pytest.param("JPEG", "a.jpg", 1, id="jpeg"),
    ],
)
def test_image_comment_dropped(tmp_path: Path, fmt: str, name: str, frames: int) -> None:
    """A script in an image's comment (a GIF/JS polyglot) does not survive re-encoding:
    Pillow writes a decoded comment back unless it is dropped."""
    app = upload_app(tmp_path)
    images = [Image.new("L", (4, 4), 40 * n) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out,
        fmt,
        comment=b"*/=alert(document.domain);/*",
        save_all=frames > 1,
        append_images=images[1:],
    )
    response = post(app, (out.getvalue(), name))
    assert response.status_code == 200
    with app.app_context(), open_upload(response.get_json()[0]["name"]) as f:
        stored = f.read()
    assert b"alert" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert getattr(image, "n_frames", 1) == frames


def test_animation_bomb(tmp_path: Path) -> None:
    """An animation whose frames add up past max_image_pixels is refused."""
    app = upload_app(tmp_path, BASTION_UPLOADS_MAX_IMAGE_PIXELS=100_000)
    frames = [Image.new("L", (200, 200), i * 20) for i in range(10)]  # 40,000 pixels each
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    with Signals() as seen:
        response = post(app, (out.getvalue(), "anim.gif"))
    assert response.status_code == 422
    assert seen.reasons() == [uploads.REASON_IMAGE_BOMB]


ZIPS = {"BASTION_UPLOADS_ALLOWED_EXTENSIONS": ["zip"]}


def test_zip_too_many_members(tmp_path: Path) -> None:
    """An archive of more members than allowed is refused."""
    app = upload_app(tmp_path, **ZIPS, BASTION_UPLOADS_MAX_ARCHIVE_MEMBERS=3)
    archive = zip_of({f"{n}.txt": b"x" for n in range(4)})
    assert post(app, (archive, "a.zip")).status_code == 422


def test_zip_encrypted_member(tmp_path: Path) -> None:
    """An encrypted member, which no scanner can read, is refused."""
    app = upload_app(tmp_path, **ZIPS)
    data = bytearray(zip_of({"a.txt": b"x"}))
    data[6] |= 1  # the local header's "encrypted" flag
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # and the central directory's
    with Signals() as seen:
        response = post(app, (bytes(data), "a.zip"))
    assert response.status_code == 422
    assert seen.reasons() == [uploads.REASON_ARCHIVE_ENCRYPTED]


@pytest.mark.parametrize(
    "member", ["/etc/passwd", "C:/Windows/x.dll", "a\\..\\..\\b", "ok/../../up"]
)
def test_zip_member_names(tmp_path: Path, member: str) -> None:
    """Absolute, drive, backslash and climbing member names are refused."""
    app = upload_app(tmp_path, **ZIPS)
    assert post(app, (zip_of({member: b"x"}), "a.zip")).status_code == 422


def test_zip_lying_sizes(tmp_path: Path) -> None:
    """A member whose headers understate its size is refused, not trusted."""
    app = upload_app(tmp_path, **ZIPS)
    data = bytearray(zip_of({"a.txt": b"y" * 5000}))
    for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(header) + offset
        data[at : at + 4] = (10).to_bytes(4, "little")  # uncompressed size: 10
    assert post(app, (bytes(data), "a.zip")).status_code == 422


def test_quota_race_many_threads_postgresql(tmp_path: Path, pg_url: str) -> None:
    """Eight uploads at once on PostgreSQL quota counters: exactly as many as fit."""
    app = upload_app(
        tmp_path,
        BASTION_UPLOADS_URL=pg_url,
        BASTION_UPLOADS_QUOTA=5000,
        BASTION_UPLOADS_ENCRYPT=False,
    )
    barrier = threading.Barrier(8)

    @app.before_request
    def together() -> None:
        barrier.wait(timeout=30)

    statuses: list[int] = []

    def upload(n: int) -> None:
        statuses.append(post(app, (b"q" * 2000, f"{n}.txt")).status_code)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200] + [413] * 6
    assert len(stored_files(tmp_path)) == 2


def test_png_still_accepted(tmp_path: Path) -> None:
    """The checks above leave a plain image alone."""
    assert post(upload_app(tmp_path), (png(), "fine.png")).status_code == 200


def test_png_text_chunk_dropped(tmp_path: Path) -> None:
    """A PNG's text chunks (author, comments, anything hidden there) are dropped."""
    app = upload_app(tmp_path)
    response = post(app, (png_with_text(b"SECRET-AUTHOR-NAME"), "a.png"))
    assert response.status_code == 200
    with app.app_context(), open_upload(response.get_json()[0]["name"]) as f:
        assert b"SECRET-AUTHOR-NAME" not in f.read()


def test_view_cannot_widen_extensions(tmp_path: Path) -> None:
    """A view's extensions narrow the configured ones: one not configured stays refused."""
    app = upload_app(tmp_path)

    @app.post("/zips")
    @uploads.accepts_uploads(extensions=["zip", "txt"])
    def zips() -> t.Any:
        return {"stored": len(uploads.save_uploads("file"))}

    assert post(app, (zip_of({"a.txt": b"x"}), "a.zip"), path="/zips").status_code == 415
    assert post(app, (b"hello", "a.txt"), path="/zips").status_code == 200


@pytest.mark.parametrize("lead", [" ", "\t", " \t "], ids=["space", "tab", "mixed"])
def test_content_type_with_leading_whitespace_keeps_the_limits(tmp_path: Path, lead: str) -> None:
    """werkzeug strips spaces and tabs around the media type (an obs-folded header
    arrives so from its server), so such a body is still parsed as multipart: the
    route's file size limit holds for it (413), and nothing is stored."""
    app = upload_app(tmp_path)
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + b"a" * 5000 + b"\r\n--B--\r\n"
    )
    with Signals() as seen:
        response = app.test_client().post(
            "/small",
            data=body,
            content_type=lead + "multipart/form-data; boundary=B",
            base_url=HTTPS,
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 413
    assert seen.reasons() == [uploads.REASON_FILE_TOO_LARGE]
    assert stored_files(tmp_path) == []
