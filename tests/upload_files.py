"""Files for the upload tests, made here: images, a polyglot, bombs, archives, and an
app with an upload view and helpers to look at what was stored."""

from __future__ import annotations

import io
import struct
import typing as t
import zipfile
import zlib
from pathlib import Path

from flask import Flask, jsonify
from PIL import Image

from flask_bastion import signals
from flask_bastion.uploads import accepts_uploads, save_uploads

from .conftest import HTTPS, make_app

#: Browsers send these on a same-origin form post.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def png(size: tuple[int, int] = (8, 8), color: str = "red", **save: t.Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", **save)
    return out.getvalue()


def jpeg_with_exif(marker: str) -> bytes:
    """A JPEG whose EXIF holds ``marker`` as its description and a GPS position."""
    exif = Image.Exif()
    exif[0x010E] = marker  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)  # GPSLatitudeRef, GPSLatitude
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, "JPEG", exif=exif)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_with_text(text: bytes) -> bytes:
    """A valid PNG with ``text`` in a tEXt chunk (how PNG/HTML polyglots are made)."""
    plain = png()
    end = plain.rindex(b"IEND") - 4
    return plain[:end] + _chunk(b"tEXt", b"Comment\x00" + text) + plain[end:]


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with one tiny data chunk:
    a decoder that trusts the header allocates gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    data = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def zip_of(members: dict[str, bytes], **info: t.Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            zinfo = zipfile.ZipInfo(name)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            for key, value in info.items():
                setattr(zinfo, key, value)
            archive.writestr(zinfo, data)
    return out.getvalue()


def zip_bomb(unpacked: int = 20 * 1024 * 1024) -> bytes:
    """A zip of one member of ``unpacked`` zero bytes (about 20 KiB packed)."""
    return zip_of({"zeros.txt": b"\x00" * unpacked})


def upload_app(tmp_path: Path, **config: t.Any) -> Flask:
    """An app with ``POST /up`` (field ``file``, user ``7`` unless ``?user=``) storing in
    ``tmp_path / "store"``, the quota on SQLite in ``tmp_path``."""
    settings = {
        "BASTION_UPLOADS_FOLDER": str(tmp_path / "store"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'quota.sqlite3'}",
        **config,
    }
    app = make_app(**settings)

    @app.post("/up")
    @accepts_uploads
    def up() -> t.Any:
        from flask import request

        stored = save_uploads("file", user_id=request.args.get("user", "7"))
        return jsonify([vars(s) for s in stored])

    @app.post("/small")
    @accepts_uploads(max_file_size=1000, max_files=1, extensions=["txt"])
    def small() -> t.Any:
        return jsonify([s.name for s in save_uploads("file")])

    return app


def post(
    app: Flask,
    files: list[tuple[bytes, str]] | tuple[bytes, str],
    path: str = "/up",
    content_type: str | None = None,
    **kwargs: t.Any,
) -> t.Any:
    """Post ``files`` ((content, name) pairs) as the form field ``file``."""
    if isinstance(files, tuple):
        files = [files]
    parts = []
    for data, name in files:
        if content_type is None:
            parts.append((io.BytesIO(data), name))
        else:
            parts.append((io.BytesIO(data), name, content_type))
    return app.test_client().post(
        path, data={"file": parts}, base_url=HTTPS, headers=SAME_ORIGIN, **kwargs
    )


def stored_files(tmp_path: Path) -> list[Path]:
    """Every file in the store, temporary ones included."""
    root = tmp_path / "store"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class Signals:
    """Records the upload signals sent while it is active."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, t.Any]]] = []
        self._connected: list[t.Any] = []

    def __enter__(self) -> Signals:
        for signal in (
            signals.request_rejected,
            signals.upload_refused,
            signals.malware_found,
            signals.scan_failed,
            signals.upload_stored,
        ):

            def receiver(sender: t.Any, _name: str = signal.name, **kw: t.Any) -> None:
                self.sent.append((_name, kw))

            signal.connect(receiver)
            self._connected.append((signal, receiver))
        return self

    def __exit__(self, *exc: object) -> None:
        for signal, receiver in self._connected:
            signal.disconnect(receiver)

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def reasons(self) -> list[str]:
        return [kw.get("reason", "") for _, kw in self.sent]
