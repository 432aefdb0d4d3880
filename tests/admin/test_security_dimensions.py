"""Pixel limits on uploaded pictures and videos, read from the header before decoding (#13, hole 10),
and the smaller media holes of #13 (14): a voice answer with pictures, multi-range requests.

Test media are made here: a PNG claiming 30000×30000 pixels is ~110 KB of deflate, and short
H.264 videos of any size come from the kiosk's own synthetic camera.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from admin import mediacheck
from admin.extensions import db
from admin.mediacheck import MAX_PICTOGRAM_SIDE, BadMedia, check_pictogram
from admin.mediafiles.operations import Expect, check_path
from admin.models import Branch, Media, Question, Role, Upload
from kiosk.hardware.synthetic import write_test_video
from tests.admin.helpers import MEDIA_SET, csrf_token, login, new_kiosk

SUBTITLES = MEDIA_SET / "questions" / "satisfaction.nl.vtt"
VIDEO = MEDIA_SET / "questions" / "satisfaction.nl.mp4"
VOICE = MEDIA_SET / "sample" / "answer-voice.m4a"
HAPPY = MEDIA_SET / "pictograms" / "face-happy.svg"
ENDPOINT = "/api/kiosk/v1/uploads"
ENGLISH = {"Accept-Language": "en"}  # messages are checked in English (Dutch is the default)


def png_claiming(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit PNG: tiny on disk, ``width * height / 8`` bytes once decoded."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte, then the packed pixels
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int, int], Path]:
    """``make(width, height, fps)``: a short H.264 MP4, made once per module."""
    folder = tmp_path_factory.mktemp("videos")
    made: dict[tuple[int, int, int], Path] = {}

    def make(width: int, height: int, fps: int = 25) -> Path:
        key = (width, height, fps)
        if key not in made:
            # Flat and coarse: the test client spools a multipart body over 500 KB to a temp
            # file it never closes (a ResourceWarning).
            path = folder / f"{width}x{height}@{fps}.mp4"
            made[key] = write_test_video(path, 0.2, width, height, fps, noise_sigma=0.0, crf=40)
        return made[key]

    return make


@pytest.fixture
def admin_client(client: FlaskClient, make_user: Callable[..., object]) -> FlaskClient:
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    login(client, "boss@bieb.example")
    return client


def _question_form(client: FlaskClient, video: bytes, pictogram: bytes) -> dict[str, object]:
    return {
        "csrf_token": csrf_token(client, "/questions/new"),
        "name": "Groot",
        "kind": "choice",
        "language": "nl",
        "text": "Hoe was het?",
        "video": (io.BytesIO(video), "vraag.mp4"),
        "subtitles": (io.BytesIO(SUBTITLES.read_bytes()), "vraag.vtt"),
        "options-0-value": "yes",
        "options-0-label": "Goed",
        "options-0-pictogram": (io.BytesIO(HAPPY.read_bytes()), "blij.svg"),
        "options-1-value": "no",
        "options-1-label": "Niet goed",
        "options-1-pictogram": (io.BytesIO(pictogram), "groot.png"),
    }


def _stored(app: Flask) -> tuple[int, int, list[Path]]:
    with app.app_context():
        media = db.session.scalar(select(func.count()).select_from(Media)) or 0
        questions = db.session.scalar(select(func.count()).select_from(Question)) or 0
    files = [p for p in Path(app.config["MEDIA_ROOT"]).rglob("*") if p.is_file()]
    return media, questions, files


def _post_question(client: FlaskClient, video: bytes, pictogram: bytes) -> tuple[int, str]:
    response = client.post(
        "/questions/new", data=_question_form(client, video, pictogram), content_type="multipart/form-data"
    )
    return response.status_code, response.get_data(as_text=True)


# --- pictograms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(30000, 30000), (10000, 10000), (MAX_PICTOGRAM_SIDE + 1, 16), (16, MAX_PICTOGRAM_SIDE + 1)],
)
def test_a_pictogram_with_too_many_pixels_is_refused_on_the_form(
    app: Flask, admin_client: FlaskClient, width: int, height: int
) -> None:
    picture = png_claiming(width, height)
    assert len(picture) < 200 * 1024  # small on disk: only the header tells
    status, page = _post_question(admin_client, VIDEO.read_bytes(), picture)
    assert status == 200, page[:500]
    assert 'class="flash flash-error"' in page
    assert "too many pixels" in page or f"{width}×{height}" in page
    assert _stored(app) == (0, 0, [])


def test_a_pictogram_at_the_pixel_limit_is_accepted(app: Flask) -> None:
    with app.test_request_context(headers=ENGLISH):
        assert check_pictogram(png_claiming(MAX_PICTOGRAM_SIDE, MAX_PICTOGRAM_SIDE)) == "image/png"


# --- videos --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fps", "message"),
    [
        ((2560, 1440), 25, "2560×1440"),
        ((1440, 2560), 25, "1440×2560"),
        ((1280, 720), 120, "frames per second"),
    ],
)
def test_a_question_video_beyond_full_hd_or_60_fps_is_refused_on_the_form(
    app: Flask,
    admin_client: FlaskClient,
    videos: Callable[..., Path],
    size: tuple[int, int],
    fps: int,
    message: str,
) -> None:
    status, page = _post_question(admin_client, videos(*size, fps).read_bytes(), HAPPY.read_bytes())
    assert status == 200, page[:500]
    assert 'class="flash flash-error"' in page and message in page
    assert _stored(app) == (0, 0, [])


def test_the_decoder_refuses_large_frames_the_header_check_missed(
    app: Flask, videos: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream can grow after its header: then the decoder's own pixel limit still holds."""
    monkeypatch.setattr(mediacheck, "_check_video_frame", lambda stream: None)
    with app.test_request_context(headers=ENGLISH), pytest.raises(BadMedia, match="not a video we can play"):
        check_path(videos(2560, 1440), Expect.VIDEO)


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)])
def test_full_hd_in_either_orientation_is_accepted(
    app: Flask, videos: Callable[..., Path], size: tuple[int, int]
) -> None:
    with app.test_request_context(headers=ENGLISH):
        checked = check_path(videos(*size), Expect.VIDEO)
    assert (checked.width, checked.height) == size


# --- kiosk recordings ----------------------------------------------------------------------


@pytest.fixture
def kiosk_token(app: Flask, make_branch: Callable[..., Branch]) -> str:
    return new_kiosk(app, make_branch("Peize").id)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode("ascii")


def _upload(client: FlaskClient, token: str, data: bytes, filetype: str) -> tuple[int, dict[str, object]]:
    """One tus upload in a single PATCH; the final status and JSON body."""
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", **ENGLISH}
    meta = f"filetype {_b64(filetype)},sha256 {_b64(hashlib.sha256(data).hexdigest())}"
    created = client.post(
        ENDPOINT, headers={**headers, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    response = client.patch(
        created.headers["Location"],
        data=data,
        headers={**headers, "Upload-Offset": "0"},
        content_type="application/offset+octet-stream",
    )
    return response.status_code, response.get_json(silent=True) or {}


def _nothing_kept(app: Flask) -> Iterator[str]:
    with app.app_context():
        if db.session.scalar(select(func.count()).select_from(Media)):
            yield "a Media row"
        if db.session.scalar(select(func.count()).select_from(Upload)):
            yield "an Upload row"
    root = Path(app.config["MEDIA_ROOT"])
    yield from (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_kiosk_recording_beyond_full_hd_gets_422_json_and_nothing_is_kept(
    app: Flask, client: FlaskClient, kiosk_token: str, videos: Callable[..., Path]
) -> None:
    status, body = _upload(client, kiosk_token, videos(2560, 1440).read_bytes(), "video/mp4")
    assert status == 422
    assert "2560×1440" in str(body["error"])
    assert list(_nothing_kept(app)) == []


def test_a_kiosk_recording_in_full_hd_is_stored(
    app: Flask, client: FlaskClient, kiosk_token: str, videos: Callable[..., Path]
) -> None:
    status, body = _upload(client, kiosk_token, videos(1920, 1080).read_bytes(), "video/mp4")
    assert status == 204, body


# --- #13 hole 14: a voice answer never shows a face ------------------------------------------


def test_a_video_sent_as_a_voice_answer_is_refused_and_nothing_is_kept(
    app: Flask, client: FlaskClient, kiosk_token: str
) -> None:
    # The sample answer video has sound and a face: as audio/mp4 it would play as a "voice" answer.
    video = MEDIA_SET / "sample" / "answer-video.mp4"
    status, body = _upload(client, kiosk_token, video.read_bytes(), "audio/mp4")
    assert status == 422
    assert "sound only" in str(body["error"])
    assert list(_nothing_kept(app)) == []


def test_a_real_voice_answer_is_still_stored(app: Flask, client: FlaskClient, kiosk_token: str) -> None:
    status, body = _upload(client, kiosk_token, VOICE.read_bytes(), "audio/mp4")
    assert status == 204, body


def test_a_spoken_label_with_pictures_is_refused(app: Flask) -> None:
    with app.test_request_context(headers=ENGLISH), pytest.raises(BadMedia, match="sound only"):
        check_path(MEDIA_SET / "sample" / "answer-video.mp4", Expect.AUDIO)


# --- #13 hole 14: multi-range requests -----------------------------------------------------


def test_multi_range_requests_get_416_as_documented(app: Flask, admin_client: FlaskClient) -> None:
    status, page = _post_question(admin_client, VIDEO.read_bytes(), png_claiming(64, 64))
    assert status == 200 or status == 302, page[:500]
    with app.app_context():
        sha256 = db.session.scalar(select(Media.sha256).where(Media.content_type == "video/mp4"))
    with admin_client.get(f"/media/{sha256}", headers={"Range": "bytes=0-9"}) as one:
        assert one.status_code == 206 and len(one.data) == 10
    with admin_client.get(f"/media/{sha256}", headers={"Range": "bytes=0-9,20-29"}) as several:
        assert several.status_code == 416
    spec = admin_client.get("/api/kiosk/v1/openapi.json").get_json()
    assert "multi-range" in spec["paths"]["/media/{sha256}"]["get"]["responses"]["416"]["description"]
