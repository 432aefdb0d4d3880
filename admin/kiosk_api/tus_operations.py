"""The data side of the tus upload endpoint: Upload rows, partial files, locks, completion.

All state of an unfinished upload lives in its ``Upload`` row and in one file,
``MEDIA_ROOT/uploads/<id>.part``, whose name the server chose; so an upload survives a restart and
any gunicorn worker can continue it. The file's size *is* the upload offset: bytes are fsynced
before an offset is reported, and a chunk that fails its checksum is cut off again.

Requests that touch one partial file take an ``flock`` on it, so two PATCHes of the same upload
never interleave, even in different worker processes. A request that waited for the lock
re-reads the row afterwards, because the holder may have finished or removed the upload.

The caller commits (views, and the CLI or timer that calls ``purge_expired_uploads``).
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from flask import current_app
from sqlalchemy import and_, bindparam, select
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

import mediaseal
from admin import sealing
from admin.extensions import db
from admin.mediacheck import BadMedia
from admin.mediafiles.operations import Expect, check_path, store_checked
from admin.models import Kiosk, Media, Upload, utcnow
from admin.storage import MEDIA_FILE_MODE, SHA256_PATTERN, FileMediaStore, media_store
from durable import file_sha256, fsync_directory

#: What a kiosk may upload, and how the server checks that the bytes really are that.
FILETYPES = {"video/mp4": Expect.RECORDED_VIDEO, "audio/mp4": Expect.RECORDED_VOICE}
#: The Upload-Metadata keys the server keeps; others (from generic clients) are ignored.
METADATA_KEYS = ("filename", "filetype", "sha256", "answer", "sealed", "plain_sha256")
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}

# Measured fastest (bench/bench_sync.py): 1 MiB reads spend twice as long copying through
# gunicorn's buffers, which then no longer fit the CPU's cache; 64 KiB reads cost more Python
# turns. The buffer is all the memory one PATCH holds, whatever the chunk size.
READ_SIZE = 256 * 1024
# How long a request waits for another request on the same upload before answering 423 Locked.
# Long enough for a finishing PATCH (hash, media check, store), short enough that a retry after
# a cut connection whose old request still hangs on the server is not held up for long.
LOCK_WAIT_SECONDS = 10.0
LOCK_POLL_SECONDS = 0.02
# Saved hash states of versions before 0.2 (which carried the sha256 from chunk to chunk): swept.
LEGACY_HASH_STATE_SUFFIX = ".sha256state"
# A partial file without an unfinished upload row is left alone this long, because a POST makes
# its file just before it commits its row.
ORPHAN_GRACE = timedelta(hours=1)


class TusError(Exception):
    """A refusal with the HTTP status the tus protocol asks for and a message for the kiosk."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True)
class Checksum:
    """A parsed ``Upload-Checksum`` header: the digest the chunk must have."""

    algorithm: str
    digest: bytes

    def new_hasher(self) -> Hasher:
        hasher: Hasher = CHECKSUM_ALGORITHMS[self.algorithm]()
        return hasher


# --- settings ----------------------------------------------------------------------------


def max_upload_bytes() -> int:
    return int(current_app.config.get("MAX_RECORDING_MB", 300)) * 1024 * 1024


def expiry_period() -> timedelta:
    return timedelta(hours=float(current_app.config.get("UPLOAD_EXPIRY_HOURS", 48)))


def uploads_dir() -> Path:
    return Path(current_app.config["MEDIA_ROOT"]) / "uploads"


def partial_path(upload_id: str) -> Path:
    # The id is a UUID the server made (and the views only look up canonical UUIDs), so nothing
    # a client sent ever becomes part of a path.
    return uploads_dir() / f"{uuid.UUID(upload_id)}.part"


# --- headers -------------------------------------------------------------------------------


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be absent)."""
    pairs: dict[str, str] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        encoded = encoded.strip()
        if not key or " " in encoded:
            raise TusError(400, f"Upload-Metadata: {item[:40]!r} is not 'key base64value'")
        if key in pairs:
            raise TusError(400, f"Upload-Metadata: the key {key!r} is given twice")
        try:
            pairs[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise TusError(400, f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text") from exc
    return pairs


def encode_metadata(meta: dict[str, Any]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode('ascii')}" for key, value in meta.items()
    )


# Beside the keys the server uses, the Upload-Metadata header as the client sent it: tus 1.0.0
# says a HEAD returns it so. No client key can take this name: only METADATA_KEYS are kept.
CLIENT_HEADER_KEY = "tus:client-header"


def upload_metadata(header: str) -> dict[str, str]:
    """What an upload keeps of its ``Upload-Metadata`` header: the checked keys, and the header."""
    return {**recording_metadata(parse_metadata(header)), CLIENT_HEADER_KEY: header}


def client_metadata(upload: Upload) -> str:
    """The Upload-Metadata header for a HEAD (rebuilt for uploads made before it was kept)."""
    if CLIENT_HEADER_KEY in upload.meta:
        return str(upload.meta[CLIENT_HEADER_KEY])
    return encode_metadata(upload.meta)


def recording_metadata(raw: dict[str, str]) -> dict[str, str]:
    """The metadata a kiosk must send with a recording, checked; raises ``TusError``."""
    filetype = raw.get("filetype", "")
    if filetype not in FILETYPES:
        raise TusError(415, f"filetype must be one of {', '.join(FILETYPES)}, not {filetype[:80]!r}")
    sha256 = raw.get("sha256", "").strip().lower()
    if not SHA256_PATTERN.match(sha256):
        raise TusError(400, "Upload-Metadata must hold sha256: the hex sha256 of the whole file")
    meta = {"filetype": filetype, "sha256": sha256}
    if "sealed" in raw or "plain_sha256" in raw:
        # A sealed recording (kiosk/mediaseal): sha256 is of the sealed bytes that travel,
        # plain_sha256 of the recording inside, which is what is stored and what sessions name.
        plain_sha256 = raw.get("plain_sha256", "").strip().lower()
        if raw.get("sealed") != "1" or not SHA256_PATTERN.match(plain_sha256):
            raise TusError(400, "Upload-Metadata: a sealed recording has sealed 1 and plain_sha256 (hex)")
        meta.update(sealed="1", plain_sha256=plain_sha256)
    if "answer" in raw:
        try:
            meta["answer"] = str(uuid.UUID(raw["answer"]))
        except ValueError as exc:
            raise TusError(400, "Upload-Metadata: answer must be a UUID") from exc
    if "filename" in raw:
        meta["filename"] = raw["filename"][:255]
    return {key: meta[key] for key in METADATA_KEYS if key in meta}


def parse_checksum(header: str) -> Checksum:
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(400, f"Upload-Checksum: unsupported algorithm {algorithm[:20]!r}; use sha1 or sha256")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise TusError(400, "Upload-Checksum: the checksum is not base64") from exc
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise TusError(400, f"Upload-Checksum: not a {algorithm} digest")
    return Checksum(algorithm, digest)


# --- uploads -------------------------------------------------------------------------------


def _canonical_id(upload_id: str) -> str | None:
    try:
        canonical = str(uuid.UUID(upload_id))
    except ValueError:
        return None
    return canonical if canonical == upload_id else None


# Built once: a kiosk sends one request per chunk, and building a statement costs more than
# running it.
_KIOSK_AND_UPLOAD = (
    select(Kiosk, Upload)
    .outerjoin(Upload, and_(Upload.kiosk_id == Kiosk.id, Upload.id == bindparam("upload_id")))
    .where(Kiosk.token_hash == bindparam("token_hash"))
)


def kiosk_and_upload(token_hash: str, upload_id: str) -> tuple[Kiosk, Upload | None] | None:
    """The kiosk holding this token, with its own upload of this id if there is one."""
    parameters = {"token_hash": token_hash, "upload_id": _canonical_id(upload_id) or ""}
    row = db.session.execute(_KIOSK_AND_UPLOAD, parameters).first()
    return (row[0], row[1]) if row is not None else None


def find_upload(kiosk: Kiosk, upload_id: str) -> Upload | None:
    """The kiosk's own upload with this id (another kiosk's is as unknown as a missing one)."""
    canonical = _canonical_id(upload_id)
    if canonical is None:
        return None
    return db.session.scalar(
        select(Upload)
        .where(Upload.id == canonical, Upload.kiosk_id == kiosk.id)
        # A request that waited for the file lock must see what the previous holder committed.
        .execution_options(populate_existing=True)
    )


def is_expired(upload: Upload, now: datetime | None = None) -> bool:
    return upload.completed_at is None and upload.expires_at <= (now or utcnow())


def check_length(length: int) -> None:
    if length <= 0:
        raise TusError(400, "Upload-Length must be at least 1: an empty file is no recording")
    limit = max_upload_bytes()
    if length > limit:
        raise TusError(413, f"this recording is {length} bytes; at most {limit} bytes are accepted")


def create_upload(kiosk: Kiosk, length: int, meta: dict[str, str]) -> Upload:
    """A new upload row and its empty partial file (made first, so a row never lacks one)."""
    check_length(length)
    upload = Upload(
        id=str(uuid.uuid4()),
        kiosk_id=kiosk.id,
        length=length,
        meta=meta,
        created_at=utcnow(),
    )
    upload.expires_at = upload.created_at + expiry_period()
    directory = uploads_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(partial_path(upload.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    fsync_directory(directory)  # the file's name must survive a power cut as well as its bytes
    db.session.add(upload)
    db.session.flush()
    return upload


class Partial:
    """The open, locked partial file of one upload."""

    def __init__(self, upload_id: str, path: Path, fd: int) -> None:
        self.upload_id = upload_id
        self.path = path
        self.fd = fd

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    @property
    def removed(self) -> bool:
        """Whether another request finished (moved) or deleted the file while this one waited."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self.fd)
        return (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino)


@contextmanager
def locked_partial(upload: Upload, *, shared: bool = False, wait: float | None = None) -> Iterator[Partial]:
    """The upload's partial file, locked (shared: only to read its size).

    Raises ``TusError`` 404 when the file is gone and 423 when another request holds it longer
    than ``wait`` seconds.
    """
    path = partial_path(upload.id)
    try:
        fd = os.open(path, os.O_RDONLY if shared else os.O_RDWR)
    except FileNotFoundError as exc:
        raise TusError(404, "this upload is gone; start a new one") from exc
    try:
        _lock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, LOCK_WAIT_SECONDS if wait is None else wait)
        yield Partial(upload.id, path, fd)
    finally:
        os.close(fd)  # closing also releases the lock


def _lock(fd: int, kind: int, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        # Polling rather than a blocking flock, so a request stuck behind a hung one gives up.
        if time.monotonic() >= deadline:
            raise TusError(
                423, "another request is writing this upload; try again shortly", {"Retry-After": "1"}
            )
        time.sleep(LOCK_POLL_SECONDS)


@dataclass(frozen=True)
class Received:
    """What one PATCH left on disk."""

    offset: int
    # The sha256 of the whole file once its last byte is in, when it was hashed on the way in
    # (else the file is read again to check it).
    whole_sha256: str | None


def receive_chunk(
    partial: Partial,
    stream: IO[bytes],
    *,
    length: int,
    declared: int | None,
    checksum: Checksum | None,
) -> Received:
    """Append the request body at the end of the partial file, hashing while writing.

    ``declared`` is the request's Content-Length (None for a chunked body). Never writes past
    ``length``. On a checksum mismatch, a body that runs past the upload, a cut connection under
    a checksum, or a failed write, the file is cut back to where it was: nothing unverified
    stays. A cut connection without a checksum keeps what arrived, so a resume sends only the
    rest. Either way the file is fsynced before this returns or raises.
    """
    start = partial.size
    remaining = length - start
    if declared is not None and declared > remaining:
        raise TusError(413, f"this chunk would end at byte {start + declared}; the upload has {length}")
    chunk_hasher = checksum.new_hasher() if checksum else None
    # A request that carries the whole file is hashed on the way in; an upload in several chunks
    # is read once when it is complete (a hash state carried between requests, through OpenSSL's
    # SHA256_CTX, saved that read but cost a struct layout and deprecated APIs: 1 s per 300 MB).
    whole_hasher = hashlib.sha256() if start == 0 else None
    # For a chunked body, read one byte more than fits, to notice a body that is too long.
    expected = remaining + 1 if declared is None else declared
    written = 0
    try:
        while written < expected:
            data = _read(stream, min(READ_SIZE, expected - written))
            if not data:
                break
            if written + len(data) > remaining:
                raise TusError(413, f"this chunk runs past the end of the upload ({length} bytes)")
            _write_all(partial.fd, data, start + written)
            written += len(data)
            if chunk_hasher is not None:
                chunk_hasher.update(data)
            if whole_hasher is not None:
                whole_hasher.update(data)
        if declared is not None and written < declared:
            raise _BodyCut()
    except _BodyCut as exc:
        if chunk_hasher is not None:
            cut_back(partial, start)
        else:
            _sync(partial.fd)
        raise TusError(400, "the request body ended before its Content-Length") from exc
    except BaseException:
        cut_back(partial, start)
        raise
    if checksum is not None and chunk_hasher is not None and chunk_hasher.digest() != checksum.digest:
        cut_back(partial, start)
        raise TusError(460, f"Upload-Checksum mismatch: the {checksum.algorithm} of this chunk differs")
    _sync(partial.fd)
    end = start + written
    whole_sha256 = whole_hasher.hexdigest() if whole_hasher is not None and end == length else None
    return Received(end, whole_sha256)


class _BodyCut(Exception):
    """The client went away (or the server's reader gave up on it) in the middle of the body."""


def _read(stream: IO[bytes], size: int) -> bytes:
    try:
        return stream.read(size)
    except RequestEntityTooLarge as exc:  # a chunked body beyond the request's max length
        raise TusError(413, "this chunk runs past the end of the upload") from exc
    except (ClientDisconnected, OSError) as exc:
        raise _BodyCut() from exc


def _write_all(fd: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        count = os.pwrite(fd, view, position)
        view = view[count:]
        position += count


def cut_back(partial: Partial, offset: int) -> None:
    """Forget everything after ``offset`` (fsynced), so HEAD reports that offset again."""
    os.ftruncate(partial.fd, offset)
    _sync(partial.fd)


def _sync(fd: int) -> None:
    # fdatasync also writes the new size (needed to read the data back) but skips the times.
    os.fdatasync(fd)


def complete_upload(upload: Upload, partial: Partial, whole_sha256: str | None) -> None:
    """Check the whole file and store it as Media; raises ``TusError`` (then delete the upload).

    The declared sha256 proves the kiosk's file arrived unchanged; opening the file proves it is
    the media it claims to be.
    """
    declared = str(upload.meta.get("sha256", ""))
    actual = whole_sha256
    if actual is None:  # sent in several chunks: read it all once
        actual = file_sha256(partial.path)[0]
    if actual != declared:
        raise TusError(
            460,
            f"the whole file's sha256 is {actual}, not the declared {declared}; "
            "this upload was deleted, start a new one",
        )
    expect = FILETYPES[str(upload.meta.get("filetype"))]
    with _recording_of(upload, partial) as (path, sha256):
        stored = db.session.get(Media, sha256)
        if stored is not None and not (stored.is_recording and stored.kiosk_id == upload.kiosk_id):
            # A recording never takes the identity of a question's file or of another kiosk's
            # upload: answering with it would hand that file to erasure and retention.
            raise TusError(
                422,
                "this file is stored already, but not as a recording of this kiosk; this upload was deleted",
            )
        try:
            checked = check_path(path, expect)
        except BadMedia as exc:
            raise TusError(422, f"{exc} This upload was deleted.") from exc
        store = media_store()
        known = store.exists(sha256)
        checked = replace(checked, path=_move_into_store(path, sha256))
        try:
            media = store_checked(checked, sha256, kiosk_id=upload.kiosk_id)
        except BadMedia as exc:  # the poster could not be made after all
            if not known:
                store.delete(sha256)
            raise TusError(422, f"{exc} This upload was deleted.") from exc
    upload.completed_at = utcnow()
    upload.media_sha256 = media.sha256
    db.session.flush()


@contextmanager
def _recording_of(upload: Upload, partial: Partial) -> Iterator[tuple[Path, str]]:
    """The recording an upload carries and its sha256: the partial file itself, or for a sealed
    upload its plaintext, opened with the server's private key into a file beside it.

    The plaintext file ends in ``.part``, so one that a crash leaves behind is purged like an
    orphaned partial file; on the way out it is removed unless it was moved into the store.
    """
    if upload.meta.get("sealed") != "1":
        yield partial.path, str(upload.meta["sha256"])
        return
    declared = str(upload.meta.get("plain_sha256", ""))
    keys = sealing.load(sealing.key_file()).by_id  # a missing or unreadable key file: a 500, retried
    target = uploads_dir() / f"{uuid.UUID(upload.id)}.plain.part"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(partial.path, "rb") as source, os.fdopen(fd, "wb") as out:
            try:
                opened = mediaseal.unseal(source, out, keys)
            except mediaseal.SealError as exc:
                message = f"the sealed recording does not open: {exc}. This upload was deleted."
                raise TusError(422, message) from exc
            out.flush()
            os.fsync(out.fileno())
        if opened.plain_sha256 != declared:
            raise TusError(
                422,
                f"the sealed recording opens to sha256 {opened.plain_sha256}, not the declared "
                f"plain_sha256 {declared}; this upload was deleted",
            )
        yield target, opened.plain_sha256
    finally:
        target.unlink(missing_ok=True)


def _move_into_store(path: Path, sha256: str) -> Path:
    """Rename the checked, fsynced partial file into a file store instead of copying it.

    A copy of a large recording (and its fsync) would be most of the final PATCH's time; the
    store's ``put_file`` then finds the file in place. Other stores copy the bytes themselves.
    """
    store = media_store()
    if not isinstance(store, FileMediaStore) or store.exists(sha256):
        return path  # put_file copies (other stores) or finds the same bytes already stored
    target = store.path(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path, MEDIA_FILE_MODE)  # as the store's own files: nginx's group may read it
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:  # uploads/ on another file system: let put_file copy
            return path
        raise
    fsync_directory(target.parent)
    return target


def discard_partial(upload_id: str) -> None:
    """Remove a partial file (after the row that needed it is finished or gone)."""
    partial_path(upload_id).unlink(missing_ok=True)


def delete_upload(upload: Upload) -> None:
    """Termination, or an upload that failed its final checks: the row and its bytes go.

    The file goes first: a row without a file reads as gone (404), and expires like any other.
    """
    discard_partial(upload.id)
    db.session.delete(upload)
    db.session.flush()


def purge_expired_uploads(now: datetime | None = None) -> int:
    """Delete unfinished uploads past their expiry, and stray partial files; the caller commits.

    An upload that a request is writing right now is left for the next run. Returns the number
    of uploads deleted.
    """
    now = now or utcnow()
    expired = db.session.scalars(
        select(Upload).where(Upload.completed_at.is_(None), Upload.expires_at <= now)
    ).all()
    count = 0
    for upload in expired:
        try:
            with locked_partial(upload, wait=0):
                delete_upload(upload)
        except TusError as exc:
            if exc.status == 423:
                continue  # busy: the next run gets it
            db.session.delete(upload)  # its file was already gone
        count += 1
    db.session.flush()
    _purge_orphans(now)
    return count


def _purge_orphans(now: datetime) -> None:
    """Partial files that no unfinished upload owns (a crash between file and commit)."""
    directory = uploads_dir()
    if not directory.is_dir():
        return
    unfinished = set(db.session.scalars(select(Upload.id).where(Upload.completed_at.is_(None))))
    cutoff = (now - ORPHAN_GRACE).timestamp()
    for path in [*directory.glob("*.part"), *directory.glob(f"*{LEGACY_HASH_STATE_SUFFIX}")]:
        if path.stem in unfinished:
            continue
        with suppress(FileNotFoundError):  # a request may finish or delete it meanwhile
            if path.stat().st_mtime < cutoff:
                path.unlink()
