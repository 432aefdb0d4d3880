"""Files that survive a crash or a power cut, for the admin server and the kiosk alike.

A file is either the old one or the complete new one (written to a temporary name, fsynced,
renamed); a rename counts only once its directory is fsynced too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

READ_SIZE = 1024 * 1024


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename, creation or removal in ``directory`` survive a power loss."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o644, *, replace: bool = True) -> bool:
    """Write ``data`` as ``path`` whole or not at all; the temporary file gets ``mode`` from the start.

    ``replace=False`` links instead of renaming, so a file another process made meanwhile wins;
    returns whether this call's data is the one in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per process: no two writers share it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    written = True
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                written = False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_directory(path.parent)
    return written


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The hex sha256 of a file and its size, read once."""
    with open(path, "rb") as file:
        digest = hashlib.file_digest(file, "sha256")
        return digest.hexdigest(), file.tell()
