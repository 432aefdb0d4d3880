"""The review playback of a sealed recording: Range requests on the plaintext, keys kept in memory."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, request
from nacl.public import PrivateKey

import mediaseal
from kiosk import review


def sealed_file(path: Path, plaintext: bytes) -> bytes:
    with path.open("wb") as out:
        writer = mediaseal.SealingWriter(out, bytes(PrivateKey.generate().public_key))
        writer.write(plaintext)
        return writer.finish().key


def test_ranges_of_a_sealed_file_are_served_decrypted_and_damage_is_a_clear_410(tmp_path: Path) -> None:
    plaintext = os.urandom(3 * mediaseal.CHUNK_SIZE + 123)
    path = tmp_path / "answer.mp4"
    key = sealed_file(path, plaintext)
    app = Flask(__name__)

    @app.get("/media")
    def media() -> object:
        return review.sealed_media(request, path, key, "video/mp4")

    client = app.test_client()
    with client.get("/media") as whole:
        assert whole.status_code == 200 and whole.get_data() == plaintext
        assert whole.headers["Accept-Ranges"] == "bytes"
    first, last = mediaseal.CHUNK_SIZE - 10, 2 * mediaseal.CHUNK_SIZE + 10
    with client.get("/media", headers={"Range": f"bytes={first}-{last}"}) as part:
        assert part.status_code == 206 and part.get_data() == plaintext[first : last + 1]
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(plaintext)}"

    path.write_bytes(path.read_bytes()[: mediaseal.HEADER_SIZE + 5])  # cut inside its first chunk
    with client.get("/media") as damaged:
        assert damaged.status_code == 410 and "damaged" in damaged.get_json()["error"]


def test_review_keys_are_forgotten_one_by_one_and_all_at_once() -> None:
    keys = review.ReviewKeys()
    keys.keep("a", b"1" * 32)
    keys.keep("b", b"2" * 32)
    keys.forget("a")
    keys.forget(["not", "a", "uuid"])  # what a page may send: ignored
    assert keys.get("a") is None and keys.get("b") == b"2" * 32 and len(keys) == 1
    keys.forget_all()
    assert len(keys) == 0
