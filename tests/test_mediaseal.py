"""The sealed-recording format: what the kiosk writes only the server's private key opens, whole."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from nacl.public import PrivateKey

import mediaseal
from mediaseal import (
    CHUNK_SIZE,
    HEADER_SIZE,
    SEALED_CHUNK_SIZE,
    SealedReader,
    SealError,
    SealingWriter,
    unseal,
)


def seal(plaintext: bytes, private_key: PrivateKey, pieces: int = 7) -> tuple[bytes, mediaseal.Sealed]:
    out = io.BytesIO()
    writer = SealingWriter(out, bytes(private_key.public_key))
    step = max(1, len(plaintext) // pieces)
    for start in range(0, len(plaintext), step):  # written in odd pieces, as PyAV does
        writer.write(plaintext[start : start + step])
    result = writer.finish()
    return out.getvalue(), result


def keys_of(*private_keys: PrivateKey) -> dict[bytes, PrivateKey]:
    return {mediaseal.key_id(bytes(k.public_key)): k for k in private_keys}


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_sealed_file_opens_to_exactly_the_plaintext(size: int) -> None:
    private_key = PrivateKey.generate()
    plaintext = os.urandom(size)
    sealed, result = seal(plaintext, private_key)
    assert result.plain_sha256 == hashlib.sha256(plaintext).hexdigest()
    assert result.plain_size == size
    assert result.sealed_sha256 == hashlib.sha256(sealed).hexdigest()
    assert result.sealed_size == len(sealed)
    if size >= 16:
        assert plaintext[:16] not in sealed
    target = io.BytesIO()
    opened = unseal(io.BytesIO(sealed), target, keys_of(PrivateKey.generate(), private_key))
    assert target.getvalue() == plaintext
    assert (opened.plain_sha256, opened.plain_size) == (result.plain_sha256, size)


def test_ranges_read_through_the_review_key() -> None:
    private_key = PrivateKey.generate()
    plaintext = os.urandom(5 * CHUNK_SIZE + 1000)
    sealed, result = seal(plaintext, private_key)
    reader = SealedReader(io.BytesIO(sealed), result.key)
    assert reader.size == len(plaintext)
    ranges = [(0, 10), (CHUNK_SIZE - 5, 10), (3 * CHUNK_SIZE + 7, 2 * CHUNK_SIZE), (len(plaintext) - 3, 50)]
    for start, length in ranges:
        reader.seek(start)
        got = b""
        while len(got) < length and (block := reader.read(length - len(got))):
            got += block
        assert got == plaintext[start : start + length]


def test_without_the_right_private_key_nothing_opens() -> None:
    sealed, _ = seal(os.urandom(1000), PrivateKey.generate())
    with pytest.raises(SealError, match="does not have"):
        unseal(io.BytesIO(sealed), io.BytesIO(), keys_of(PrivateKey.generate()))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[:-1], id="cut inside the last chunk"),
        pytest.param(lambda b: b[: HEADER_SIZE + 2 * (CHUNK_SIZE + 16)], id="cut at a chunk boundary"),
        pytest.param(lambda b: b + b[HEADER_SIZE : HEADER_SIZE + CHUNK_SIZE + 16], id="a chunk appended"),
        pytest.param(lambda b: b[:HEADER_SIZE] + b[HEADER_SIZE + SEALED_CHUNK_SIZE :], id="chunk dropped"),
        pytest.param(lambda b: b[:500] + bytes([b[500] ^ 1]) + b[501:], id="one bit flipped"),
        pytest.param(lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], id="nonce prefix changed"),
        pytest.param(lambda b: b[:HEADER_SIZE], id="header only"),
        pytest.param(lambda b: b[:50], id="cut inside the header"),
    ],
)
def test_damaged_or_cut_files_are_refused(damage) -> None:
    private_key = PrivateKey.generate()
    sealed, _ = seal(os.urandom(3 * CHUNK_SIZE + 100), private_key)
    target = io.BytesIO()
    with pytest.raises(SealError):
        unseal(io.BytesIO(damage(sealed)), target, keys_of(private_key))


def test_plain_files_are_not_taken_for_sealed_ones() -> None:
    with pytest.raises(SealError, match="not a sealed recording"):
        unseal(io.BytesIO(b"\x00\x00\x00\x18ftypisom" + bytes(200)), io.BytesIO(), {})
