"""Hostile uploads against a real ClamAV daemon: each is refused with a clear 4xx (or
the documented 503), a signal is sent, and nothing is stored."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import typing as t
from pathlib import Path

import pytest
from flask import Flask

from flask_bastion import uploads
from flask_bastion.uploads import Clamd

from .clamav import (
    EICAR,
    EICAR_NAME,
    MARKER,
    MARKER_NAME,
    PrivateClamd,
    start_private_clamd,
)
from .conftest import HTTPS, require_clamd
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


def test_clamd_error_reply_is_unavailable(tmp_path: Path) -> None:
    """A file past clamd's StreamMaxLength gets an ERROR reply: no verdict, 503."""
    require_clamd()
    daemon = start_private_clamd(stream_max="100K")
    clamd = next(daemon)
    try:
        app = upload_app(tmp_path, BASTION_UPLOADS_CLAMD_URL=clamd.tcp_url)
        with Signals() as seen:
            response = post(app, (b"a" * 400_000, "big.txt"))  # in memory in the client
        assert response.status_code == 503
        assert seen.names() == ["bastion.scan-failed"]
        assert stored_files(tmp_path) == []
    finally:
        daemon.close()


def test_ping(clamd: PrivateClamd, tmp_path: Path) -> None:
    """Clamd.ping answers for a running daemon and not for a missing one."""
    assert Clamd(clamd.unix_url).ping()
    assert Clamd(clamd.tcp_url).ping()
    assert not Clamd(f"unix://{tmp_path}/none.sock").ping()


def test_clamd_url_forms() -> None:
    """Only tcp:// and unix:// URLs make a client."""
    with pytest.raises(ValueError, match="tcp://"):
        Clamd("http://127.0.0.1:3310")


# -- a clamd that misbehaves: fault injection on a local socket -----------------------------

#: The client timeout of these tests, in seconds: every scan below ends within it.
FAULT_TIMEOUT = 0.2
#: A bound far above FAULT_TIMEOUT (a busy CI machine) and far below a hung request.
HUNG = 3.0


def _read_request(conn: socket.socket) -> None:
    """Read an INSTREAM request up to its terminating zero-length chunk."""
    data = b""
    while not data.endswith(struct.pack(">I", 0)):
        more = conn.recv(65536)
        if not more:
            return
        data += more


def _never_answers(conn: socket.socket, stop: threading.Event) -> None:
    """Read the whole request, then keep reading (nothing comes) until the client leaves."""
    _read_request(conn)
    while not stop.is_set() and conn.recv(65536):
        pass


def _closes_mid_answer(reply: bytes) -> t.Callable[[socket.socket, threading.Event], None]:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(reply)

    return serve


def _trickles(conn: socket.socket, stop: threading.Event) -> None:
    """Answer one byte at a time, each well within the timeout, for far longer than it."""
    _read_request(conn)
    for _ in range(int(HUNG * 4 / 0.05)):
        if stop.wait(0.05):  # paces the fault; set when the test ends
            return
        try:
            conn.sendall(b"s")
        except OSError:
            return


@contextlib.contextmanager
def fault_clamd(
    serve: t.Callable[[socket.socket, threading.Event], None],
) -> t.Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and answers with ``serve``;
    yields its ``tcp://`` URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(HUNG * 4)
                with contextlib.suppress(OSError):
                    serve(conn, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(HUNG * 5)
        listener.close()


def _timed_post(app: Flask) -> tuple[t.Any, float]:
    start = time.monotonic()
    response = post(app, (b"hello", "a.txt"))
    return response, time.monotonic() - start


@pytest.mark.parametrize(
    "serve",
    [
        pytest.param(_never_answers, id="never-answers"),
        pytest.param(_trickles, id="trickles-one-byte-at-a-time"),
        pytest.param(_closes_mid_answer(b"stream: O"), id="closes-mid-answer"),
        pytest.param(_closes_mid_answer(b"stream: OK"), id="closes-before-the-nul"),
        pytest.param(_closes_mid_answer(b""), id="closes-without-answer"),
    ],
)
def test_a_clamd_without_a_verdict_is_refused_in_time(
    tmp_path: Path, serve: t.Callable[[socket.socket, threading.Event], None]
) -> None:
    """A clamd that hangs, trickles or closes mid-answer gives no verdict: the upload is
    refused with 503 within BASTION_UPLOADS_CLAMD_TIMEOUT, signalled, and not stored."""
    with fault_clamd(serve) as url:
        app = upload_app(
            tmp_path, BASTION_UPLOADS_CLAMD_URL=url, BASTION_UPLOADS_CLAMD_TIMEOUT=FAULT_TIMEOUT
        )
        with Signals() as seen:
            response, elapsed = _timed_post(app)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert seen.names() == ["bastion.scan-failed"]
    assert seen.sent[0][1]["accepted"] is False
    assert stored_files(tmp_path) == []
    assert elapsed < HUNG


def test_a_hung_clamd_is_reported_as_a_timeout(tmp_path: Path) -> None:
    """The scan-failed signal names the timeout, and it fires after the timeout, not before."""
    with fault_clamd(_never_answers) as url:
        app = upload_app(
            tmp_path, BASTION_UPLOADS_CLAMD_URL=url, BASTION_UPLOADS_CLAMD_TIMEOUT=FAULT_TIMEOUT
        )
        with Signals() as seen:
            response, elapsed = _timed_post(app)
    assert response.status_code == 503
    assert seen.reasons() == ["clamd did not answer in time"]
    assert FAULT_TIMEOUT <= elapsed < HUNG


def test_a_hung_clamd_under_accept_stores_unscanned(tmp_path: Path) -> None:
    """With BASTION_UPLOADS_SCAN_FAILURE='accept' the timeout stores the file unscanned."""
    with fault_clamd(_never_answers) as url:
        app = upload_app(
            tmp_path,
            BASTION_UPLOADS_CLAMD_URL=url,
            BASTION_UPLOADS_CLAMD_TIMEOUT=FAULT_TIMEOUT,
            BASTION_UPLOADS_SCAN_FAILURE="accept",
        )
        with Signals() as seen:
            response, elapsed = _timed_post(app)
    assert response.status_code == 200
    assert response.get_json()[0]["scanned"] is False
    assert seen.names() == ["bastion.scan-failed", "bastion.upload-stored"]
    assert elapsed < HUNG


def test_the_timeout_bounds_the_whole_scan() -> None:
    """The deadline is for the whole exchange: with an injected clock that has passed it,
    a clamd that would answer is not waited for."""
    ticks = iter([0.0, 0.0, 0.0, 0.0, 5.0])  # start, connect, two sends, then late
    with fault_clamd(_closes_mid_answer(b"stream: OK\0")) as url:
        client = Clamd(url, timeout=1, clock=lambda: next(ticks, 5.0))
        with pytest.raises(uploads.ScanError, match="in time"):
            client.scan(io.BytesIO(b""))
        assert Clamd(url, timeout=1).scan(io.BytesIO(b"hello")) is None


def test_bad_clamd_timeouts_are_refused() -> None:
    """BASTION_UPLOADS_CLAMD_TIMEOUT is a number of seconds above 0 and at most 600."""
    from flask_bastion import ConfigurationError

    from .conftest import make_app

    for value in (0, -1, 601, "soon", True):
        with pytest.raises(ConfigurationError, match="BASTION_UPLOADS_CLAMD_TIMEOUT"):
            make_app(BASTION_UPLOADS_CLAMD_TIMEOUT=value)
    assert make_app(BASTION_UPLOADS_CLAMD_TIMEOUT="0.5")
