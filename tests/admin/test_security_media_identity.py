"""Media have an owner and a purpose (issue #13, holes 1 and 9).

A kiosk answers only with recordings it uploaded itself: never with a question's file (downloaded
from /media) nor with another kiosk's upload. Erasure and retention delete visitors' recordings
only, never what a question, option, activity or the privacy step uses; /config and /heartbeat
leave out what lost its file instead of failing. A recording that no answer names yet is seen only
in the uploading kiosk's branch, and retention removes it after a grace period.

Everything goes through the real interfaces: the kiosk API (tus uploads, sessions, config), the
staff erasure page, and ``flask retention run``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text, update
from werkzeug.test import TestResponse

from admin.extensions import db
from admin.kiosks.tokens import hash_secret, new_token
from admin.mediafiles.operations import Expect, store_path
from admin.models import (
    Answer,
    AnswerOption,
    Kiosk,
    Media,
    OptionTranslation,
    PrivacySettings,
    Question,
    Questionnaire,
    QuestionPrompt,
    Session,
    Upload,
)
from admin.storage import media_store
from tests.admin.helpers import MEDIA_SET, csrf_token, login
from tests.admin.review_world import STAFF_BORGER, STAFF_RODEN, World, distinct_copy

API = "/api/kiosk/v1"
SAMPLE_VIDEO = MEDIA_SET / "sample" / "answer-video.mp4"


# --- a kiosk of the review world, speaking the kiosk API ------------------------------------------


def kiosk_headers(app: Flask, world: World, branch: str) -> dict[str, str]:
    """A token for the world's kiosk in ``branch`` (as enrollment would hand out)."""
    token = new_token()
    with app.app_context():
        kiosk = db.session.get(Kiosk, world.kiosks[branch])
        assert kiosk is not None
        kiosk.token_hash = hash_secret(token)
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def upload(client: FlaskClient, headers: dict[str, str], data: bytes, filetype: str) -> TestResponse:
    """A whole tus upload in one PATCH; the answer of the PATCH (or of the creation, if refused)."""
    sha = hashlib.sha256(data).hexdigest()
    fields = {"filename": "antwoord", "filetype": filetype, "sha256": sha}
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    created = client.post(
        f"{API}/uploads", headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    if created.status_code != 201:
        return created
    return client.patch(
        created.headers["Location"],
        data=data,
        headers={**tus, "Upload-Offset": "0"},
        content_type="application/offset+octet-stream",
    )


def answer_with(
    client: FlaskClient, headers: dict[str, str], world: World, sha: str, kind: str = "video"
) -> tuple[str, TestResponse]:
    """PUT a session answering the open question with the recording ``sha``; its uuid and answer."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "questionnaire_version_id": world.versions["visit"],
        "language": "nl",
        "consent": True,
        "consent_version": "2026-1",
        "started_at": (now - timedelta(minutes=2)).isoformat(),
        "finished_at": now.isoformat(),
        "answers": [
            {
                "uuid": str(uuid.uuid4()),
                "question_id": world.questions["open"],
                "kind": kind,
                "value": None,
                "media_sha256": sha,
                "answered_at": now.isoformat(),
            }
        ],
    }
    session_uuid = str(uuid.uuid4())
    return session_uuid, client.put(f"{API}/sessions/{session_uuid}", json=body, headers=headers)


def question_files(app: Flask, world: World) -> dict[str, str]:
    """Every kind of file staff give questions, options, activities and the privacy step; the review
    world has the prompt video, its poster, subtitles and pictograms, and gets spoken audio here."""
    with app.app_context():
        prompt = db.session.scalar(
            select(QuestionPrompt).where(QuestionPrompt.question_id == world.questions["open"])
        )
        assert prompt is not None and prompt.video.poster_sha256
        option = db.session.scalar(
            select(AnswerOption).where(AnswerOption.question_id == world.questions["scale"])
        )
        assert option is not None and option.pictogram_sha256
        audio = MEDIA_SET / "audio"
        option_audio = store_path(audio / "activity-1.en.m4a", Expect.AUDIO)
        db.session.add(
            OptionTranslation(
                option_id=option.id, language="en", label="Unhappy", audio_sha256=option_audio.sha256
            )
        )
        activity_picture = store_path(MEDIA_SET / "pictograms" / "face-happy.svg", Expect.PICTOGRAM)
        activity_audio = store_path(audio / "activity-name-klik-tik.nl.m4a", Expect.AUDIO)
        course = db.session.get(Questionnaire, world.questionnaires["course"])
        assert course is not None
        course.activity_pictogram_sha256 = activity_picture.sha256
        course.activity_audio_sha256 = activity_audio.sha256
        parent_audio = store_path(audio / "activity-2.nl.m4a", Expect.AUDIO)
        db.session.add(
            PrivacySettings(
                id=1,
                video_days=30,
                voice_days=30,
                tap_days=None,
                parent_step=True,
                parent_texts={"nl": "Mag het?"},
                parent_audio={"nl": parent_audio.sha256},
            )
        )
        db.session.commit()
        return {
            "prompt video": prompt.video_sha256,
            "prompt poster": prompt.video.poster_sha256,
            "subtitles": prompt.subtitles_sha256,
            "option pictogram": option.pictogram_sha256,
            "option audio": option_audio.sha256,
            "activity pictogram": activity_picture.sha256,
            "activity audio": activity_audio.sha256,
            "privacy audio": parent_audio.sha256,
        }


def media_rows(app: Flask, shas: object) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Media.sha256).where(Media.sha256.in_(list(shas)))))  # type: ignore[call-overload]


def stored_files(app: Flask, shas: object) -> set[str]:
    with app.app_context():
        store = media_store()
        return {sha for sha in shas if store.exists(sha)}  # type: ignore[attr-defined]


def stored(app: Flask, session_uuid: str) -> bool:
    with app.app_context():
        return db.session.get(Session, session_uuid) is not None


def config_ok(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    config = client.get(f"{API}/config", headers=headers)
    assert config.status_code == 200, config.get_data(as_text=True)[:300]
    heartbeat = client.post(f"{API}/heartbeat", json={"app_version": "1"}, headers=headers)
    assert heartbeat.status_code == 200, heartbeat.get_data(as_text=True)[:300]
    document: dict[str, Any] = config.get_json()
    return document


# --- hole 1: a recording never takes the identity of a question's file -----------------------------


@pytest.mark.parametrize(
    ("name", "filetype"), [("prompt video", "video/mp4"), ("activity audio", "audio/mp4")]
)
def test_a_kiosk_cannot_upload_a_question_s_file_as_its_recording(
    app: Flask, client: FlaskClient, world: World, name: str, filetype: str
) -> None:
    files = question_files(app, world)
    kiosk = kiosk_headers(app, world, "Roden")
    sha = files[name]
    assert sha in {m["sha256"] for m in config_ok(client, kiosk)["media"]}
    # The attack of the issue: download a question's file as any kiosk may, send it back as an answer.
    with client.get(f"{API}/media/{sha}", headers=kiosk) as download:
        assert download.status_code == 200
        data = download.get_data()

    refused = upload(client, kiosk, data, filetype)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "not as a recording of this kiosk" in refused.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 0  # nothing half-stored

    session_uuid, answered = answer_with(
        client, kiosk, world, sha, "video" if filetype == "video/mp4" else "voice"
    )
    assert answered.status_code == 422, answered.get_data(as_text=True)
    assert "not a recording this kiosk uploaded" in answered.get_json()["error"]
    assert not stored(app, session_uuid)
    assert sha in {m["sha256"] for m in config_ok(client, kiosk)["media"]}
    assert media_rows(app, [sha]) == stored_files(app, [sha]) == {sha}


def test_no_question_file_of_any_kind_is_accepted_as_an_answer(
    app: Flask, client: FlaskClient, world: World
) -> None:
    files = question_files(app, world)
    kiosk = kiosk_headers(app, world, "Roden")
    for name, sha in files.items():
        session_uuid, answered = answer_with(client, kiosk, world, sha)
        assert answered.status_code == 422, (name, answered.get_data(as_text=True))
        assert answered.get_json()["error"].endswith("is not a recording this kiosk uploaded"), name
        assert not stored(app, session_uuid)


def test_a_kiosk_cannot_take_another_kiosk_s_recording(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    roden, borger = kiosk_headers(app, world, "Roden"), kiosk_headers(app, world, "Borger")
    data = distinct_copy(SAMPLE_VIDEO, tmp_path / "roden.mp4", b"a visitor in Roden").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert upload(client, roden, data, "video/mp4").status_code == 204

    # The same bytes from Borger (a copy it should never have had): refused, upload and answer.
    refused = upload(client, borger, data, "video/mp4")
    assert refused.status_code == 422, refused.get_data(as_text=True)
    session_uuid, answered = answer_with(client, borger, world, sha)
    assert answered.status_code == 422, answered.get_data(as_text=True)
    assert not stored(app, session_uuid)

    # Roden itself may send it again (a lost answer to its last PATCH) and answer with it.
    assert upload(client, roden, data, "video/mp4").status_code == 204
    _, again = answer_with(client, roden, world, sha)
    assert again.status_code == 201, again.get_data(as_text=True)


# --- hole 1: erasure and retention delete recordings only ------------------------------------------


def plant(app: Flask, world: World, answers: dict[str, str]) -> None:
    """Answers that name a question's file, as main accepted before this was mended (and as a
    database of then still holds)."""
    with app.app_context():
        for answer_name, sha in answers.items():
            db.session.execute(
                update(Answer).where(Answer.uuid == world.answers[answer_name]).values(media_sha256=sha)
            )
        db.session.commit()


def test_erasing_a_session_never_deletes_a_question_s_file(
    app: Flask, client: FlaskClient, world: World
) -> None:
    files = question_files(app, world)
    video = files["prompt video"]
    plant(app, world, {"r_video": video})
    with app.app_context():
        answer = db.session.get(Answer, world.answers["r_video"])
        assert answer is not None
        session_uuid = answer.session_uuid

    login(client, STAFF_RODEN)
    page = f"/privacy/erase/{session_uuid}"
    done = client.post(page, data={"csrf_token": csrf_token(client, page), "confirm": "y"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Session, session_uuid) is None
    assert media_rows(app, files.values()) == stored_files(app, files.values()) == set(files.values())
    document = config_ok(client, kiosk_headers(app, world, "Roden"))
    assert {video, files["prompt poster"], files["subtitles"]} <= {m["sha256"] for m in document["media"]}


def test_retention_never_deletes_a_question_s_file(app: Flask, client: FlaskClient, world: World) -> None:
    files = question_files(app, world)
    # The review world's answers are from March: older than any retention period. Its voice answer
    # keeps its own recording, which goes.
    plant(app, world, {"r_video": files["prompt poster"], "b_video": files["activity audio"]})
    recording = world.media["voice_roden"]

    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert media_rows(app, files.values()) == stored_files(app, files.values()) == set(files.values())
    assert media_rows(app, [recording]) == stored_files(app, [recording]) == set()
    with app.app_context():
        # The answers lost their link, as any expired recording answer does.
        named = select(Answer.media_sha256).where(
            Answer.uuid.in_([world.answers[n] for n in ("r_video", "r_voice", "b_video")])
        )
        assert set(db.session.scalars(named)) == {None}
    document = config_ok(client, kiosk_headers(app, world, "Roden"))
    assert set(files.values()) <= {m["sha256"] for m in document["media"]}


# --- hole 1: /config and /heartbeat never fail on missing media ------------------------------------


def test_config_leaves_out_what_lost_its_file_or_row(
    app: Flask, client: FlaskClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    files = question_files(app, world)
    kiosk = kiosk_headers(app, world, "Roden")
    with app.app_context():
        scale = db.session.get(Question, world.questions["scale"])
        assert scale is not None
        english = store_path(MEDIA_SET / "questions" / "improve.nl.mp4", Expect.VIDEO)
        subtitles = store_path(MEDIA_SET / "questions" / "improve.nl.vtt", Expect.SUBTITLES)
        scale.prompts.append(
            QuestionPrompt(
                language="en",
                text="How was it?",
                video_sha256=english.sha256,
                subtitles_sha256=subtitles.sha256,
            )
        )
        db.session.commit()
        english_files = {english.sha256, subtitles.sha256}

    # The Dutch prompt video's file is gone: the open question (Dutch only) is left out, the scale
    # question keeps its English prompt.
    with app.app_context():
        media_store().delete(files["prompt video"])
    with caplog.at_level(logging.WARNING):
        document = config_ok(client, kiosk)
    visit = next(q for q in document["questionnaires"] if q["id"] == world.questionnaires["visit"])
    assert [(q["id"], sorted(q["prompts"])) for q in visit["questions"]] == [
        (world.questions["scale"], ["en"])
    ]
    assert files["prompt video"] not in {m["sha256"] for m in document["media"]}
    assert f"media {files['prompt video']} is missing" in caplog.text

    # An option's pictogram row is gone too (a damaged database): the option is shown without it.
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            connection.exec_driver_sql("SET session_replication_role = replica")
        connection.execute(text("DELETE FROM media WHERE sha256 = :sha"), {"sha": files["option pictogram"]})
    document = config_ok(client, kiosk)
    visit = next(q for q in document["questionnaires"] if q["id"] == world.questionnaires["visit"])
    pictograms = [o["pictogram"] for o in visit["questions"][0]["options"]]
    assert None in pictograms and files["option pictogram"] not in pictograms
    named = {m["sha256"] for m in document["media"]}
    assert files["option pictogram"] not in named and english_files <= named


# --- hole 9: recordings not yet in a session ----------------------------------------------------------


def test_a_recording_no_answer_names_yet_is_seen_only_in_the_kiosk_s_branch(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    roden = kiosk_headers(app, world, "Roden")
    data = distinct_copy(SAMPLE_VIDEO, tmp_path / "waiting.mp4", b"not in a session yet").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert upload(client, roden, data, "video/mp4").status_code == 204

    borger = app.test_client()
    login(borger, STAFF_BORGER)
    for path in (f"/media/{sha}", f"/media/{sha}/poster"):
        with borger.get(path) as response:
            assert response.status_code == 404, path

    login(client, STAFF_RODEN)
    with client.get(f"/media/{sha}/poster") as poster:
        assert poster.status_code == 200
        assert poster.headers["Cache-Control"] == "private, no-store"
    with client.get(f"/media/{sha}") as own:
        assert own.status_code == 200 and own.headers["Cache-Control"] == "private, no-store"
    with app.app_context():
        media = db.session.get(Media, sha)
        assert media is not None and media.poster_sha256
        poster_sha = media.poster_sha256
    with borger.get(f"/media/{poster_sha}") as response:
        assert response.status_code == 404


def age(app: Flask, sha: str, hours: float) -> None:
    """Make the upload of ``sha`` (and its row) ``hours`` old."""
    moment = datetime.now(UTC) - timedelta(hours=hours)
    with app.app_context():
        db.session.execute(update(Media).where(Media.sha256 == sha).values(created_at=moment))
        db.session.execute(update(Upload).where(Upload.media_sha256 == sha).values(completed_at=moment))
        db.session.commit()


def test_retention_removes_recordings_never_answered_with_after_the_grace_period(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    roden = kiosk_headers(app, world, "Roden")
    orphan = distinct_copy(SAMPLE_VIDEO, tmp_path / "orphan.mp4", b"never answered").read_bytes()
    answered = distinct_copy(SAMPLE_VIDEO, tmp_path / "answered.mp4", b"answered").read_bytes()
    orphan_sha, answered_sha = hashlib.sha256(orphan).hexdigest(), hashlib.sha256(answered).hexdigest()
    for data in (orphan, answered):
        assert upload(client, roden, data, "video/mp4").status_code == 204
    assert answer_with(client, roden, world, answered_sha)[1].status_code == 201
    login(client, STAFF_RODEN)
    with client.get(f"/media/{orphan_sha}/poster") as poster:
        assert poster.status_code == 200
    with app.app_context():
        media = db.session.get(Media, orphan_sha)
        assert media is not None and media.poster_sha256
        doomed = {orphan_sha, media.poster_sha256}

    # Within the grace period (ORPHAN_RECORDING_HOURS, 48 by default) the kiosk may still send its
    # session: kept.
    for sha in (orphan_sha, answered_sha):
        age(app, sha, 47)
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "0 recordings never answered with" in result.output
    assert media_rows(app, doomed) == stored_files(app, doomed) == doomed

    for sha in (orphan_sha, answered_sha):
        age(app, sha, 49)
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 recordings never answered with" in result.output
    assert media_rows(app, doomed) == stored_files(app, doomed) == set()
    assert media_rows(app, [answered_sha]) == stored_files(app, [answered_sha]) == {answered_sha}
    with client.get(f"/media/{orphan_sha}") as gone:
        assert gone.status_code == 404


# --- the migration: purposes and owners of the data already there ----------------------------------


def test_migration_0009_finds_the_purpose_and_owner_of_stored_media(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    files = question_files(app, world)
    roden = kiosk_headers(app, world, "Roden")
    data = distinct_copy(SAMPLE_VIDEO, tmp_path / "uploaded.mp4", b"uploaded before 0009").read_bytes()
    assert upload(client, roden, data, "video/mp4").status_code == 204
    # A database of before: a kiosk had answered with a question's file too.
    with app.app_context():
        answer = db.session.get(Answer, world.answers["b_video"])
        assert answer is not None
        taken = Answer(
            uuid=str(uuid.uuid4()),
            session_uuid=answer.session_uuid,
            question_id=answer.question_id,
            kind=answer.kind,
            media_sha256=files["prompt video"],
            branch_id=answer.branch_id,
            answered_at=answer.answered_at,
        )
        db.session.add(taken)
        db.session.commit()
    with app.app_context():
        before = {m.sha256: (m.purpose, m.kiosk_id) for m in db.session.scalars(select(Media))}
    recordings = {sha for sha, (purpose, _) in before.items() if purpose == "recording"}
    assert hashlib.sha256(data).hexdigest() in recordings and world.media["video_roden"] in recordings
    assert not recordings & set(files.values())

    with app.app_context():
        downgrade(revision="0008")
        db.engine.dispose()
        assert "purpose" not in {c["name"] for c in inspect(db.engine).get_columns("media")}
        upgrade()
        db.engine.dispose()
        after = {m.sha256: (m.purpose, m.kiosk_id) for m in db.session.scalars(select(Media))}
    assert after == before
