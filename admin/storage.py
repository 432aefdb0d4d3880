"""Where media bytes live: one small interface, chosen by configuration.

Files are addressed by their sha256, so the same video uploaded twice is stored once and a name
from a user never reaches the file system.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app

from durable import file_sha256, fsync_directory

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MEDIA_FILE_MODE = 0o640
# A write that fails for want of room: a full disk, a full quota, or a file-size limit
# (RLIMIT_FSIZE, which gives EFBIG).
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS


class MediaStore(Protocol):
    def put_file(self, source: Path, sha256: str | None = None) -> tuple[str, int]:
        """Copy a finished file in; returns (sha256, size). ``sha256``: already checked by the caller."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...

    def path(self, sha256: str) -> Path: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...

    def stored_before(self, moment: float) -> Iterator[str]:
        """sha256 of every file put in before ``moment`` (a Unix time)."""
        ...


def relative_path(sha256: str) -> str:
    """Where a file lives inside any store: ``ab/cd/<sha256>`` (nginx's X-Accel-Redirect uses it too)."""
    if not SHA256_PATTERN.match(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class FileMediaStore:
    """Media in a folder, as ``ab/cd/<sha256>``; written to a temp name, fsynced, then renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / relative_path(sha256)

    def put_file(self, source: Path, sha256: str | None = None) -> tuple[str, int]:
        # A recording's sha256 was checked as it arrived: reading 300 MB again would double the work.
        if sha256 is None:
            sha256, size = file_sha256(source)
        else:
            size = source.stat().st_size
        target = self.path(sha256)
        if target.exists():
            return sha256, size
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            # Group-readable: behind nginx, its group serves the files (X-Accel-Redirect).
            os.chmod(tmp_name, MEDIA_FILE_MODE)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        fsync_directory(target.parent)
        return sha256, size

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def stored_before(self, moment: float) -> Iterator[str]:
        # Only names of the store's own shape: uploads/ and tmp/ live beside them.
        for path in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
            if SHA256_PATTERN.match(path.name) and path.stat().st_mtime < moment:
                yield path.name


def init_app(app: Flask) -> None:
    app.extensions["media_store"] = FileMediaStore(app.config["MEDIA_ROOT"])


def media_store() -> MediaStore:
    store: MediaStore = current_app.extensions["media_store"]
    return store
