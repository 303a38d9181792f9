"""Encrypted files: AES-256-GCM in chunks, streamed in constant memory.

A file is sealed under a fresh random key of its own, which is wrapped by the key ring
(:meth:`~.keyring.KeyRing.encrypt`, bound to the caller's ``context``) into the file's
header. The content follows in chunks (64 KiB by default), each sealed separately, as in
the STREAM construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015), which Tink's
streaming AEAD also follows: chunk ``i`` is sealed with the nonce
``prefix(7) | i(4) | final(1)`` and the associated data ``header | i(8) | final(1)``.

Defends against:

* **Reading stored files.** Without a key of the ring the header's file key stays shut.
* **Tampering, reordering, duplicating, truncating, appending.** Each chunk is
  authenticated with its position and whether it is the last: a changed byte, two chunks
  swapped, a chunk repeated, the end cut off at a chunk boundary or inside a chunk, or
  bytes added after the final chunk all raise :class:`~flask_bastion.exceptions.DecryptionFailed`.
* **Moving a file.** The file key opens only with the ``context`` it was sealed with
  (``b"upload:" + stored_name``), so a file copied over another's name does not decrypt.
* **Memory exhaustion.** Reading and writing hold one chunk at a time; a header that
  claims a huge chunk is refused before anything is allocated.

A chunk is released only once it is authenticated, so a reader never sees forged data;
but a file cut short is detected only at its end, after the chunks before it were
released. A download that fails this way ends early (the client sees a broken transfer);
code that must have all or nothing decrypts to a temporary file first.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import tempfile
import typing as t

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..exceptions import DecryptionFailed
from .keyring import TAG_BYTES, KeyRing, keyring_for, token_key_id

__all__ = [
    "CHUNK_SIZE",
    "DecryptingReader",
    "decrypt_stream",
    "encrypt_stream",
    "open_decrypted",
    "rotate_file",
    "stream_key_id",
]

#: The first bytes of every encrypted file, then the format version.
MAGIC = b"BSTM"
VERSION = 1
#: Plaintext bytes per chunk by default, and the bounds a header may state.
CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = 1024
MAX_CHUNK_SIZE = 4 * 1024 * 1024
#: Bytes of the random nonce prefix; with 4 bytes of index and 1 of flag, 12.
PREFIX_BYTES = 7
#: Chunks one file may have (the 4-byte index): 256 TiB at the default size.
MAX_CHUNKS = 2**32
#: The longest wrapped key a header may hold (a 32-byte key wraps into 93 characters).
MAX_WRAPPED = 256
_FIXED = struct.Struct(">4sBI7sH")  # magic, version, chunk size, nonce prefix, token length
_CONTEXT_PREFIX = b"bastion.stream\x00"


class _Header(t.NamedTuple):
    raw: bytes
    chunk_size: int
    prefix: bytes
    token: str


def _current(ring: KeyRing | None) -> KeyRing:
    if ring is not None:
        return ring
    from flask import current_app

    return keyring_for(current_app._get_current_object())  # type: ignore[attr-defined]


def _read_exactly(src: t.BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of ``src`` (sockets and request
    streams may return less than asked)."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = src.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def encrypt_stream(
    src: t.BinaryIO,
    dst: t.BinaryIO,
    *,
    context: bytes,
    ring: KeyRing | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Encrypt everything ``src`` yields into ``dst``, one chunk in memory at a time.

    :param context: where the file belongs (``b"upload:" + stored_name``); the same bytes
        must be given to decrypt it.
    :param ring: the key ring whose newest key wraps the file's own key; by default the
        current application's (:func:`~.keyring.keyring_for`).
    :param chunk_size: plaintext bytes per chunk, from 1 KiB to 4 MiB.
    :returns: the number of plaintext bytes read.
    :raises ValueError: for a chunk size out of bounds, or a file of more than
        :data:`MAX_CHUNKS` chunks.
    """
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes")
    file_key = AESGCM.generate_key(bit_length=256)
    prefix = os.urandom(PREFIX_BYTES)
    token = _current(ring).encrypt(file_key, context=_CONTEXT_PREFIX + context).encode("ascii")
    header = _FIXED.pack(MAGIC, VERSION, chunk_size, prefix, len(token)) + token
    dst.write(header)
    aead = AESGCM(file_key)
    total = index = 0
    while True:
        block = _read_exactly(src, chunk_size)
        # A full chunk is never the last: a length that is a multiple of the chunk size
        # ends with an empty final chunk, so the reader knows the last chunk by its size.
        final = len(block) < chunk_size
        dst.write(aead.encrypt(_nonce(prefix, index, final), block, _aad(header, index, final)))
        total += len(block)
        if final:
            return total
        index += 1
        if index >= MAX_CHUNKS:
            raise ValueError("the file is too large for one encrypted stream")


def _read_header(src: t.BinaryIO) -> _Header:
    fixed = _read_exactly(src, _FIXED.size)
    if len(fixed) != _FIXED.size:
        raise DecryptionFailed()
    magic, version, chunk_size, prefix, length = _FIXED.unpack(fixed)
    if (
        magic != MAGIC
        or version != VERSION
        or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE
        or length > MAX_WRAPPED
    ):
        raise DecryptionFailed()
    wrapped = _read_exactly(src, length)
    if len(wrapped) != length or not wrapped.isascii():
        raise DecryptionFailed()
    return _Header(fixed + wrapped, chunk_size, prefix, wrapped.decode("ascii"))


def stream_key_id(src: t.BinaryIO) -> str:
    """The ID of the ring key that wrapped the file's key, read from its header (no key
    needed): the file needs rotating when it is not the ring's ``current_id``.

    :raises DecryptionFailed: when ``src`` does not start with a valid header.
    """
    # Only a well-formed token's key ID: a header's garbage (terminal escapes, say) must
    # not reach the operator's terminal through ``rotate-keys --dry-run``.
    return token_key_id(_read_header(src).token)


class DecryptingReader(io.RawIOBase):
    """A readable binary file of the plaintext of an encrypted stream; only
    authenticated chunks are returned. Wrap it in :class:`io.BufferedReader`
    (:func:`open_decrypted`) for ``send_file`` and the like.

    :raises DecryptionFailed: from the constructor for a bad header, a wrong context or a
        missing key; from a read at the chunk that fails (module docstring).
    """

    def __init__(self, src: t.BinaryIO, *, context: bytes, ring: KeyRing | None = None) -> None:
        super().__init__()
        self._src = src
        self._header = _read_header(src)
        key = _current(ring).decrypt(self._header.token, context=_CONTEXT_PREFIX + context)
        if len(key) != 32:
            raise DecryptionFailed()
        self._aead = AESGCM(key)
        self._index = 0
        self._done = False
        self._buffer = memoryview(b"")

    @property
    def chunk_size(self) -> int:
        """Plaintext bytes per chunk, from the header."""
        return self._header.chunk_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        while not self._buffer and not self._done:
            self._buffer = memoryview(self._next_chunk())
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _next_chunk(self) -> bytes:
        header = self._header
        sealed = _read_exactly(self._src, header.chunk_size + TAG_BYTES)
        final = len(sealed) < header.chunk_size + TAG_BYTES
        try:
            plain = self._aead.decrypt(
                _nonce(header.prefix, self._index, final),
                sealed,
                _aad(header.raw, self._index, final),
            )
        except (InvalidTag, ValueError):  # ValueError: shorter than a tag
            raise DecryptionFailed() from None
        if final:
            if self._src.read(1):  # bytes after the final chunk
                raise DecryptionFailed()
            self._done = True
        self._index += 1
        if self._index >= MAX_CHUNKS:
            raise DecryptionFailed()
        return plain


def open_decrypted(
    src: t.BinaryIO, *, context: bytes, ring: KeyRing | None = None
) -> io.BufferedReader:
    """A buffered reader of the plaintext of ``src`` (:class:`DecryptingReader`)."""
    reader = DecryptingReader(src, context=context, ring=ring)
    return io.BufferedReader(reader, buffer_size=reader.chunk_size)


def decrypt_stream(
    src: t.BinaryIO, dst: t.BinaryIO, *, context: bytes, ring: KeyRing | None = None
) -> int:
    """Decrypt ``src`` into ``dst``, one chunk in memory at a time.

    :returns: the number of plaintext bytes written.
    :raises DecryptionFailed: as :class:`DecryptingReader`; what was written before the
        failing chunk is authentic but incomplete, and should be discarded.
    """
    reader = DecryptingReader(src, context=context, ring=ring)
    total = 0
    while chunk := reader.read(reader.chunk_size):
        dst.write(chunk)
        total += len(chunk)
    return total


def rotate_file(
    path: str | os.PathLike[str], *, context: bytes, ring: KeyRing | None = None
) -> bool:
    """Re-encrypt the file at ``path`` under the ring's newest key, if it is under an
    older one. The new file is written next to it and renamed over it, so an
    interruption leaves the old file whole; the file keeps its permissions.

    :returns: whether the file was re-encrypted.
    :raises DecryptionFailed: when the file does not decrypt (it is left as it was).
    """
    ring = _current(ring)
    with open(path, "rb") as src:
        if stream_key_id(src) == ring.current_id:
            return False
        src.seek(0)
        reader = DecryptingReader(src, context=context, ring=ring)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rotate-")
        try:
            with os.fdopen(fd, "wb") as dst:
                encrypt_stream(
                    t.cast(t.BinaryIO, io.BufferedReader(reader)),
                    dst,
                    context=context,
                    ring=ring,
                    chunk_size=reader.chunk_size,
                )
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return True
