"""Sealed recordings on the server: the key file, the public key kiosks get, and sealed tus uploads.

A kiosk seals each recording to the server's public key (``mediaseal``); the server opens a
finished sealed upload with its private key and stores the recording inside, under its own
sha256. Anything that does not open is refused and nothing is stored.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import func, select

import mediaseal
from admin import sealing
from admin.extensions import db
from admin.models import Media
from admin.storage import media_store
from tests.admin import test_uploads
from tests.admin.test_uploads import (
    VIDEO,
    VOICE,
    KioskAuth,
    create,
    partial_file,
    patch,
    sha256_hex,
    upload_row,
)

# The kiosk fixtures of the tus tests, shared.
make_kiosk = test_uploads.make_kiosk
kiosk = test_uploads.kiosk


def server_public_key(app: Flask) -> bytes:
    with app.app_context():
        return bytes(sealing.current_keys().current.public_key)


def sealed_bytes(plaintext: bytes, public_key: bytes) -> bytes:
    out = io.BytesIO()
    writer = mediaseal.SealingWriter(out, public_key)
    writer.write(plaintext)
    writer.finish()
    return out.getvalue()


def upload_sealed(
    client: FlaskClient, kiosk: KioskAuth, sealed: bytes, plain_sha256: str, filetype: str = "video/mp4"
) -> tuple[str, int, dict]:
    response = create(client, kiosk, sealed, filetype, sealed="1", plain_sha256=plain_sha256)
    assert response.status_code == 201, response.get_data(as_text=True)
    url = str(response.headers["Location"])
    half = len(sealed) // 2
    assert patch(client, kiosk, url, 0, sealed[:half]).status_code == 204
    done = patch(client, kiosk, url, half, sealed[half:])
    return url, done.status_code, done.get_json(silent=True) or {}


def media_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Media)) or 0)


def no_plaintext_left(app: Flask) -> bool:
    return not list((Path(app.config["MEDIA_ROOT"]) / "uploads").glob("*.plain.part"))


def test_the_key_file_is_made_on_first_use_private_and_handed_out_as_a_public_key(
    app: Flask, client: FlaskClient, kiosk: KioskAuth
) -> None:
    key_file = Path(app.config["KIOSK_SEALING_KEY_FILE"])
    assert not key_file.exists()
    response = client.get("/api/kiosk/v1/config", headers={"Authorization": f"Bearer {kiosk.token}"})
    assert response.status_code == 200
    document = response.get_json()["sealing_key"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with app.app_context():
        ring = sealing.load(key_file)
    public = bytes(ring.current.public_key)
    assert base64.b64decode(document["public_key"]) == public
    assert document["id"] == mediaseal.key_id(public).hex()
    # The private key is in the file, and nowhere in what the kiosk got.
    assert base64.b64encode(bytes(ring.current)).decode() in key_file.read_text()
    assert base64.b64encode(bytes(ring.current)).decode() not in response.get_data(as_text=True)
    spec = client.get("/api/kiosk/v1/openapi.json").get_json()
    assert "sealing_key" in spec["components"]["schemas"]["Config"]["required"]
    assert "plain_sha256" in str(spec["paths"]["/uploads"]["post"])


def test_rotation_reaches_kiosks_through_the_config_etag_and_old_keys_still_open(
    app: Flask, client: FlaskClient, kiosk: KioskAuth
) -> None:
    auth = {"Authorization": f"Bearer {kiosk.token}"}
    first = client.get("/api/kiosk/v1/config", headers=auth)
    old_public = base64.b64decode(first.get_json()["sealing_key"]["public_key"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    again = client.get("/api/kiosk/v1/config", headers={**auth, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200  # not 304: the kiosk takes the new key with its next pull
    new_public = base64.b64decode(again.get_json()["sealing_key"]["public_key"])
    assert new_public != old_public
    shown = runner.invoke(args=["keys", "show"]).output
    assert mediaseal.key_id(old_public).hex() in shown and mediaseal.key_id(new_public).hex() in shown
    with app.app_context():
        for key in sealing.load(sealing.key_file()).keys:
            assert base64.b64encode(bytes(key)).decode() not in shown + result.output

    # A recording sealed before the rotation (still on a kiosk) opens with the old key.
    plaintext = VIDEO.read_bytes()
    sealed = sealed_bytes(plaintext, old_public)
    url, status, body = upload_sealed(client, kiosk, sealed, sha256_hex(plaintext))
    assert status == 204, body
    assert upload_row(app, url).media_sha256 == sha256_hex(plaintext)

    # Retiring the old key: what is still sealed to it is refused, clearly, and nothing stored.
    retired = runner.invoke(args=["keys", "retire", mediaseal.key_id(old_public).hex()])
    assert retired.exit_code == 0, retired.output
    voice = VOICE.read_bytes()
    url, status, body = upload_sealed(
        client, kiosk, sealed_bytes(voice, old_public), sha256_hex(voice), "audio/mp4"
    )
    assert status == 422 and "does not have" in body["error"]
    assert upload_row(app, url) is None and no_plaintext_left(app)
    current = mediaseal.key_id(new_public).hex()
    refused = runner.invoke(args=["keys", "retire", current])
    assert refused.exit_code != 0 and "rotate first" in refused.output


def test_a_sealed_upload_is_stored_as_the_recording_inside(
    app: Flask, client: FlaskClient, kiosk: KioskAuth
) -> None:
    plaintext = VIDEO.read_bytes()
    sealed = sealed_bytes(plaintext, server_public_key(app))
    url, status, body = upload_sealed(client, kiosk, sealed, sha256_hex(plaintext))
    assert status == 204, body
    row = upload_row(app, url)
    assert row is not None and row.completed_at is not None
    assert row.media_sha256 == sha256_hex(plaintext) and row.meta["sha256"] == sha256_hex(sealed)
    with app.app_context():
        media = db.session.get(Media, sha256_hex(plaintext))
        assert media is not None and media.content_type == "video/mp4" and media.size == len(plaintext)
        assert media_store().path(media.sha256).read_bytes() == plaintext
        assert db.session.get(Media, sha256_hex(sealed)) is None
    assert not partial_file(app, url).exists() and no_plaintext_left(app)


def test_a_sealed_upload_that_does_not_open_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, kiosk: KioskAuth
) -> None:
    plaintext = VIDEO.read_bytes()
    sealed = sealed_bytes(plaintext, server_public_key(app))
    # Damaged on the kiosk (so the sha256 of what was sent is right) or cut at a chunk boundary.
    flipped = bytearray(sealed)
    flipped[mediaseal.HEADER_SIZE + 1000] ^= 1
    cut = sealed[: mediaseal.HEADER_SIZE + mediaseal.SEALED_CHUNK_SIZE]
    assert len(cut) < len(sealed)
    for damaged in (bytes(flipped), cut):
        url, status, body = upload_sealed(client, kiosk, damaged, sha256_hex(plaintext))
        assert status == 422, body
        assert "does not open" in body["error"] and "deleted" in body["error"]
        assert upload_row(app, url) is None and not partial_file(app, url).exists()
    # Opens, but is not the recording the kiosk declared.
    url, status, body = upload_sealed(client, kiosk, sealed, sha256_hex(b"another recording"))
    assert status == 422 and "plain_sha256" in body["error"]
    # Sealed to a key this server never had.
    stranger = bytes(PrivateKey.generate().public_key)
    url, status, body = upload_sealed(client, kiosk, sealed_bytes(plaintext, stranger), sha256_hex(plaintext))
    assert status == 422 and "does not have" in body["error"]
    assert media_count(app) == 0 and no_plaintext_left(app)


def test_sealed_metadata_must_be_complete(app: Flask, client: FlaskClient, kiosk: KioskAuth) -> None:
    data = b"sealed bytes"
    for extra in ({"sealed": "1"}, {"plain_sha256": sha256_hex(data)}, {"sealed": "0", "plain_sha256": "00"}):
        response = create(client, kiosk, data, **extra)
        assert response.status_code == 400, extra
        assert "plain_sha256" in response.get_json()["error"]


def test_a_key_file_others_may_read_is_refused(app: Flask, client: FlaskClient, kiosk: KioskAuth) -> None:
    server_public_key(app)
    key_file = Path(app.config["KIOSK_SEALING_KEY_FILE"])
    os.chmod(key_file, 0o644)
    result = app.test_cli_runner().invoke(args=["keys", "show"])
    assert result.exit_code != 0 and "chmod 600" in result.output
    with app.app_context(), pytest.raises(sealing.SealingKeyError, match="may be read by others"):
        sealing.current_keys()


def test_keys_init_makes_the_file_once_and_never_prints_a_private_key(app: Flask) -> None:
    runner = app.test_cli_runner()
    key_file = Path(app.config["KIOSK_SEALING_KEY_FILE"])
    made = runner.invoke(args=["keys", "init"])
    assert made.exit_code == 0 and "new key file" in made.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_bytes()
    again = runner.invoke(args=["keys", "init"])
    assert again.exit_code == 0 and "already there" in again.output and key_file.read_bytes() == before
    with app.app_context():
        private = base64.b64encode(bytes(sealing.current_keys().current)).decode()
    assert private not in made.output + again.output
    assert base64.b64encode(bytes(sealing.load(key_file).current.public_key)).decode() in made.output
