"""What is inside a file: images decoded and re-encoded, archives opened and measured.

* **Decompression bombs.** An image's width and height are read from its header
  (Pillow's ``open`` decodes nothing) and checked against
  ``BASTION_UPLOADS_MAX_IMAGE_PIXELS`` before any pixel is decoded, then the pixels of
  all its frames (an animation of many large frames is a bomb too); Pillow's own
  :data:`PIL.Image.MAX_IMAGE_PIXELS` guard is held to the same figure while it runs.
* **Metadata and polyglots.** The decoded pixels are written to a new file in the same
  format, without EXIF (GPS position, camera, owner), XMP, ICC or text chunks, so nothing
  appended to the image or hidden in its chunks survives. The orientation EXIF gave is
  applied to the pixels first.
* **Zip bombs and climbing paths.** Every member of an allowed archive is decompressed
  (to nowhere) and counted: past ``max_archive_size`` in all, or a member that unpacks
  more than ``max_archive_ratio`` times its packed size, the archive is refused, whatever
  its headers claim. A member named with ``..``, an absolute path, a backslash, a drive
  or a NUL, a symbolic link, or an encrypted member (which no scanner can read) is
  refused too. Archives inside the archive are not opened: clamd scans them.
"""

from __future__ import annotations

import contextlib
import stat
import tempfile
import typing as t
import warnings
import zipfile

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

REASON_IMAGE_BOMB = "The image has more pixels than allowed (a decompression bomb)."
REASON_IMAGE_BROKEN = "The image could not be decoded."
REASON_ARCHIVE_BROKEN = "The archive could not be read."
REASON_ARCHIVE_BOMB = "The archive unpacks to more than allowed (a zip bomb)."
REASON_ARCHIVE_MEMBERS = "The archive holds more members than allowed."
REASON_ARCHIVE_PATH = "An archive member's name climbs out of its folder or is not a plain name."
REASON_ARCHIVE_LINK = "The archive holds a symbolic link."
REASON_ARCHIVE_ENCRYPTED = "The archive holds an encrypted member, which cannot be scanned."

#: Members below this unpacked size are not held to the ratio: a small file of one
#: repeated byte packs very well and harms nobody.
RATIO_FLOOR = 1024 * 1024
_READ = 64 * 1024


class ContentProblem(Exception):
    """The content is refused; the message is a ``REASON_*`` constant."""


def image_size(src: t.BinaryIO, fmt: str, max_pixels: int) -> tuple[int, int]:
    """Width and height of the ``fmt`` image in ``src``, read from its header.

    :raises ContentProblem: for another format, an undecodable header or more than
        ``max_pixels`` pixels.
    """
    with _pillow_guard(max_pixels):
        try:
            with Image.open(src, formats=[fmt]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ContentProblem(REASON_IMAGE_BOMB)
                # Every frame of an animation is decoded when it is re-encoded.
                frames = int(getattr(image, "n_frames", 1))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ContentProblem(REASON_IMAGE_BOMB) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise ContentProblem(REASON_IMAGE_BROKEN) from None
    if width * height * frames > max_pixels:
        raise ContentProblem(REASON_IMAGE_BOMB)
    return width, height


def reencode_image(src: t.BinaryIO, fmt: str, max_pixels: int) -> t.BinaryIO:
    """A new temporary file holding the ``fmt`` image of ``src`` decoded and encoded
    again, without metadata (check :func:`image_size` first).

    :raises ContentProblem: when it does not decode.
    """
    out = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, who closes it
    try:
        with _pillow_guard(max_pixels), Image.open(src, formats=[fmt]) as image:
            if getattr(image, "n_frames", 1) > 1 and fmt in ("GIF", "WEBP"):
                frames = [_clean(frame) for frame in ImageSequence.Iterator(image)]
                frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:])
            else:
                pixels = _clean(ImageOps.exif_transpose(image))
                if fmt == "JPEG" and pixels.mode not in ("RGB", "L"):
                    pixels = pixels.convert("RGB")
                pixels.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        out.close()
        raise ContentProblem(REASON_IMAGE_BOMB) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        out.close()
        raise ContentProblem(REASON_IMAGE_BROKEN) from None
    out.seek(0)
    return t.cast(t.BinaryIO, out)


#: What of an image's ``info`` survives re-encoding: how it is drawn, never text, EXIF,
#: XMP or ICC (Pillow writes ``info`` back on save: a GIF or JPEG comment would survive).
_KEPT_INFO = frozenset({"transparency", "duration", "loop", "background", "disposal"})


def _clean(frame: Image.Image) -> Image.Image:
    """A copy of ``frame``'s pixels with only :data:`_KEPT_INFO`."""
    copy = frame.copy()
    copy.info = {key: value for key, value in frame.info.items() if key in _KEPT_INFO}
    return copy


@contextlib.contextmanager
def _pillow_guard(max_pixels: int) -> t.Iterator[None]:
    """Pillow's bomb guard at ``max_pixels`` (it raises past twice that, warns past it),
    the warning made an error, for the time of one call."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def check_archive(src: t.BinaryIO, *, max_size: int, max_ratio: int, max_members: int) -> None:
    """Open the zip archive in ``src`` and measure every member (module docstring).

    :raises ContentProblem: with the first problem found.
    """
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ContentProblem(REASON_ARCHIVE_BROKEN) from None
    with archive:
        members = archive.infolist()
        if len(members) > max_members:
            raise ContentProblem(REASON_ARCHIVE_MEMBERS)
        total = 0
        for info in members:
            _check_member(info)
            total = _unpack(archive, info, total, max_size, max_ratio)


def _check_member(info: zipfile.ZipInfo) -> None:
    # ZipInfo keeps the raw name in orig_filename; filename has already turned
    # backslashes into slashes on Windows only.
    name = info.orig_filename
    parts = name.replace("\\", "/").split("/")
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or name.startswith("/")
        or ".." in parts
        or (len(name) > 1 and name[1] == ":")
    ):
        raise ContentProblem(REASON_ARCHIVE_PATH)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ContentProblem(REASON_ARCHIVE_LINK)
    if info.flag_bits & 0x1:
        raise ContentProblem(REASON_ARCHIVE_ENCRYPTED)


def _unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, max_size: int, max_ratio: int
) -> int:
    """Decompress ``info`` to nowhere; the new running total."""
    size = 0
    packed = max(info.compress_size, 1)
    try:
        with archive.open(info) as member:
            while block := member.read(_READ):
                size += len(block)
                total += len(block)
                if total > max_size or (size > RATIO_FLOOR and size > packed * max_ratio):
                    raise ContentProblem(REASON_ARCHIVE_BOMB)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise ContentProblem(REASON_ARCHIVE_BROKEN) from None
    return total
