"""The shared helpers for files that survive a crash."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from durable import file_sha256, write_atomically


def test_an_atomic_write_replaces_whole_with_its_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "deeper" / "token"
    assert write_atomically(target, b"first", 0o600)
    assert write_atomically(target, b"second", 0o600)
    assert target.read_bytes() == b"second" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["token"]


def test_an_atomic_write_that_must_not_replace_lets_the_first_file_win(tmp_path: Path) -> None:
    target = tmp_path / "keys"
    assert write_atomically(target, b"made by another worker", replace=False)
    assert not write_atomically(target, b"made later", replace=False)
    assert target.read_bytes() == b"made by another worker"
    assert [p.name for p in tmp_path.iterdir()] == ["keys"]


def test_file_sha256_gives_the_hash_and_size(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "recording.mp4"
    path.write_bytes(data)
    assert file_sha256(path) == (hashlib.sha256(data).hexdigest(), len(data))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == (hashlib.sha256(b"").hexdigest(), 0)
