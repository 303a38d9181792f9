"""Encrypted streams: chunked AES-GCM files in constant memory; truncation, reordering,
duplication, appending, tampering and a wrong context are each one DecryptionFailed."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import typing as t
from pathlib import Path

import pytest

from flask_bastion.crypto import (
    CHUNK_SIZE,
    DecryptionFailed,
    KeyRing,
    decrypt_stream,
    encrypt_stream,
    open_decrypted,
    rotate_file,
    stream_key_id,
)
from flask_bastion.crypto.keyring import TAG_BYTES
from flask_bastion.crypto.streams import MAX_CHUNK_SIZE

OLD = KeyRing([bytes(range(32))])
BOTH = KeyRing([bytes(range(32, 64)), bytes(range(32))])
CONTEXT = b"upload:ab12"
SMALL = 1024  # chunk size of the tamper tests: several chunks from a few KiB


def seal(data: bytes, *, ring: KeyRing = OLD, chunk_size: int = SMALL) -> bytes:
    out = io.BytesIO()
    assert encrypt_stream(
        io.BytesIO(data), out, context=CONTEXT, ring=ring, chunk_size=chunk_size
    ) == len(data)
    return out.getvalue()


def unseal(blob: bytes, *, context: bytes = CONTEXT, ring: KeyRing = OLD) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, context=context, ring=ring)
    return out.getvalue()


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the sealed chunks of a stream made with SMALL chunks."""
    length = struct.unpack(">H", blob[16:18])[0]
    header, body = blob[: 18 + length], blob[18 + length :]
    size = SMALL + TAG_BYTES
    return header, [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize(
    "size",
    [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 5 * SMALL + 17],
    ids=["empty", "one", "under-chunk", "exact-chunk", "over-chunk", "three-chunks", "ragged"],
)
def test_round_trip(size: int) -> None:
    """Every length, including exact multiples of the chunk size, comes back whole."""
    data = os.urandom(size)
    assert unseal(seal(data)) == data


def test_exact_multiple_ends_with_an_empty_final_chunk() -> None:
    """A full chunk is never final, so a length that fills its chunks adds an empty one."""
    _, chunks = split(seal(b"a" * 2 * SMALL))
    assert [len(c) for c in chunks] == [SMALL + TAG_BYTES, SMALL + TAG_BYTES, TAG_BYTES]


def test_no_plaintext_and_fresh_keys() -> None:
    """The same data sealed twice shares no bytes past the magic, and shows no plaintext."""
    data = b"attack at dawn " * 200
    one, two = seal(data), seal(data)
    assert b"attack" not in one and one[32:64] != two[32:64] and one != two


def test_key_id_in_header() -> None:
    """The header names the ring key that wrapped the file key, readable without it."""
    assert stream_key_id(io.BytesIO(seal(b"x"))) == OLD.current_id


def _mutations() -> list[t.Any]:
    def truncate_at_boundary(h: bytes, c: list[bytes]) -> bytes:
        return h + b"".join(c[:-1])

    def truncate_inside(h: bytes, c: list[bytes]) -> bytes:
        return (h + b"".join(c))[:-5]

    def drop_middle(h: bytes, c: list[bytes]) -> bytes:
        return h + c[0] + b"".join(c[2:])

    def swap(h: bytes, c: list[bytes]) -> bytes:
        return h + c[1] + c[0] + b"".join(c[2:])

    def duplicate(h: bytes, c: list[bytes]) -> bytes:
        return h + c[0] + c[0] + b"".join(c[1:])

    def append(h: bytes, c: list[bytes]) -> bytes:
        return h + b"".join(c) + b"more"

    def append_chunk(h: bytes, c: list[bytes]) -> bytes:
        return h + b"".join(c) + c[-1]

    def flip_body(h: bytes, c: list[bytes]) -> bytes:
        body = bytearray(b"".join(c))
        body[SMALL + 3] ^= 1
        return h + bytes(body)

    def flip_header(h: bytes, c: list[bytes]) -> bytes:
        header = bytearray(h)
        header[10] ^= 1  # the nonce prefix
        return bytes(header) + b"".join(c)

    def bigger_chunks(h: bytes, c: list[bytes]) -> bytes:
        return h[:5] + struct.pack(">I", 2048) + h[9:] + b"".join(c)

    def huge_chunks(h: bytes, c: list[bytes]) -> bytes:
        return h[:5] + struct.pack(">I", 2**31) + h[9:] + b"".join(c)

    def header_only(h: bytes, c: list[bytes]) -> bytes:
        return h

    def other_file(h: bytes, c: list[bytes]) -> bytes:
        oh, _ = split(seal(b"z" * 3 * SMALL + b"tail"))
        return oh + b"".join(c)

    return [
        pytest.param(f, id=f.__name__.replace("_", "-"))
        for f in (
            truncate_at_boundary,
            truncate_inside,
            drop_middle,
            swap,
            duplicate,
            append,
            append_chunk,
            flip_body,
            flip_header,
            bigger_chunks,
            huge_chunks,
            header_only,
            other_file,
        )
    ]


@pytest.mark.parametrize("mutate", _mutations())
def test_tampering_is_detected(mutate: t.Callable[[bytes, list[bytes]], bytes]) -> None:
    """Each edit of a stored stream raises DecryptionFailed before the stream ends."""
    header, chunks = split(seal(os.urandom(3 * SMALL + 100)))
    with pytest.raises(DecryptionFailed):
        unseal(mutate(header, chunks))


def test_wrong_context_and_missing_key() -> None:
    """A file opens only with its context and with a ring holding its key."""
    blob = seal(b"data")
    with pytest.raises(DecryptionFailed):
        unseal(blob, context=b"upload:other")
    with pytest.raises(DecryptionFailed):
        unseal(blob, ring=KeyRing([bytes(range(64, 96))]))


@pytest.mark.parametrize(
    "blob", [b"", b"BSTM", b"XXXX" + bytes(40), b"not a stream at all"], ids=str
)
def test_garbage_is_one_error(blob: bytes) -> None:
    """Anything that is not a stream raises the same DecryptionFailed."""
    with pytest.raises(DecryptionFailed):
        unseal(blob)


def test_chunk_size_bounds() -> None:
    """Chunk sizes outside 1 KiB .. 4 MiB are refused."""
    for size in (512, MAX_CHUNK_SIZE + 1):
        with pytest.raises(ValueError, match="chunk_size"):
            seal(b"x", chunk_size=size)


class Trickle(io.RawIOBase):
    """A source that returns at most 100 bytes per read, as a socket may."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        chunk = self.data.read(min(len(buffer), 100))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_short_reads_are_completed() -> None:
    """Sources that return less than asked (sockets) give the same result."""
    data = os.urandom(5 * SMALL + 3)
    out = io.BytesIO()
    encrypt_stream(
        t.cast(t.BinaryIO, Trickle(data)), out, context=CONTEXT, ring=OLD, chunk_size=SMALL
    )
    back = io.BytesIO()
    decrypt_stream(t.cast(t.BinaryIO, Trickle(out.getvalue())), back, context=CONTEXT, ring=OLD)
    assert back.getvalue() == data


def test_open_decrypted_reads_like_a_file() -> None:
    """open_decrypted gives a buffered reader: small reads, then the rest."""
    data = os.urandom(3 * SMALL + 5)
    reader = open_decrypted(io.BytesIO(seal(data)), context=CONTEXT, ring=OLD)
    assert reader.read(10) + reader.read() == data


class Zeros(io.RawIOBase):
    """``size`` zero bytes, made on the fly (no buffer of the whole)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def test_constant_memory(tmp_path: Path) -> None:
    """Encrypting and decrypting 64 MiB through files peaks at a few chunks of memory
    (tracemalloc), not the file's size."""
    size = 64 * 1024 * 1024
    sealed = tmp_path / "big.enc"
    tracemalloc.start()
    try:
        with sealed.open("wb") as dst:
            encrypt_stream(t.cast(t.BinaryIO, Zeros(size)), dst, context=CONTEXT, ring=OLD)
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = 0
        with sealed.open("rb") as src:
            reader = open_decrypted(src, context=CONTEXT, ring=OLD)
            while chunk := reader.read(CHUNK_SIZE):
                count += len(chunk)
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == size
    assert sealed.stat().st_size > size
    assert encrypt_peak < 8 * CHUNK_SIZE, encrypt_peak
    assert decrypt_peak < 8 * CHUNK_SIZE, decrypt_peak


def test_rotate_file(tmp_path: Path) -> None:
    """rotate_file moves a file under the newest key, keeps its mode, and is a no-op
    the second time."""
    path = tmp_path / "f.enc"
    path.write_bytes(seal(b"content" * 1000))
    path.chmod(0o640)
    assert rotate_file(path, context=CONTEXT, ring=BOTH) is True
    with path.open("rb") as src:
        assert stream_key_id(src) == BOTH.current_id
    assert rotate_file(path, context=CONTEXT, ring=BOTH) is False
    assert unseal(path.read_bytes(), ring=BOTH) == b"content" * 1000
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.enc"]


def test_rotate_file_leaves_a_bad_file_alone(tmp_path: Path) -> None:
    """A file that does not decrypt is left byte for byte, with no temporary file."""
    path = tmp_path / "f.enc"
    header, chunks = split(seal(os.urandom(3 * SMALL)))
    broken = header + b"".join(chunks[:-1])
    path.write_bytes(broken)
    with pytest.raises(DecryptionFailed):
        rotate_file(path, context=CONTEXT, ring=BOTH)
    assert path.read_bytes() == broken
    assert [p.name for p in tmp_path.iterdir()] == ["f.enc"]
