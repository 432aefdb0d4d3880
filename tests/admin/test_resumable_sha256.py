"""The sha256 whose state a later tus chunk, in another worker process, picks up."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys

import pytest

from admin.resumable_sha256 import STATE_SIZE, ResumableSha256, available


def test_libcrypto_is_there_so_uploads_are_hashed_on_the_way_in() -> None:
    # On the servers we deploy to (Debian) this must hold, or every upload is read twice.
    assert available()


@pytest.mark.parametrize("seed", range(5))
def test_saved_and_restored_at_any_split_it_equals_hashlib(seed: int) -> None:
    chooser = random.Random(seed)
    data = chooser.randbytes(chooser.randrange(1, 300_000))
    cuts = sorted(chooser.sample(range(len(data) + 1), k=min(6, len(data) + 1)))
    hasher = ResumableSha256()
    previous = 0
    for cut in [*cuts, len(data)]:
        hasher.update(data[previous:cut])
        hasher = ResumableSha256(hasher.state())
        previous = cut
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_digest_midway_does_not_end_the_hashing() -> None:
    hasher = ResumableSha256()
    hasher.update(b"Bieb ")
    assert hasher.hexdigest() == hashlib.sha256(b"Bieb ").hexdigest()
    hasher.update(b"Vertelpaal")
    assert hasher.hexdigest() == hashlib.sha256(b"Bieb Vertelpaal").hexdigest()


def test_another_process_carries_on_from_the_saved_state() -> None:
    first, second = os.urandom(70_001), os.urandom(50_003)
    hasher = ResumableSha256()
    hasher.update(first)
    script = (
        "import sys; from admin.resumable_sha256 import ResumableSha256 as R; "
        "h = R(bytes.fromhex(sys.argv[1])); h.update(sys.stdin.buffer.read()); print(h.hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, hasher.state().hex()], input=second, capture_output=True, check=True
    )
    assert result.stdout.decode().strip() == hashlib.sha256(first + second).hexdigest()


def test_it_knows_how_many_bytes_it_covers() -> None:
    hasher = ResumableSha256()
    hasher.update(b"x" * 1_000_003)
    assert ResumableSha256(hasher.state()).length == 1_000_003


def test_what_is_not_a_saved_state_is_refused_before_openssl_sees_it() -> None:
    with pytest.raises(ValueError, match=str(STATE_SIZE)):
        ResumableSha256(b"\0" * (STATE_SIZE - 1))
    hasher = ResumableSha256()
    hasher.update(b"abc")
    state = bytearray(hasher.state())
    state[104] = 200  # the position in the block, far beyond its 64 bytes: OpenSSL would write there
    with pytest.raises(ValueError, match="not a saved sha256 state"):
        ResumableSha256(bytes(state))
    for seed in range(200):  # random bytes: never accepted as a state
        with pytest.raises(ValueError):
            ResumableSha256(random.Random(seed).randbytes(STATE_SIZE))
