"""Configuration of file uploads (``uploads/``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import (
    Invalid,
    boolean,
    choice,
    identifier,
    int_range,
    non_negative_int,
    optional_str,
    seconds,
    setting,
    subset,
)

#: Types that a browser may run as a page or a program: refused unless listed in
#: ``BASTION_UPLOADS_ALLOW_EXECUTABLE``, even when ``allowed_extensions`` names them.
EXECUTABLE_EXTENSIONS = ("html", "htm", "xhtml", "svg", "xml", "js", "mjs", "exe", "dll")
#: Every extension the upload pipeline knows how to recognise from the content.
KNOWN_EXTENSIONS = (
    "png", "jpg", "jpeg", "gif", "webp", "pdf", "txt", "csv", "md", "zip",
    *EXECUTABLE_EXTENSIONS,
)  # fmt: skip
#: The largest file size a setting may state: 4 GiB.
MAX_UPLOAD_BYTES = 4 * 1024**3


def clamd_url(value: object) -> str | None:
    """``tcp://host:port`` or ``unix:///absolute/path``, or ``None``."""
    url = optional_str(value)
    if url is None:
        return None
    if url.startswith("unix:///") and len(url) > len("unix:///"):
        return url
    if url.startswith("tcp://"):
        host, _, port = url[len("tcp://") :].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65_536:
            return url
    raise Invalid("expected tcp://host:port or unix:///path/to/clamd.sock")


@dataclass(frozen=True)
class UploadsConfig:
    """File uploads (``uploads/``): limits, types, re-encoding, scanning and storage."""

    folder: str | None = setting(
        None,
        optional_str,
        "Folder of the stored files, outside the static folder. Default: 'uploads' in the "
        "instance folder.",
    )
    max_file_size: int = setting(
        10 * 1024**2,
        int_range(1, MAX_UPLOAD_BYTES),
        "Bytes one file may have; reading stops as soon as a file passes it (413). A view "
        "marked @accepts_uploads(max_file_size=...) may set its own.",
    )
    max_files: int = setting(
        5,
        int_range(1, 1000),
        "Files one request may carry (413).",
    )
    quota: int = setting(
        100 * 1024**2,
        non_negative_int,
        "Bytes of stored files per user (413 past it). 0 disables.",
        danger="0",
    )
    allowed_extensions: tuple[str, ...] = setting(
        ("png", "jpg", "jpeg", "gif", "webp", "pdf", "txt", "csv", "md"),
        subset(*KNOWN_EXTENSIONS),
        "File name extensions accepted; each file's content must be of its extension's type.",
    )
    allow_executable: tuple[str, ...] = setting(
        (),
        subset(*EXECUTABLE_EXTENSIONS),
        "Types a browser may execute (HTML, SVG, XML, JavaScript, programs) accepted when "
        "also in allowed_extensions. Serve them only as downloads, from another origin.",
        danger="not empty",
    )
    reencode_images: bool = setting(
        True,
        boolean,
        "Decode and re-encode images with Pillow: metadata (GPS, camera) is dropped and "
        "anything hidden in the file (a polyglot's HTML or script) does not survive.",
        danger="False",
    )
    max_image_pixels: int = setting(
        40_000_000,
        int_range(1, 1_000_000_000),
        "Pixels (width x height) an image may have, read from its header before it is "
        "decoded: a decompression bomb is refused (422) without being decoded.",
    )
    max_archive_size: int = setting(
        100 * 1024**2,
        int_range(1, MAX_UPLOAD_BYTES),
        "Bytes an allowed archive may unpack to (a zip bomb is refused, 422).",
    )
    max_archive_ratio: int = setting(
        100,
        int_range(1, 100_000),
        "Largest ratio of unpacked to packed size of an archive member.",
    )
    max_archive_members: int = setting(
        1000,
        int_range(1, 1_000_000),
        "Members an allowed archive may hold.",
    )
    clamd_url: str | None = setting(
        None,
        clamd_url,
        "The ClamAV daemon that scans every file (INSTREAM): tcp://host:port or "
        "unix:///path. None scans nothing (a deploy-check error under the production "
        "profile).",
    )
    clamd_timeout: float = setting(
        30.0,
        seconds(600),
        "Seconds the whole scan of one file may take: connecting to clamd, sending the "
        "file and reading the verdict. Past it the scan has failed (BASTION_UPLOADS_SCAN_FAILURE).",
    )
    scan_failure: str = setting(
        "refuse",
        choice("refuse", "accept"),
        "What happens when clamd cannot be reached or fails: 'refuse' answers 503; "
        "'accept' stores the file unscanned (and signals it).",
        danger="'accept'",
    )
    encrypt: bool = setting(
        True,
        boolean,
        "Encrypt stored files with the key ring (BASTION_CRYPTO_KEYS), in chunks; "
        "`flask bastion rotate-keys` re-encrypts them.",
        danger="False",
    )
    url: str | None = setting(
        None,
        optional_str,
        "Database of the per-user quota counters. Default: the app's DATABASE_URL / "
        "SQLALCHEMY_DATABASE_URI, else SQLite in the instance folder.",
    )
    table_name: str = setting(
        "bastion_upload_quota", identifier, "Table of the per-user quota counters."
    )
