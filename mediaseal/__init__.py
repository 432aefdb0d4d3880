"""Sealed recordings: the file format that keeps a visitor's answer unreadable on the kiosk's SD card.

Shared by the kiosk (which seals while it records) and the admin server (which opens what was
uploaded), so that neither package imports the other.

Why this shape
--------------
A kiosk stands in a public hall; its SD card can be taken. Recordings wait on it until the server
has confirmed them, sometimes for days. So they are written *sealed*: only the server's private key
opens them, and the kiosk never holds that key.

* Each recording gets a fresh random 32-byte key (XSalsa20-Poly1305, NaCl's ``SecretBox``). That
  key is written into the file's header sealed to the server's Curve25519 public key (NaCl's
  ``SealedBox``: an ephemeral key pair per seal, so the kiosk can encrypt but never decrypt it).
* The media is a stream of chunks of :data:`CHUNK_SIZE` plaintext bytes (the last one shorter,
  possibly empty), each its own ``SecretBox`` with a 16-byte tag. Chunks let PyAV write through
  the sealer as it records (memory stays at one chunk, whatever the length), and let the kiosk's
  review screen serve Range requests by decrypting only the chunks a range touches.
* Nonce of chunk *i* = the file's random 16-byte prefix, *i* as 7 bytes big-endian, and a final
  flag byte (1 for the last chunk, 0 before). The flag is authenticated with the chunk, so a file
  cut at a chunk boundary (its last chunk was sealed as "not last") or with chunks appended,
  dropped or reordered fails to open: truncation is detected, not mistaken for a short recording.
  The key is fresh per file, so the counter alone would make nonces unique; the prefix costs
  nothing and keeps them unique even if a key were ever reused by mistake.
* The header (magic, version, key id, nonce prefix, sealed key) needs no separate MAC: changing
  any of it changes the key or the nonces, and then no chunk opens.
* The key id is the first 8 bytes of the sha256 of the public key, so the server can keep older
  private keys after a rotation and pick the right one for a file sealed before it.

While the visitor reviews an answer the kiosk service keeps the recording's key in memory (never
on disk) and plays it back through :class:`SealedReader`; it forgets the key once the answer is
sent or thrown away. From then on only the server can open the file.

Where the pieces are: the kiosk's recorder writes through :class:`SealingWriter` (PyAV's
fragmented MP4 never seeks, so it can write into a stream); the outbox keeps only the sha256 of
the recording inside (what the session names and the server stores), so its schema did not
change: the sync service tells a sealed file by its magic and hashes the sealed bytes when it
uploads them (tus metadata ``sealed 1``, ``sha256`` of the sealed bytes, ``plain_sha256``). The
server (``admin/sealing.py``, ``admin/kiosk_api/tus_operations.py``) checks the sealed bytes'
sha256, opens them with :func:`unseal` into a file beside the upload, then checks and stores the
recording as any other. A kiosk without a server key (standalone, or an older server) writes
plain MP4 as before.

Layout (all sizes in bytes)::

    header  MAGIC (6) | VERSION (1) | key id (8) | nonce prefix (16) | SealedBox(key) (80)
    chunk*  SecretBox(key).encrypt(plaintext[i*CHUNK_SIZE : ...], nonce_i) without its nonce
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

MAGIC = b"VPSEAL"
VERSION = 1
CHUNK_SIZE = 64 * 1024  # plaintext bytes per chunk: a Range request decrypts at most two more
KEY_ID_SIZE = 8
PREFIX_SIZE = 16
KEY_SIZE = SecretBox.KEY_SIZE  # 32
TAG_SIZE = SecretBox.MACBYTES  # 16
SEALED_KEY_SIZE = KEY_SIZE + PublicKey.SIZE + TAG_SIZE  # an ephemeral public key and a tag: 80
HEADER_SIZE = len(MAGIC) + 1 + KEY_ID_SIZE + PREFIX_SIZE + SEALED_KEY_SIZE  # 111
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE


class SealError(ValueError):
    """A sealed file that cannot be opened: not sealed, an unknown key, damaged or cut short."""


def key_id(public_key: bytes) -> bytes:
    """The short name of a public key that a sealed file's header carries."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_SIZE]


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """A base64 Curve25519 key (public or private, both 32 bytes); raises SealError."""
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError("the key is not base64") from exc
    if len(key) != PublicKey.SIZE:
        raise SealError(f"a key has {PublicKey.SIZE} bytes, not {len(key)}")
    return key


def is_sealed(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a sealed recording (of a version we know)."""
    return head[: len(MAGIC) + 1] == MAGIC + bytes([VERSION])


def file_is_sealed(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a sealed recording (False when there is no such file)."""
    try:
        with open(path, "rb") as file:
            return is_sealed(file.read(len(MAGIC) + 1))
    except FileNotFoundError:
        return False


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + index.to_bytes(7, "big") + (b"\x01" if final else b"\x00")


@dataclass(frozen=True)
class Sealed:
    """What :meth:`SealingWriter.finish` wrote."""

    plain_sha256: str
    plain_size: int
    sealed_sha256: str
    sealed_size: int
    # The recording's own key, for the visitor's review; never written anywhere in the clear.
    key: bytes = field(repr=False)


class HashingWriter:
    """A write-only, non-seekable file object that hashes what it passes on to ``out``, so a
    finished file is never read again only to hash it. PyAV writes fragmented MP4 into it
    (``empty_moov`` never seeks back)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._out.write(data)

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self._out.flush()

    def fileno(self) -> int:
        return self._out.fileno()


class SealingWriter(HashingWriter):
    """A write-only, non-seekable file object that seals what is written into ``out``.

    PyAV writes fragmented MP4 into it directly (``empty_moov`` never seeks back). It hashes
    both the plaintext (what the server will store) and the sealed bytes (what is uploaded).
    Call :meth:`finish` once everything is written; the caller fsyncs and closes ``out``.
    """

    def __init__(self, out: BinaryIO, public_key: bytes) -> None:
        super().__init__(out)  # what it hashes is the sealed bytes
        self.key = nacl.utils.random(KEY_SIZE)
        self._box = SecretBox(self.key)
        self._prefix = nacl.utils.random(PREFIX_SIZE)
        self._buffer = bytearray()
        self._index = 0
        self._plain = hashlib.sha256()
        self._plain_size = 0
        self._finished: Sealed | None = None
        sealed_key = SealedBox(PublicKey(public_key)).encrypt(self.key)
        self._emit(MAGIC + bytes([VERSION]) + key_id(public_key) + self._prefix + sealed_key)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished is not None:
            raise ValueError("this sealed file is finished")
        self._plain.update(data)
        self._plain_size += len(data)
        self._buffer += data
        # Strictly more than a chunk: what is left at the end is always the (final) last chunk.
        while len(self._buffer) > CHUNK_SIZE:
            self._seal_chunk(bytes(self._buffer[:CHUNK_SIZE]), final=False)
            del self._buffer[:CHUNK_SIZE]
        return len(data)

    def flush(self) -> None:
        """Flush the sealed bytes so far (the open chunk stays in memory until it is full)."""
        self._out.flush()

    def finish(self) -> Sealed:
        """Seal the last chunk; returns the hashes and sizes. Safe to call again."""
        if self._finished is None:
            self._seal_chunk(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._out.flush()
            self._finished = Sealed(
                plain_sha256=self._plain.hexdigest(),
                plain_size=self._plain_size,
                sealed_sha256=self.sha256.hexdigest(),
                sealed_size=self.size,
                key=self.key,
            )
        return self._finished

    def _seal_chunk(self, plaintext: bytes, final: bool) -> None:
        nonce = _nonce(self._prefix, self._index, final)
        self._emit(self._box.encrypt(plaintext, nonce).ciphertext)
        self._index += 1

    def _emit(self, data: bytes) -> None:
        HashingWriter.write(self, data)


@dataclass(frozen=True)
class Header:
    key_id: bytes
    prefix: bytes
    sealed_key: bytes


def read_header(source: BinaryIO) -> Header:
    """The header at the start of ``source``; raises SealError for anything else."""
    source.seek(0)
    head = source.read(HEADER_SIZE)
    if not is_sealed(head):
        raise SealError("this is not a sealed recording (or one of a newer format)")
    if len(head) < HEADER_SIZE:
        raise SealError("the sealed recording is cut off inside its header")
    start = len(MAGIC) + 1
    return Header(
        key_id=head[start : start + KEY_ID_SIZE],
        prefix=head[start + KEY_ID_SIZE : start + KEY_ID_SIZE + PREFIX_SIZE],
        sealed_key=head[start + KEY_ID_SIZE + PREFIX_SIZE :],
    )


def open_key(header: Header, private_keys: Mapping[bytes, PrivateKey]) -> bytes:
    """The recording's key, opened with the private key the header names; raises SealError."""
    private_key = private_keys.get(header.key_id)
    if private_key is None:
        raise SealError(
            f"the recording was sealed to key {header.key_id.hex()}, which this server does not have"
        )
    try:
        return SealedBox(private_key).decrypt(header.sealed_key)
    except nacl.exceptions.CryptoError as exc:
        raise SealError("the recording's key does not open: the header is damaged") from exc


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed file, read-only and seekable, decrypted chunk by chunk.

    Every chunk is authenticated as it is read; a damaged, cut or extended file raises SealError
    at the first chunk that shows it (for the last chunk: when it is read). Reading the whole
    file from start to end therefore proves it complete and unchanged.
    """

    def __init__(self, source: BinaryIO, key: bytes) -> None:
        super().__init__()
        self._source = source
        self._prefix = read_header(source).prefix
        self._box = SecretBox(key)
        source.seek(0, io.SEEK_END)
        body = source.tell() - HEADER_SIZE
        self._chunks = max(1, math.ceil(body / SEALED_CHUNK_SIZE))
        last = body - (self._chunks - 1) * SEALED_CHUNK_SIZE
        if last < TAG_SIZE:
            raise SealError("the sealed recording is cut off: its last chunk is incomplete")
        self.size = body - self._chunks * TAG_SIZE
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """Close this reader and the sealed file under it."""
        if not self.closed:
            self._cached = None
            self._source.close()
        super().close()

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._position >= self.size:
            if self._position == self.size and self.size == 0:
                self._chunk(0)  # an empty recording still has its final chunk to check
            return 0
        index, skip = divmod(self._position, CHUNK_SIZE)
        plaintext = self._chunk(index)
        count = min(len(buffer), len(plaintext) - skip)
        buffer[:count] = plaintext[skip : skip + count]
        self._position += count
        return count

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        self._source.seek(HEADER_SIZE + index * SEALED_CHUNK_SIZE)
        sealed = self._source.read(SEALED_CHUNK_SIZE)
        final = index == self._chunks - 1
        try:
            plaintext = self._box.decrypt(sealed, _nonce(self._prefix, index, final))
        except nacl.exceptions.CryptoError as exc:
            raise SealError(
                f"chunk {index} of the sealed recording does not open: the file is damaged or cut off"
            ) from exc
        self._cached = (index, plaintext)
        return plaintext


@dataclass(frozen=True)
class Unsealed:
    plain_sha256: str
    plain_size: int


def unseal(source: BinaryIO, target: BinaryIO, private_keys: Mapping[bytes, PrivateKey]) -> Unsealed:
    """Decrypt a whole sealed file into ``target`` (streaming), checking every chunk and the end."""
    key = open_key(read_header(source), private_keys)
    reader = SealedReader(source, key)
    digest = hashlib.sha256()
    size = 0
    if reader.size == 0:
        reader.read(1)  # checks the single, empty, final chunk
    while block := reader.read(4 * CHUNK_SIZE):
        digest.update(block)
        target.write(block)
        size += len(block)
    return Unsealed(digest.hexdigest(), size)
