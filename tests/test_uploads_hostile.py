"""Hostile uploads against a real ClamAV daemon: each is refused with a clear 4xx (or
the documented 503), a signal is sent, and nothing is stored."""

from __future__ import annotations

import io
import typing as t
from pathlib import Path

import pytest
from flask import Flask

from flask_bastion import uploads

from .clamav import EICAR, EICAR_NAME, MARKER, MARKER_NAME, PrivateClamd
from .conftest import HTTPS
from .test_uploads import quota_used
from .upload_files import (
    SAME_ORIGIN,
    Signals,
    png,
    png_bomb,
    png_with_text,
    post,
    stored_files,
    upload_app,
    zip_bomb,
    zip_of,
)

SVG_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
)
POLYGLOT = png_with_text(b"<html><script>alert(document.cookie)</script></html>")


@pytest.fixture
def scanned_app(tmp_path: Path, clamd: PrivateClamd) -> Flask:
    """An upload app scanning with the session's clamd; zip archives allowed."""
    return upload_app(
        tmp_path,
        BASTION_UPLOADS_CLAMD_URL=clamd.unix_url,
        BASTION_UPLOADS_ALLOWED_EXTENSIONS=["png", "jpg", "txt", "csv", "pdf", "zip", "svg"],
    )


def refused(
    app: Flask, tmp_path: Path, files: t.Any, status: int, reason: str, **kwargs: t.Any
) -> Signals:
    """Post ``files``; assert ``status``, the signal's ``reason`` and nothing stored."""
    with Signals() as seen:
        response = post(app, files, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[-400:]
    assert reason in seen.reasons()
    assert "bastion.upload-stored" not in seen.names()
    assert stored_files(tmp_path) == []
    assert quota_used(tmp_path) == 0
    return seen


HOSTILE = [
    pytest.param((EICAR, "eicar.txt"), 422, uploads.REASON_MALWARE, id="eicar-plain"),
    pytest.param(
        (zip_of({"docs/eicar.com": EICAR}), "archive.zip"),
        422,
        uploads.REASON_MALWARE,
        id="eicar-zipped",
    ),
    pytest.param((EICAR, "quarterly-figures.csv"), 422, uploads.REASON_MALWARE, id="eicar-renamed"),
    pytest.param(
        (png_with_text(MARKER), "innocent.png"),
        422,
        uploads.REASON_MALWARE,
        id="custom-signature-in-png",
    ),
    pytest.param((POLYGLOT, "cat.png"), 422, uploads.REASON_POLYGLOT, id="png-html-polyglot"),
    pytest.param((SVG_SCRIPT, "logo.svg"), 415, uploads.REASON_EXECUTABLE, id="svg-with-script"),
    pytest.param((SVG_SCRIPT, "logo.png"), 415, uploads.REASON_EXECUTABLE, id="svg-named-png"),
    pytest.param(
        (b"<!DOCTYPE html><script>alert(1)</script>", "readme.txt"),
        415,
        uploads.REASON_EXECUTABLE,
        id="html-named-txt",
    ),
    pytest.param(
        (b"MZ\x90\x00" + b"\x00" * 60, "setup.pdf"),
        415,
        uploads.REASON_EXECUTABLE,
        id="program-named-pdf",
    ),
    pytest.param((png_bomb(), "bomb.png"), 422, uploads.REASON_IMAGE_BOMB, id="pixel-bomb"),
    pytest.param((zip_bomb(), "bomb.zip"), 422, uploads.REASON_ARCHIVE_BOMB, id="zip-bomb"),
    pytest.param(
        (zip_of({"../../etc/cron.d/evil": b"x"}), "a.zip"),
        422,
        uploads.REASON_ARCHIVE_PATH,
        id="zip-member-climbs",
    ),
    pytest.param(
        (zip_of({"link": b"/etc/passwd"}, external_attr=0o120777 << 16), "a.zip"),
        422,
        uploads.REASON_ARCHIVE_LINK,
        id="zip-symlink",
    ),
    pytest.param(
        (b"hello", "../../etc/passwd.txt"), 400, uploads.REASON_BAD_NAME, id="dot-dot-slash"
    ),
    pytest.param((b"hello", "..\\..\\boot.txt"), 400, uploads.REASON_BAD_NAME, id="backslashes"),
    pytest.param((b"hello", "a.txt\x00.png"), 400, uploads.REASON_BAD_NAME, id="nul"),
    pytest.param(
        (b"hello", "photo\u202egnp.txt"), 400, uploads.REASON_BAD_NAME, id="right-to-left-override"
    ),
    pytest.param((b"hello", "a\u200b.txt"), 400, uploads.REASON_BAD_NAME, id="zero-width"),
    # A CR LF breaks the part's headers: the part is no file at all.
    pytest.param(
        (b"hello", "a\r\nContent-Type: text/html.txt"), 400, uploads.REASON_NO_FILE, id="crlf"
    ),
    pytest.param((b"hello", "x" * 300 + ".txt"), 400, uploads.REASON_BAD_NAME, id="long-name"),
    pytest.param(
        (b"%PDF-1.4 not really", "doc.png"), 415, uploads.REASON_TYPE_MISMATCH, id="pdf-named-png"
    ),
    pytest.param(
        (b"\xff\xfe\x00bin", "notes.txt"), 415, uploads.REASON_TYPE_MISMATCH, id="binary-named-txt"
    ),
    pytest.param((b"hello", "run.exe"), 415, uploads.REASON_EXTENSION, id="exe-extension"),
    pytest.param((b"hello", "noextension"), 415, uploads.REASON_EXTENSION, id="no-extension"),
    # Windows drops trailing dots and spaces: the extension is read the same way.
    pytest.param(
        (b"MZ" + b"\x00" * 62, "setup.exe. "),
        415,
        uploads.REASON_EXTENSION,
        id="trailing-dot-space",
    ),
]


@pytest.mark.parametrize(("files", "status", "reason"), HOSTILE)
def test_hostile_upload_refused(
    scanned_app: Flask, tmp_path: Path, files: t.Any, status: int, reason: str
) -> None:
    """Each hostile upload is refused with its status and reason; nothing is stored."""
    refused(scanned_app, tmp_path, files, status, reason)


def test_malware_signal_names_signature(scanned_app: Flask, tmp_path: Path) -> None:
    """malware_found carries the name ClamAV gave the file."""
    seen = refused(scanned_app, tmp_path, (EICAR, "eicar.txt"), 422, uploads.REASON_MALWARE)
    [(name, kw)] = seen.sent
    assert name == "bastion.malware-found"
    assert kw["signature"].startswith(EICAR_NAME)
    assert kw["file_name"] == "eicar.txt"


def test_custom_signature(scanned_app: Flask, tmp_path: Path) -> None:
    """The test database's own signature is found in a text file."""
    seen = refused(scanned_app, tmp_path, (b"a" + MARKER, "m.txt"), 422, uploads.REASON_MALWARE)
    assert seen.sent[0][1]["signature"].startswith(MARKER_NAME)


def test_one_bad_file_stores_none(scanned_app: Flask, tmp_path: Path) -> None:
    """A clean file sent with an infected one is not stored either."""
    refused(
        scanned_app,
        tmp_path,
        [(b"clean", "a.txt"), (EICAR, "b.txt")],
        422,
        uploads.REASON_MALWARE,
    )


def test_clean_files_pass_the_scanner(scanned_app: Flask, tmp_path: Path) -> None:
    """Clean files are stored and marked scanned."""
    with Signals() as seen:
        response = post(scanned_app, [(png(), "a.png"), (zip_of({"a.txt": b"hi"}), "b.zip")])
    assert response.status_code == 200
    assert [s["scanned"] for s in response.get_json()] == [True, True]
    assert len(stored_files(tmp_path)) == 2
    assert seen.names() == ["bastion.upload-stored"] * 2


def test_tcp_scanner(tmp_path: Path, clamd: PrivateClamd) -> None:
    """clamd over TCP finds EICAR too."""
    app = upload_app(tmp_path, BASTION_UPLOADS_CLAMD_URL=clamd.tcp_url)
    refused(app, tmp_path, (EICAR, "e.txt"), 422, uploads.REASON_MALWARE)


def test_wrong_part_content_type(scanned_app: Flask, tmp_path: Path) -> None:
    """A part declared as another type than its extension's: 415."""
    refused(
        scanned_app,
        tmp_path,
        (b"hello", "a.txt"),
        415,
        uploads.REASON_DECLARED_TYPE,
        content_type="text/html",
    )


def test_wrong_request_content_type(scanned_app: Flask, tmp_path: Path) -> None:
    """A file sent as a raw body rather than multipart: 415."""
    with Signals() as seen:
        response = scanned_app.test_client().post(
            "/up",
            data=EICAR,
            content_type="application/octet-stream",
            base_url=HTTPS,
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 415
    assert seen.reasons() == [uploads.REASON_NOT_MULTIPART]
    assert stored_files(tmp_path) == []


def test_body_cut_off(scanned_app: Flask, tmp_path: Path) -> None:
    """A body that ends before its Content-Length: 400, nothing stored."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nthe first half of the fi"
    )
    with Signals() as seen:
        response = scanned_app.test_client().post(
            "/up",
            input_stream=io.BytesIO(body),
            content_type="multipart/form-data; boundary=B",
            content_length=len(body) + 1000,
            headers=SAME_ORIGIN,
            base_url=HTTPS,
        )
    assert response.status_code == 400
    assert seen.reasons() == [uploads.REASON_BODY]
    assert stored_files(tmp_path) == []


def test_body_without_closing_boundary(scanned_app: Flask, tmp_path: Path) -> None:
    """A multipart body that stops without its closing boundary: 400, nothing stored."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nthe first half of the fi"
    )
    with Signals() as seen:
        response = scanned_app.test_client().post(
            "/up",
            data=body,
            content_type="multipart/form-data; boundary=B",
            headers=SAME_ORIGIN,
            base_url=HTTPS,
        )
    assert response.status_code == 400
    assert seen.reasons() == [uploads.REASON_BODY]
    assert stored_files(tmp_path) == []


def test_scanner_down_refuses_503(tmp_path: Path) -> None:
    """Without an answering clamd the upload is refused with 503 and Retry-After."""
    app = upload_app(tmp_path, BASTION_UPLOADS_CLAMD_URL=f"unix://{tmp_path}/no.sock")
    with Signals() as seen:
        response = post(app, (b"hello", "a.txt"))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert seen.names() == ["bastion.scan-failed"]
    assert stored_files(tmp_path) == []


def test_scanner_down_accept_mode(tmp_path: Path) -> None:
    """With scan_failure='accept' the file is stored unscanned and the failure signalled."""
    app = upload_app(
        tmp_path,
        BASTION_UPLOADS_CLAMD_URL=f"unix://{tmp_path}/no.sock",
        BASTION_UPLOADS_SCAN_FAILURE="accept",
    )
    with Signals() as seen:
        response = post(app, (b"hello", "a.txt"))
    assert response.status_code == 200
    assert response.get_json()[0]["scanned"] is False
    assert seen.names() == ["bastion.scan-failed", "bastion.upload-stored"]
    assert seen.sent[0][1]["accepted"] is True


def test_clamd_stopped_mid_test(tmp_path: Path, own_clamd: PrivateClamd) -> None:
    """clamd stops between two uploads: the first is stored, the second refused (503)."""
    app = upload_app(tmp_path, BASTION_UPLOADS_CLAMD_URL=own_clamd.unix_url)
    assert post(app, (b"first", "a.txt")).status_code == 200
    own_clamd.stop()
    with Signals() as seen:
        response = post(app, (b"second", "b.txt"))
    assert response.status_code == 503
    assert seen.names() == ["bastion.scan-failed"]
    assert len(stored_files(tmp_path)) == 1
