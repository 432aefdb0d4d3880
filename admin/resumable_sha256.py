"""A sha256 whose state can be saved to disk and picked up by another process.

A tus upload arrives in chunks, each maybe in another gunicorn worker, and its whole sha256 must
match what the kiosk declared. ``hashlib`` objects cannot be saved, so without this the finished
file would be read and hashed again in full at its last chunk (most of that chunk's time). OpenSSL's
``SHA256_CTX`` is a plain public struct, so its bytes are the state; ``libcrypto`` is the library
Python's own ``hashlib`` uses.

A saved state is checked before use (OpenSSL trusts its struct, and a bad position in the block would
make it write out of bounds): anything that is not a sane state raises ``ValueError``.

``available()`` is False where libcrypto or its SHA256_* functions cannot be found, or where they
fail a known-answer test across a save and a restore; callers then hash the file at the end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import struct
from typing import Any

# sizeof(SHA256_CTX): eight hash words, two length words, a 16-word block, num and md_len, all
# 32-bit. The buffer is larger in case a build pads the struct; the self-test proves that these
# bytes carry the whole state.
STATE_SIZE = 112
_BUFFER_SIZE = 256
# Where the struct keeps the length hashed so far (in bits: low, high word), the number of bytes
# waiting in the current 64-byte block, and the digest length.
_LAYOUT = struct.Struct("=32xII64xII")
_BLOCK = 64
_DIGEST_SIZE = 32


@functools.cache
def _libcrypto() -> Any | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        functions = (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final)
    except (OSError, AttributeError):
        return None
    for function in functions:
        function.restype = ctypes.c_int
    lib.SHA256_Init.argtypes = [ctypes.c_void_p]
    lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    return lib


@functools.cache
def available() -> bool:
    if _libcrypto() is None:
        return False
    data = bytes(range(256)) * 3
    first = ResumableSha256()
    first.update(data[:100])  # not on a block boundary: the saved state holds a partial block
    second = ResumableSha256(first.state())
    second.update(data[100:])
    return second.hexdigest() == hashlib.sha256(data).hexdigest()


class ResumableSha256:
    """``update`` and ``hexdigest`` like hashlib's; ``state()`` saves, the constructor restores."""

    def __init__(self, state: bytes | None = None) -> None:
        lib = _libcrypto()
        if lib is None:
            raise RuntimeError("libcrypto's SHA256 functions are not available")
        self._lib = lib
        self._context = ctypes.create_string_buffer(_BUFFER_SIZE)
        if state is None:
            lib.SHA256_Init(self._context)
        else:
            _check(state)
            ctypes.memmove(self._context, state, STATE_SIZE)

    def update(self, data: bytes) -> None:
        self._lib.SHA256_Update(self._context, data, len(data))

    def state(self) -> bytes:
        return self._context.raw[:STATE_SIZE]

    @property
    def length(self) -> int:
        """How many bytes have been hashed."""
        low, high, _waiting, _digest_size = _LAYOUT.unpack(self.state())
        return ((high << 32) | low) // 8

    def hexdigest(self) -> str:
        """The digest of everything so far; this object can go on hashing afterwards."""
        finishing = ctypes.create_string_buffer(self._context.raw, _BUFFER_SIZE)
        digest = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(digest, finishing)
        return digest.raw.hex()


def _check(state: bytes) -> None:
    if len(state) != STATE_SIZE:
        raise ValueError(f"a sha256 state is {STATE_SIZE} bytes, not {len(state)}")
    low, high, waiting, digest_size = _LAYOUT.unpack(state)
    bits = (high << 32) | low
    if digest_size != _DIGEST_SIZE or bits % 8 or waiting != (bits // 8) % _BLOCK:
        raise ValueError("this is not a saved sha256 state")
