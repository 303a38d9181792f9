"""File names and file types: what a file says it is, and what its content is.

A name is only metadata: it never becomes a path. Still, it is shown to people and put in
``Content-Disposition``, so a name with a path (``../``, ``\\``), a NUL, a control or
format character (the right-to-left override that shows ``evil\\u202egpj.exe`` as
``evilexe.jpg``, zero-width characters) is refused rather than cleaned up; the rest is
NFC-normalised and cut to :data:`NAME_MAX` characters.

The type is decided by the content, never by the name or the declared
``Content-Type``: the name's extension must be allowed, and the content must be of that
extension's kind (puremagic's signatures, Pillow's decoders, UTF-8 for text). Content a
browser may execute (HTML, SVG, XML, script, programs) is recognised by the leading
patterns of the WHATWG MIME Sniffing standard, whatever the extension claims.
"""

from __future__ import annotations

import codecs
import io
import re
import typing as t
import unicodedata
from dataclasses import dataclass, field

import puremagic

from ..config.sections import EXECUTABLE_EXTENSIONS

#: Longest original name kept, in characters.
NAME_MAX = 255
#: Bytes of the start of a file that type detection reads.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Kind:
    """What the files of one extension are."""

    #: The type the file is stored and served as.
    content_type: str
    #: puremagic extensions that count as this kind.
    magic: frozenset[str] = frozenset()
    #: Pillow's format name, for images (decoded, checked and re-encoded).
    image: str | None = None
    #: UTF-8 text without NUL bytes.
    text: bool = False
    #: A zip archive (checked for bombs and climbing paths).
    archive: bool = False
    #: Further ``Content-Type`` values browsers send for it.
    aliases: frozenset[str] = field(default_factory=frozenset)


def _image(content_type: str, fmt: str, *magic: str, aliases: tuple[str, ...] = ()) -> Kind:
    return Kind(content_type, frozenset(magic), image=fmt, aliases=frozenset(aliases))


def _text(content_type: str, *aliases: str) -> Kind:
    return Kind(content_type, text=True, aliases=frozenset(aliases))


_JPEG = _image("image/jpeg", "JPEG", ".jpg", ".jpeg", ".jfif", aliases=("image/jpg", "image/pjpeg"))
_HTML = _text("text/html", "application/xhtml+xml")
_JS = _text("text/javascript", "application/javascript", "application/x-javascript")
_PE = Kind(
    "application/vnd.microsoft.portable-executable",
    frozenset({".exe", ".dll"}),
    aliases=frozenset({"application/x-msdownload", "application/x-msdos-program"}),
)
#: Extension -> kind, for every extension the configuration may allow.
KINDS: dict[str, Kind] = {
    "png": _image("image/png", "PNG", ".png"),
    "jpg": _JPEG,
    "jpeg": _JPEG,
    "gif": _image("image/gif", "GIF", ".gif"),
    "webp": _image("image/webp", "WEBP", ".webp"),
    "pdf": Kind("application/pdf", frozenset({".pdf"}), aliases=frozenset({"application/x-pdf"})),
    "txt": _text("text/plain"),
    "csv": _text("text/csv", "text/plain", "application/vnd.ms-excel"),
    "md": _text("text/markdown", "text/plain", "text/x-markdown"),
    "zip": Kind(
        "application/zip",
        frozenset({".zip"}),
        archive=True,
        aliases=frozenset({"application/x-zip-compressed"}),
    ),
    "html": _HTML,
    "htm": _HTML,
    "xhtml": _HTML,
    "svg": _text("image/svg+xml"),
    "xml": _text("application/xml", "text/xml"),
    "js": _JS,
    "mjs": _JS,
    "exe": _PE,
    "dll": _PE,
}
#: Declared types that say nothing: a part may always be sent as one of them.
NEUTRAL_TYPES = frozenset({"", "application/octet-stream"})

# WHATWG MIME Sniffing, "identifying a resource with an unknown MIME type": after
# whitespace, these open an HTML or XML document (each tag followed by a space or '>').
_MARKUP_START = re.compile(
    rb"[\t\n\f\r ]*(?:<\?xml|<!--|<!doctype html|<(?:html|head|script|iframe|h1|div|font"
    rb"|table|a|style|title|b|body|br|p|svg|math|object|embed)[\t\n\f\r >/])",
    re.IGNORECASE,
)
#: Markers of HTML or script anywhere in an image: a polyglot (an image that is also a
#: page, a PHP file or a script).
_POLYGLOT = (
    b"<script", b"<html", b"<body", b"<iframe", b"<svg", b"<object", b"<embed", b"<?php",
    b"javascript:",
)  # fmt: skip
#: Programs: Windows PE/DOS, ELF, Mach-O and scripts with a #! line.
_PROGRAM_START = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe", b"#!")
#: Unicode categories refused in a file name: control, format, line and paragraph
#: separators, surrogates, private use, unassigned.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def name_problem(name: str) -> str | None:
    """Why the original file name ``name`` is refused, or ``None``."""
    if not name or not name.strip():
        return "empty"
    if "\x00" in name:
        return "NUL"
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        return "path"
    for char in name:
        # Cc: control characters; Cf: format characters (bidirectional overrides,
        # zero-width joiners, the BOM); Zl/Zp: line and paragraph separators (a new line
        # in a log or a header); Cs/Co/Cn: surrogates, private use, unassigned.
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            return "control"
    if len(name) > NAME_MAX:
        return "length"
    return None


def clean_name(name: str) -> str:
    """``name`` NFC-normalised and stripped of surrounding spaces (call
    :func:`name_problem` first)."""
    return unicodedata.normalize("NFC", name).strip()


def extension_of(name: str) -> str:
    """The lower-case extension of ``name`` (``""`` for none); compatibility forms
    (fullwidth letters) count as the letters they stand for."""
    base, dot, ext = unicodedata.normalize("NFKC", name).rstrip(". ").rpartition(".")
    return ext.lower() if dot and base else ""


def executable_content(head: bytes) -> bool:
    """Whether ``head`` (the start of a file) opens a document or program a browser or
    a system may run: HTML, XML, SVG, a PE/ELF/Mach-O binary, a script."""
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    if head.startswith(_PROGRAM_START) or _MARKUP_START.match(head):
        return True
    return any(m.extension in _EXECUTABLE_MAGIC for m in _magic(head))


_EXECUTABLE_MAGIC = frozenset(f".{ext}" for ext in EXECUTABLE_EXTENSIONS) | {".com", ".elf"}


def _magic(head: bytes) -> list[t.Any]:
    try:
        return list(puremagic.magic_stream(io.BytesIO(head)))
    except (puremagic.PureError, ValueError):
        return []


def magic_matches(kind: Kind, head: bytes) -> bool:
    """Whether puremagic finds ``head`` to be of ``kind``."""
    return any(m.extension in kind.magic for m in _magic(head))


def is_text(src: t.BinaryIO) -> bool:
    """Whether everything ``src`` yields is UTF-8 without NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := src.read(HEAD_BYTES):
            if b"\x00" in block:
                return False
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def has_polyglot_markers(src: t.BinaryIO) -> bool:
    """Whether ``src`` holds HTML or script markers anywhere (blocks overlap, so a
    marker across two blocks is found)."""
    # Plain substring searches of the lower-cased bytes: ten times faster than one
    # case-insensitive regular expression over a photo's megabytes.
    tail = b""
    while block := src.read(_POLYGLOT_BLOCK):
        window = (tail + block).lower()
        if any(marker in window for marker in _POLYGLOT):
            return True
        tail = block[-16:]
    return False


_POLYGLOT_BLOCK = 1024 * 1024


def declared_ok(kind: Kind, declared: str) -> bool:
    """Whether a part's declared ``Content-Type`` (its essence, lower case) agrees with
    ``kind``."""
    return declared in NEUTRAL_TYPES or declared == kind.content_type or declared in kind.aliases
