"""The tus 1.0.0 endpoint for answer recordings, on SQLite and PostgreSQL.

Protocol details go through Flask's test client; the real clients, tuspy (what the kiosk uses)
and tus-js-client in Chromium (a second client nobody here wrote), go over HTTP on 127.0.0.1 to
the app served by ``live_server``. Cut connections and concurrent PATCHes use raw sockets, so the
server sees exactly what a broken network would show it.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, Route
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from admin import create_app
from admin.extensions import db
from admin.kiosk_api import tus_operations
from admin.kiosk_api.uploads import purge_expired_uploads
from admin.kiosks.tokens import hash_secret, new_token
from admin.models import Branch, Kiosk, Media, Upload, utcnow
from admin.storage import media_store
from tests.admin.helpers import MEDIA_SET, KeptOpen, tuspy_uploader

VIDEO = MEDIA_SET / "sample" / "answer-video.mp4"
VOICE = MEDIA_SET / "sample" / "answer-voice.m4a"
TUS_JS = Path(__file__).resolve().parents[1] / "vendor" / "tus-js-client" / "tus.min.js"
ENDPOINT = "/api/kiosk/v1/uploads"
OCTETS = "application/offset+octet-stream"


# --- a kiosk and its requests ----------------------------------------------------------------


@dataclass(frozen=True)
class KioskAuth:
    id: int
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0"}
        headers.update({name.replace("_", "-"): value for name, value in extra.items()})
        return headers


@pytest.fixture
def make_kiosk(app: Flask, make_branch: Callable[..., Branch]) -> Callable[..., KioskAuth]:
    numbers = itertools.count(1)

    def make(revoked: bool = False) -> KioskAuth:
        number = next(numbers)
        branch = make_branch(f"Peize {number}")
        token = new_token()
        with app.app_context():
            kiosk = Kiosk(
                name=f"Kiosk {number}",
                branch_id=branch.id,
                token_hash=hash_secret(token),
                revoked_at=utcnow() if revoked else None,
            )
            db.session.add(kiosk)
            db.session.commit()
            return KioskAuth(kiosk.id, token)

    return make


@pytest.fixture
def kiosk(make_kiosk: Callable[..., KioskAuth]) -> KioskAuth:
    return make_kiosk()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def metadata(data: bytes, filetype: str = "video/mp4", **extra: str) -> str:
    fields = {"filename": "antwoord.mp4", "filetype": filetype, "sha256": sha256_hex(data), **extra}
    return ",".join(f"{key} {b64(value)}" for key, value in fields.items())


def create(
    client: FlaskClient, kiosk: KioskAuth, data: bytes, filetype: str = "video/mp4", **extra: str
) -> TestResponse:
    return client.post(
        ENDPOINT,
        headers=kiosk.headers(
            Upload_Length=str(len(data)), Upload_Metadata=metadata(data, filetype, **extra)
        ),
    )


def create_ok(client: FlaskClient, kiosk: KioskAuth, data: bytes, filetype: str = "video/mp4") -> str:
    response = create(client, kiosk, data, filetype)
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.headers["Location"])


def patch(
    client: FlaskClient, kiosk: KioskAuth, url: str, offset: int, chunk: bytes, **extra: str
) -> TestResponse:
    headers = kiosk.headers(Upload_Offset=str(offset), **extra)
    return client.patch(url, data=chunk, headers=headers, content_type=OCTETS)


def head_offset(client: FlaskClient, kiosk: KioskAuth, url: str) -> int:
    response = client.head(url, headers=kiosk.headers())
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def checksum(algorithm: str, chunk: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode('ascii')}"


def partial_file(app: Flask, url: str) -> Path:
    return Path(app.config["MEDIA_ROOT"]) / "uploads" / f"{url.rsplit('/', 1)[1]}.part"


def upload_row(app: Flask, url: str) -> Upload | None:
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[1])
        if row is not None:
            db.session.expunge(row)
        return row


def count_uploads(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Upload)) or 0)


def assert_stored(app: Flask, url: str, data: bytes, content_type: str = "video/mp4") -> None:
    """The upload is complete, its Media row and stored file are the bytes sent, the part is gone."""
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[1])
        assert row is not None and row.completed_at is not None
        assert row.media_sha256 == sha256_hex(data)
        media = db.session.get(Media, sha256_hex(data))
        assert media is not None and media.size == len(data) and media.content_type == content_type
        assert media_store().path(media.sha256).read_bytes() == data
    assert not partial_file(app, url).exists()


# --- capabilities, versions, tokens ---------------------------------------------------------


def test_options_tells_what_the_server_speaks_without_a_token(client: FlaskClient) -> None:
    response = client.options(ENDPOINT)
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,checksum,termination,expiration"
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert response.headers["Tus-Max-Size"] == str(300 * 1024 * 1024)


def test_missing_or_wrong_tus_version_gets_412(client: FlaskClient, kiosk: KioskAuth, app: Flask) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    auth = {"Authorization": f"Bearer {kiosk.token}"}
    for version in (None, "0.2.2"):
        headers = dict(auth, **({"Tus-Resumable": version} if version else {}))
        meta = {"Upload-Length": str(len(data)), "Upload-Metadata": metadata(data)}
        for response in (
            client.post(ENDPOINT, headers={**headers, **meta}),
            client.head(url, headers=headers),
            client.patch(url, data=data[:10], headers={**headers, "Upload-Offset": "0"}, content_type=OCTETS),
            client.delete(url, headers=headers),
        ):
            assert response.status_code == 412
            assert response.headers["Tus-Version"] == "1.0.0"
            assert response.headers["Tus-Resumable"] == "1.0.0"
    assert count_uploads(app) == 1
    assert partial_file(app, url).stat().st_size == 0


def test_unknown_or_revoked_token_gets_401_and_nothing_is_stored(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, make_kiosk: Callable[..., KioskAuth]
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    revoked = make_kiosk(revoked=True)
    strangers = (KioskAuth(0, "not-a-token"), revoked)
    for stranger in strangers:
        response = create(client, stranger, data)
        assert response.status_code == 401
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert patch(client, stranger, url, 0, data).status_code == 401
        assert client.head(url, headers=stranger.headers()).status_code == 401
        assert client.delete(url, headers=stranger.headers()).status_code == 401
    no_token = client.post(ENDPOINT, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"})
    assert no_token.status_code == 401
    assert count_uploads(app) == 1
    assert partial_file(app, url).stat().st_size == 0
    assert sorted(p.name for p in partial_file(app, url).parent.iterdir()) == [partial_file(app, url).name]


def test_another_kiosks_upload_is_unknown(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, make_kiosk: Callable[..., KioskAuth]
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    other = make_kiosk()
    assert client.head(url, headers=other.headers()).status_code == 404
    assert patch(client, other, url, 0, data).status_code == 404
    assert client.delete(url, headers=other.headers()).status_code == 404
    assert client.head(f"{ENDPOINT}/not-a-uuid", headers=kiosk.headers()).status_code == 404
    assert partial_file(app, url).stat().st_size == 0


# --- creation -------------------------------------------------------------------------------


def test_creation_makes_a_row_and_an_empty_part_file(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    data = VIDEO.read_bytes()
    answer = "0b7c3c52-8a3e-4c47-9a39-9f1e0d7f2a11"
    before = utcnow()
    response = create(client, kiosk, data, answer=answer)
    assert response.status_code == 201
    url = str(response.headers["Location"])
    assert url.startswith(f"{ENDPOINT}/")
    expires = parsedate_to_datetime(response.headers["Upload-Expires"])
    assert timedelta(hours=47, minutes=59) < expires - before < timedelta(hours=48, minutes=1)
    row = upload_row(app, url)
    assert row is not None and row.kiosk_id == kiosk.id and row.length == len(data)
    assert row.meta == {
        "filename": "antwoord.mp4",
        "filetype": "video/mp4",
        "sha256": sha256_hex(data),
        "answer": answer,
        tus_operations.CLIENT_HEADER_KEY: metadata(data, answer=answer),
    }
    assert partial_file(app, url).stat().st_size == 0

    head = client.head(url, headers=kiosk.headers())
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in head.headers
    sent_back = tus_operations.parse_metadata(head.headers["Upload-Metadata"])
    assert sent_back["sha256"] == sha256_hex(data) and sent_back["answer"] == answer


def test_head_returns_upload_metadata_exactly_as_the_client_sent_it(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    """tus 1.0.0: the server MUST return Upload-Metadata as sent, with keys it does not use (#13)."""
    data = VOICE.read_bytes()
    # Keys the server ignores, a key without a value, another order than the server's own.
    sent = f"sha256 {b64(sha256_hex(data))},kioskVersion {b64('2.4.1')},empty,filetype {b64('audio/mp4')}"
    response = client.post(
        ENDPOINT, headers=kiosk.headers(Upload_Length=str(len(data)), Upload_Metadata=sent)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    url = str(response.headers["Location"])
    head = client.head(url, headers=kiosk.headers())
    assert head.status_code == 200
    assert head.headers["Upload-Metadata"] == sent
    row = upload_row(app, url)
    assert row is not None and "kioskVersion" not in row.meta  # kept as sent, not used


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Metadata": "filetype " + b64("video/mp4")}, 400),  # no Upload-Length
        ({"Upload-Length": "-5"}, 400),
        ({"Upload-Length": "abc"}, 400),
        ({"Upload-Length": "0"}, 400),
        ({"Upload-Defer-Length": "1"}, 400),
        ({"Upload-Length": str(300 * 1024 * 1024 + 1)}, 413),
        ({"Upload-Length": "100", "Upload-Metadata": "filetype " + b64("video/webm")}, 415),
        ({"Upload-Length": "100", "Upload-Metadata": "filetype " + b64("text/html")}, 415),
        ({"Upload-Length": "100", "Upload-Metadata": "filetype " + b64("video/mp4")}, 400),  # no sha256
        (
            {"Upload-Length": "100", "Upload-Metadata": f"filetype {b64('video/mp4')},sha256 {b64('abc')}"},
            400,
        ),
        ({"Upload-Length": "100", "Upload-Metadata": "filetype not*base64"}, 400),
        ({"Upload-Length": "100", "Upload-Metadata": f"filetype {b64('audio/mp4')},filetype x"}, 400),
        (
            {
                "Upload-Length": "100",
                "Upload-Metadata": f"filetype {b64('audio/mp4')},sha256 {b64('a' * 64)},answer {b64('x')}",
            },
            400,
        ),
    ],
)
def test_creation_refusals(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, headers: dict[str, str], status: int
) -> None:
    response = client.post(
        ENDPOINT, headers=kiosk.headers(**{k.replace("-", "_"): v for k, v in headers.items()})
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.get_json()["error"]
    assert count_uploads(app) == 0
    uploads = Path(app.config["MEDIA_ROOT"]) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_size_limit_follows_the_setting(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    app.config["MAX_RECORDING_MB"] = 1
    assert client.options(ENDPOINT).headers["Tus-Max-Size"] == str(1024 * 1024)
    big = create(client, kiosk, b"x" * (1024 * 1024 + 1))
    assert big.status_code == 413
    assert create(client, kiosk, VIDEO.read_bytes()).status_code == 201


# --- PATCH ----------------------------------------------------------------------------------


def test_chunks_with_checksums_make_a_stored_media(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    offset, size = 0, 30_000
    for number, start in enumerate(range(0, len(data), size)):
        chunk = data[start : start + size]
        algorithm = ("sha1", "sha256", None)[number % 3]
        extra = {"Upload_Checksum": checksum(algorithm, chunk)} if algorithm else {}
        response = patch(client, kiosk, url, offset, chunk, **extra)
        assert response.status_code == 204, response.get_data(as_text=True)
        assert response.headers["Tus-Resumable"] == "1.0.0"
        offset += len(chunk)
        assert response.headers["Upload-Offset"] == str(offset)
        if offset < len(data):
            assert "Upload-Expires" in response.headers
            assert head_offset(client, kiosk, url) == offset == partial_file(app, url).stat().st_size
    assert_stored(app, url, data)
    # Asking again is fine: the end is the end, and an empty PATCH there changes nothing.
    assert head_offset(client, kiosk, url) == len(data)
    again = patch(client, kiosk, url, len(data), b"")
    assert again.status_code == 204 and again.headers["Upload-Offset"] == str(len(data))
    assert patch(client, kiosk, url, 0, data).status_code == 409
    with app.app_context():
        # Only the recording: its poster frame is made when staff first watch it.
        assert db.session.scalar(select(func.count()).select_from(Media)) == 1


def count_whole_file_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = tus_operations.file_sha256

    def counted(path: Path) -> tuple[str, int]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(tus_operations, "file_sha256", counted)
    return reads


def test_a_whole_file_in_one_patch_is_hashed_on_the_way_in_and_not_read_again(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_whole_file_reads(monkeypatch)
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data, Upload_Checksum=checksum("sha1", data)).status_code == 204
    assert_stored(app, url, data)
    assert reads == []


def test_an_upload_in_chunks_is_read_once_when_complete(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_whole_file_reads(monkeypatch)
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    for offset in range(0, len(data), 40_000):
        chunk = data[offset : offset + 40_000]
        assert (
            patch(client, kiosk, url, offset, chunk, Upload_Checksum=checksum("sha1", chunk)).status_code
            == 204
        )
        assert reads == [] or offset + len(chunk) == len(data)  # no reading before the last byte is in
    assert_stored(app, url, data)
    assert reads == [partial_file(app, url)]
    # Versions before 0.2 kept a hash state beside each upload: none is made any more.
    assert not list(partial_file(app, url).parent.glob("*.sha256state"))


def test_a_voice_answer_in_one_patch(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VOICE.read_bytes()
    url = create_ok(client, kiosk, data, "audio/mp4")
    assert patch(client, kiosk, url, 0, data).status_code == 204
    assert_stored(app, url, data, "audio/mp4")


def test_wrong_offset_is_409_and_changes_nothing(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:1000]).status_code == 204
    for offset in (0, 999, 1001, len(data)):
        response = patch(client, kiosk, url, offset, data[offset : offset + 10])
        assert response.status_code == 409
        assert response.headers["Upload-Offset"] == "1000"
    assert patch(client, kiosk, url, -1, b"x").status_code == 400
    assert client.patch(url, data=b"x", headers=kiosk.headers(), content_type=OCTETS).status_code == 400
    assert partial_file(app, url).read_bytes() == data[:1000]


def test_wrong_content_type_is_415(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    response = client.patch(
        url, data=data[:10], headers=kiosk.headers(Upload_Offset="0"), content_type="application/octet-stream"
    )
    assert response.status_code == 415
    assert partial_file(app, url).stat().st_size == 0


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum_mismatch_is_460_and_the_chunk_is_dropped(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, algorithm: str
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert (
        patch(client, kiosk, url, 0, data[:500], Upload_Checksum=checksum(algorithm, data[:500])).status_code
        == 204
    )
    bad = patch(
        client, kiosk, url, 500, data[500:900], Upload_Checksum=checksum(algorithm, data[500:899] + b"!")
    )
    assert bad.status_code == 460, bad.get_data(as_text=True)
    assert "Upload-Checksum" in bad.get_json()["error"]
    assert head_offset(client, kiosk, url) == 500
    assert partial_file(app, url).read_bytes() == data[:500]
    good = patch(client, kiosk, url, 500, data[500:900], Upload_Checksum=checksum(algorithm, data[500:900]))
    assert good.status_code == 204 and good.headers["Upload-Offset"] == "900"


@pytest.mark.parametrize(
    "header", ["md5 " + base64.b64encode(b"0" * 16).decode(), "sha1 not*base64", "sha256 AAAA"]
)
def test_unusable_checksum_header_is_400(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, header: str
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:100], Upload_Checksum=header).status_code == 400
    assert partial_file(app, url).stat().st_size == 0


def test_nothing_is_written_past_the_upload_length(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:-10]).status_code == 204
    too_long = patch(client, kiosk, url, len(data) - 10, data[-10:] + b"extra")
    assert too_long.status_code == 413
    assert head_offset(client, kiosk, url) == len(data) - 10
    assert patch(client, kiosk, url, len(data) - 10, data[-10:]).status_code == 204
    assert_stored(app, url, data)


def test_whole_file_sha256_mismatch_is_460_and_the_upload_is_deleted(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:5000]).status_code == 204
    changed = data[5000:-1] + bytes([data[-1] ^ 1])
    response = patch(client, kiosk, url, 5000, changed)
    assert response.status_code == 460
    assert "sha256" in response.get_json()["error"]
    assert upload_row(app, url) is None and not partial_file(app, url).exists()
    assert client.head(url, headers=kiosk.headers()).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Media)) == 0


def test_a_file_that_is_no_recording_is_refused_and_deleted(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    fake = b"this is not a video at all " * 1000
    url = create_ok(client, kiosk, fake)
    response = patch(client, kiosk, url, 0, fake)
    assert response.status_code == 422
    assert "video" in response.get_json()["error"]
    assert upload_row(app, url) is None and not partial_file(app, url).exists()
    # The declared kind counts: a voice recording announced as video has no pictures in it.
    voice = VOICE.read_bytes()
    url = create_ok(client, kiosk, voice, "video/mp4")
    assert patch(client, kiosk, url, 0, voice).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Media)) == 0


def test_a_server_fault_at_the_end_takes_the_last_chunk_back(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as in production
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:50_000]).status_code == 204

    def broken(*args: object) -> None:
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as m:
        m.setattr(tus_operations, "check_path", broken)
        response = patch(client, kiosk, url, 50_000, data[50_000:])
    assert response.status_code == 500 and response.headers["Tus-Resumable"] == "1.0.0"
    # Not complete, and not looking complete: the kiosk resends the last chunk and it works.
    assert head_offset(client, kiosk, url) == 50_000
    assert patch(client, kiosk, url, 50_000, data[50_000:]).status_code == 204
    assert_stored(app, url, data)


def test_a_server_fault_after_the_move_into_the_store_means_a_new_upload(
    client: FlaskClient, app: Flask, kiosk: KioskAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)

    def broken(*args: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(tus_operations, "store_checked", broken)
        assert patch(client, kiosk, url, 0, data).status_code == 500
    assert client.head(url, headers=kiosk.headers()).status_code == 404
    again = create_ok(client, kiosk, data)
    assert patch(client, kiosk, again, 0, data).status_code == 204
    assert_stored(app, again, data)


def test_method_override_for_clients_behind_strict_proxies(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    data = VOICE.read_bytes()
    url = create_ok(client, kiosk, data, "audio/mp4")
    response = client.post(
        url,
        data=data,
        content_type=OCTETS,
        headers=kiosk.headers(Upload_Offset="0", X_HTTP_Method_Override="PATCH"),
    )
    assert response.status_code == 204
    assert_stored(app, url, data, "audio/mp4")
    assert client.post(url, headers=kiosk.headers()).status_code == 405


# --- termination and expiration -------------------------------------------------------------


def test_termination_removes_row_and_file(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:100]).status_code == 204
    response = client.delete(url, headers=kiosk.headers())
    assert response.status_code == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    assert upload_row(app, url) is None and not partial_file(app, url).exists()
    assert client.head(url, headers=kiosk.headers()).status_code == 404
    assert patch(client, kiosk, url, 100, data[100:200]).status_code == 404
    assert client.delete(url, headers=kiosk.headers()).status_code == 404


def test_expired_uploads_are_gone_and_purged(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    expired = create_ok(client, kiosk, data)
    fresh = create_ok(client, kiosk, data)
    done = create_ok(client, kiosk, VOICE.read_bytes(), "audio/mp4")
    assert patch(client, kiosk, done, 0, VOICE.read_bytes()).status_code == 204
    assert patch(client, kiosk, expired, 0, data[:100]).status_code == 204
    orphan = Path(app.config["MEDIA_ROOT"]) / "uploads" / "5f0c1e4e-7d5b-4a57-9d0e-3c1f6a0b9e21.part"
    orphan.write_bytes(b"left by a crash between file and commit")
    orphan_state = orphan.with_suffix(".sha256state")  # and a hash state an older version left
    orphan_state.write_bytes(b"left by the same crash")
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    os.utime(orphan_state, (old, old))
    with app.app_context():
        row = db.session.get(Upload, expired.rsplit("/", 1)[1])
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    assert client.head(expired, headers=kiosk.headers()).status_code == 410
    assert patch(client, kiosk, expired, 100, data[100:200]).status_code == 410
    with app.app_context():
        assert purge_expired_uploads() == 1
        db.session.commit()
    assert upload_row(app, expired) is None and not partial_file(app, expired).exists()
    assert client.head(expired, headers=kiosk.headers()).status_code == 404
    assert not orphan.exists() and not orphan_state.exists()
    assert head_offset(client, kiosk, fresh) == 0 and partial_file(app, fresh).exists()
    assert head_offset(client, kiosk, done) == len(VOICE.read_bytes())

    # Later, even the fresh one runs out; the finished one never expires.
    with app.app_context():
        assert purge_expired_uploads(utcnow() + timedelta(hours=49)) == 1
        db.session.commit()
    assert upload_row(app, fresh) is None and upload_row(app, done) is not None


def test_a_restarted_server_continues_the_upload(client: FlaskClient, app: Flask, kiosk: KioskAuth) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    assert patch(client, kiosk, url, 0, data[:40_000]).status_code == 204
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    restarted = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development"},
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "SECRET_KEY": "another-process",
        }
    )
    try:
        again = restarted.test_client()
        assert head_offset(again, kiosk, url) == 40_000
        assert patch(again, kiosk, url, 40_000, data[40_000:]).status_code == 204
        assert_stored(restarted, url, data)
    finally:
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()


# --- over real HTTP: cut connections, concurrent PATCHes --------------------------------------


def _raw_patch_start(
    base: str, kiosk: KioskAuth, url: str, offset: int, length: int, **extra: str
) -> socket.socket:
    """A PATCH whose headers are sent and whose body the caller sends (or does not) itself."""
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    headers = kiosk.headers(Upload_Offset=str(offset), **extra)
    headers.update({"Host": parts.netloc, "Content-Type": OCTETS, "Content-Length": str(length)})
    head = f"PATCH {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode("ascii"))
    return sock


def _status_line(sock: socket.socket) -> int:
    reply = b""
    while b"\r\n" not in reply:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
    return int(reply.split(b" ", 2)[1])


def _http(
    base: str, method: str, url: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str]]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request(method, url, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


@pytest.mark.parametrize("with_checksum", [False, True])
def test_a_cut_connection_keeps_what_arrived(
    live_server: str, client: FlaskClient, app: Flask, kiosk: KioskAuth, with_checksum: bool
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    chunk = data[:60_000]
    extra = {"Upload_Checksum": checksum("sha256", chunk)} if with_checksum else {}
    sock = _raw_patch_start(live_server, kiosk, url, 0, len(chunk), **extra)
    sock.sendall(chunk[:25_000])
    sock.shutdown(socket.SHUT_WR)  # the connection breaks in the middle of the body
    assert _status_line(sock) == 400
    sock.close()
    # Without a checksum every byte that arrived is kept (and fsynced): a resume sends only the
    # rest. Under a checksum the chunk cannot be verified, so none of it is kept.
    kept = 0 if with_checksum else 25_000
    assert head_offset(client, kiosk, url) == kept
    assert partial_file(app, url).read_bytes() == data[:kept]
    assert patch(client, kiosk, url, kept, data[kept:]).status_code == 204
    assert_stored(app, url, data)


def test_concurrent_requests_on_one_upload_never_interleave(
    live_server: str, client: FlaskClient, app: Flask, kiosk: KioskAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = VIDEO.read_bytes()
    url = create_ok(client, kiosk, data)
    monkeypatch.setattr(tus_operations, "LOCK_WAIT_SECONDS", 0.2)
    writer = _raw_patch_start(live_server, kiosk, url, 0, len(data))
    writer.sendall(data[:20_000])
    # Once the first PATCH holds the upload, a HEAD cannot read a half-written size...
    deadline = time.monotonic() + 10
    while (status := _http(live_server, "HEAD", url, kiosk.headers())[0]) != 423:
        assert status == 200 and time.monotonic() < deadline
        time.sleep(0.02)
    # ...and a second PATCH at the same offset is turned away rather than mixed in.
    intruder = b"\0" * len(data)
    patch_headers = kiosk.headers(Upload_Offset="0", Content_Type=OCTETS)
    status, headers = _http(live_server, "PATCH", url, patch_headers, intruder)
    assert status == 423 and headers["tus-resumable"] == "1.0.0"

    # Requests that wait longer get their turn after the first one, which finished the upload
    # meanwhile: the PATCH finds nothing left to write, the HEAD finds the whole length.
    monkeypatch.setattr(tus_operations, "LOCK_WAIT_SECONDS", 10.0)
    answers: dict[str, tuple[int, dict[str, str]]] = {}
    waiters = [
        threading.Thread(
            target=lambda: answers.update(patch=_http(live_server, "PATCH", url, patch_headers, intruder))
        ),
        threading.Thread(
            target=lambda: answers.update(head=_http(live_server, "HEAD", url, kiosk.headers()))
        ),
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.3)
    writer.sendall(data[20_000:])
    assert _status_line(writer) == 204
    writer.close()
    for waiter in waiters:
        waiter.join(timeout=20)
    assert answers["patch"][0] == 409
    assert answers["head"][0] == 200 and answers["head"][1]["upload-offset"] == str(len(data))
    assert_stored(app, url, data)


# --- real clients -------------------------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests honours proxy variables; the test traffic must stay on 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


def test_tuspy_uploads_is_interrupted_and_resumes(
    live_server: str, app: Flask, kiosk: KioskAuth, tmp_path: Path, loopback_only: None
) -> None:
    from tusclient.storage.filestorage import FileStorage

    data = VIDEO.read_bytes()
    chunk = 16 * 1024
    urls = FileStorage(str(tmp_path / "tus-urls.json"))

    def uploader(recording: KeptOpen) -> Any:
        return tuspy_uploader(
            f"{live_server}{ENDPOINT}",
            kiosk.token,
            recording,
            chunk,
            urls,
            metadata={"filename": VIDEO.name},
            upload_checksum=True,
        )

    with closing(KeptOpen(VIDEO)) as recording:
        first = uploader(recording)
        first.upload(stop_at=3 * chunk)  # the kiosk is switched off after three chunks
    assert first.offset == 3 * chunk
    url = str(first.url)
    assert url.startswith(f"{live_server}{ENDPOINT}/")

    with closing(KeptOpen(VIDEO)) as recording:
        second = uploader(recording)  # a new process: finds the URL by fingerprint, asks the offset
        assert second.url == url and second.offset == 3 * chunk
        second.upload()
    assert second.offset == len(data)
    urls.close()
    assert count_uploads(app) == 1
    assert_stored(app, urlsplit(url).path, data)


_TUS_JS_UPLOAD = """
async ({b64, token, sha256, endpoint, chunkSize}) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new Blob([bytes], {type: "video/mp4"});
  const options = {
    endpoint,
    chunkSize,
    retryDelays: [100, 300],
    headers: {Authorization: "Bearer " + token},
    metadata: {filename: "antwoord.mp4", filetype: "video/mp4", sha256},
  };
  const offsets = [];
  // The visitor's page goes away after two chunks...
  const firstUrl = await new Promise((resolve, reject) => {
    let chunks = 0;
    const upload = new tus.Upload(file, {
      ...options,
      onError: reject,
      onSuccess: () => reject(new Error("finished before the interruption")),
      onChunkComplete: (size, accepted) => {
        offsets.push(accepted);
        chunks += 1;
        if (chunks === 2) upload.abort().then(() => resolve(upload.url), reject);
      },
    });
    upload.start();
  });
  // ...and a new Upload finds the previous one and resumes it.
  const secondUrl = await new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      ...options,
      onError: reject,
      onChunkComplete: (size, accepted) => offsets.push(accepted),
      onSuccess: () => resolve(upload.url),
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
  return {firstUrl, secondUrl, offsets};
}
"""


@pytest.mark.browser
def test_tus_js_client_in_chromium_uploads_and_resumes(
    live_server: str, app: Flask, kiosk: KioskAuth, page: Page
) -> None:
    data = VIDEO.read_bytes()
    chunk = 16 * 1024

    def blank(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>tus</title>")

    # A blank page on the server's own origin (served by Playwright), so the upload is same-origin.
    page.route(f"{live_server}/tus-test", blank)
    page.goto(f"{live_server}/tus-test")
    page.add_script_tag(path=str(TUS_JS))
    result = page.evaluate(
        _TUS_JS_UPLOAD,
        {
            "b64": base64.b64encode(data).decode("ascii"),
            "token": kiosk.token,
            "sha256": sha256_hex(data),
            "endpoint": f"{live_server}{ENDPOINT}",
            "chunkSize": chunk,
        },
    )
    assert result["firstUrl"] == result["secondUrl"]
    assert result["offsets"][:2] == [chunk, 2 * chunk]
    assert result["offsets"][2] == 3 * chunk  # resumed where it stopped, not from the start
    assert result["offsets"][-1] == len(data)
    assert count_uploads(app) == 1
    assert_stored(app, urlsplit(result["secondUrl"]).path, data)


def test_stored_recordings_are_readable_by_the_web_server_group(
    client: FlaskClient, app: Flask, kiosk: KioskAuth
) -> None:
    data = VOICE.read_bytes()
    url = create_ok(client, kiosk, data, "audio/mp4")
    assert patch(client, kiosk, url, 0, data).status_code == 204
    with app.app_context():
        stored = media_store().path(hashlib.sha256(data).hexdigest())
    assert stat.S_IMODE(stored.stat().st_mode) == 0o640  # nginx serves it by X-Accel-Redirect
