"""Writing questions: uploads are checked by opening them; a bad file stores nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from admin.extensions import db
from admin.mediacheck import check_pictogram
from admin.models import Media, Question, QuestionKind, Role
from tests.admin.helpers import MEDIA_SET, csrf_token, login

VIDEO = MEDIA_SET / "questions" / "satisfaction.nl.mp4"
SUBTITLES = MEDIA_SET / "questions" / "satisfaction.nl.vtt"
HAPPY = MEDIA_SET / "pictograms" / "face-happy.svg"
UNHAPPY = MEDIA_SET / "pictograms" / "face-unhappy.svg"


@pytest.fixture
def admin_client(client: FlaskClient, make_user: Callable) -> FlaskClient:
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    login(client, "boss@bieb.example")
    return client


def _upload(path: Path, name: str | None = None) -> tuple[io.BytesIO, str]:
    return io.BytesIO(path.read_bytes()), name or path.name


def _form(client: FlaskClient, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "csrf_token": csrf_token(client, "/questions/new"),
        "name": "Vriendelijkheid",
        "kind": "choice",
        "language": "nl",
        "text": "Hoe was het?",
        "video": _upload(VIDEO),
        "subtitles": _upload(SUBTITLES),
        "options-0-value": "yes",
        "options-0-label": "Goed",
        "options-0-pictogram": _upload(HAPPY),
        "options-1-value": "no",
        "options-1-label": "Niet goed",
        "options-1-pictogram": _upload(UNHAPPY),
    }
    form.update(overrides)
    return form


# SVG pictures that could run code or reach out when a browser opens them (found from outside: #13).
ACTIVE_SVGS = [
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><s:script xmlns:s="http://www.w3.org/2000/svg">1</s:script></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4" ONMOUSEOVER="alert(1)"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>form</p></foreignObject></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
    b'<a x:href="javascript:alert(1)"><circle r="4"/></a></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><use href="https://evil.example/s.svg#a"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><image href="/media/other"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://evil.example/x.css";</style></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://evil.example/p)"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><a href="#x">'
    b'<set attributeName="href" to="javascript:1"/></a></svg>',
]


def test_every_pictogram_of_the_default_set_passes_the_svg_check() -> None:
    for path in sorted((MEDIA_SET / "pictograms").glob("*.svg")):
        assert check_pictogram(path.read_bytes()) == "image/svg+xml", path.name


def _stored(app: Flask) -> tuple[int, list[Path]]:
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(Media)) or 0
    files = [p for p in Path(app.config["MEDIA_ROOT"]).rglob("*") if p.is_file()]
    return rows, files


def test_question_with_video_subtitles_and_two_pictograms(app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.post(
        "/questions/new", data=_form(admin_client), content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        question = db.session.scalar(select(Question))
        assert question is not None and question.kind is QuestionKind.CHOICE
        assert [(o.value, o.label) for o in question.options] == [("yes", "Goed"), ("no", "Niet goed")]
        prompt = question.prompt_for("nl")
        assert prompt is not None and prompt.video.content_type == "video/mp4"
        assert prompt.video.duration and prompt.video.duration > 0.5
        poster = db.session.get(Media, prompt.video.poster_sha256)
        assert poster is not None and poster.content_type == "image/jpeg"
        assert question.options[0].pictogram_sha256 != question.options[1].pictogram_sha256
    page = admin_client.get(response.headers["Location"])
    assert "Vriendelijkheid" in page.get_data(as_text=True)
    with admin_client.get(f"/media/{prompt.video_sha256}", headers={"Range": "bytes=0-99"}) as video:
        assert video.status_code == 206 and len(video.data) == 100


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("video", (b"this is not a video at all" * 100, "fake.mp4"), "video"),
        ("video", (HAPPY.read_bytes(), "picture.mp4"), "video"),
        ("subtitles", (b"1\n00:00:01,000 --> 00:00:02,000\nSRT, not VTT\n", "x.vtt"), "WEBVTT"),
        ("subtitles", (b"WEBVTT\n\n00:00:03.000 --> 00:00:01.000\nbackwards\n", "x.vtt"), "3"),
        ("options-1-pictogram", (b"GIF89a not really", "x.png"), "picture"),
        ("options-1-pictogram", (b"<svg><unclosed", "x.svg"), "SVG"),
        *[("options-1-pictogram", (svg, "x.svg"), "scripts") for svg in ACTIVE_SVGS],
    ],
)
def test_a_bad_file_gets_a_clear_message_and_nothing_is_stored(
    app: Flask, admin_client: FlaskClient, field: str, bad: tuple[bytes, str], message: str
) -> None:
    data, name = bad
    response = admin_client.post(
        "/questions/new",
        data=_form(admin_client, **{field: (io.BytesIO(data), name)}),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="flash flash-error"' in page
    assert message.lower() in page.lower() or message in page
    assert _stored(app) == (0, [])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Question)) == 0


def test_scale_needs_three_or_five_faces(app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.post(
        "/questions/new", data=_form(admin_client, kind="scale"), content_type="multipart/form-data"
    )
    assert "3" in response.get_data(as_text=True) and "5" in response.get_data(as_text=True)
    assert _stored(app) == (0, [])


def test_add_a_language_to_a_question(app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.post(
        "/questions/new", data=_form(admin_client), content_type="multipart/form-data"
    )
    detail = response.headers["Location"]
    response = admin_client.post(
        detail,
        data={
            "csrf_token": csrf_token(admin_client, detail),
            "language": "en",
            "text": "How was it?",
            "video": _upload(MEDIA_SET / "questions" / "satisfaction.en.mp4"),
            "subtitles": _upload(MEDIA_SET / "questions" / "satisfaction.en.vtt"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        question = db.session.scalar(select(Question))
        assert question is not None and [p.language for p in question.prompts] == ["en", "nl"]


def test_a_video_over_the_size_limit_is_refused(
    app: Flask, admin_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from admin import mediacheck

    small = mediacheck.Limits(seconds=180, video_bytes=VIDEO.stat().st_size - 1, audio_bytes=1)
    monkeypatch.setattr(mediacheck, "PROMPT_LIMITS", small)
    response = admin_client.post(
        "/questions/new", data=_form(admin_client), content_type="multipart/form-data"
    )
    assert "too large" in response.get_data(as_text=True)
    assert _stored(app) == (0, [])


def test_an_upload_over_the_request_limit_gets_a_page_that_says_so(
    app: Flask, admin_client: FlaskClient
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    # A raw body: the test client would spool a multipart body to a temp file it never closes.
    response = admin_client.post(
        "/questions/new", data=b"x" * (2 * 1024 * 1024), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert "at most 1 MB" in response.get_data(as_text=True)
    assert _stored(app) == (0, [])


def test_behind_nginx_media_goes_out_by_x_accel_redirect(app: Flask, admin_client: FlaskClient) -> None:
    form = _form(admin_client)
    response = admin_client.post("/questions/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        prompt = db.session.scalar(select(Question)).prompt_for("nl")
        sha = prompt.video_sha256
    app.config["MEDIA_ACCEL_REDIRECT"] = "/protected-media/"
    response = admin_client.get(f"/media/{sha}")
    assert response.headers["X-Accel-Redirect"] == f"/protected-media/{sha[:2]}/{sha[2:4]}/{sha}"
    assert response.data == b"" and response.mimetype == "video/mp4"
