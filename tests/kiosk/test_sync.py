"""The sync service against a real admin server on 127.0.0.1: enrollment, questions, answers."""

from __future__ import annotations

import hashlib
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import func, select

import mediaseal
from admin.demo.seed import seed
from admin.extensions import db
from admin.models import Answer, Kiosk, Media, Role, Session, User
from admin.storage import media_store
from kiosk import showdoc
from kiosk.config import KioskConfig
from kiosk.hardware.profiles import recorder_profile
from kiosk.outbox import Outbox, OutboxRecording
from kiosk.sync import NotEnrolled, SyncError, SyncService, upload_metadata
from tests.admin.helpers import MEDIA_SET, login
from tests.admin.review_world import distinct_copy

ANSWER_VIDEO = MEDIA_SET / "sample" / "answer-video.mp4"


@pytest.fixture
def server(app: Flask, live_server: str) -> str:
    with app.app_context():
        seed(MEDIA_SET, days=1)
        db.session.commit()
    return live_server


@pytest.fixture
def kiosk_config(tmp_path: Path, server: str) -> KioskConfig:
    return KioskConfig(data_dir=tmp_path / "kiosk", server_url=server)


@pytest.fixture
def service(kiosk_config: KioskConfig) -> Iterator[SyncService]:
    service = SyncService(kiosk_config, chunk_size=64 * 1024)
    yield service
    service.close()


def approve(app: Flask, service: SyncService, branch: str = "Roden") -> None:
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    code = showdoc.build(service.config)["pairing_code"]
    result = app.test_cli_runner().invoke(args=["kiosks", "approve", code, "--branch", branch])
    assert result.exit_code == 0, result.output
    service.ensure_token()


def answer_session(
    outbox: Outbox,
    document: dict,
    recording: Path | None = None,
    answer_uuid: str = "6f1c7c56-8f7e-4d2e-9a3c-0f5d2b1a9e01",
) -> str:
    questionnaire = document["questionnaire"]
    scale = next(q for q in questionnaire["questions"] if q["kind"] == "scale")
    session = outbox.start_session(
        questionnaire["id"],
        questionnaire["version"],
        "nl",
        consent=recording is not None,
        consent_version=questionnaire["consent_version"],
    )
    outbox.add_answer(
        session,
        answer_uuid,
        scale["id"],
        "scale",
        value=scale["options"][0]["value"],
    )
    if recording is not None:
        open_question = next(q for q in questionnaire["questions"] if q["kind"] == "open")
        recording_uuid, path = outbox.recording_path("video")
        shutil.copyfile(recording, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        outbox.register_recording(recording_uuid, "video", path, digest, path.stat().st_size, 5.0)
        outbox.add_answer(
            session,
            "0b8e4a12-3c1d-4f5e-8a9b-7c6d5e4f3a21",
            open_question["id"],
            "video",
            recording_uuid=recording_uuid,
        )
    outbox.finish_session(session)
    return session


def test_enrollment_shows_the_code_and_keeps_the_token_private(app: Flask, service: SyncService) -> None:
    document = showdoc.build(service.config)
    assert document["status"] == "waiting" and document["questionnaire"] is None
    approve(app, service, "Norg")
    assert stat.S_IMODE(service.paths.token.stat().st_mode) == 0o600
    assert not service.paths.enrollment.exists()
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash.is_not(None)))
        assert kiosk is not None and kiosk.branch.name == "Norg"
        assert service.token() not in (kiosk.token_hash or "")


def test_questions_arrive_complete_before_the_kiosk_switches(app: Flask, service: SyncService) -> None:
    approve(app, service)
    assert service.pull_config() is True
    document = showdoc.build(service.config)
    assert document["status"] == "ready" and document["branch"]["name"] == "Roden"
    for item in service.current_config()["media"]:
        cached = service.paths.cache / item["sha256"]
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == item["sha256"]
    first = document["questionnaire"]["questions"][0]
    assert first["prompts"]["nl"]["video"].startswith("/cache/")
    assert service.pull_config() is False  # 304: nothing changed

    # A question's video is damaged on the server: the download fails, the old questions stay. (One
    # whose file is gone is left out of the configuration: tests/admin/test_security_media_identity.py.)
    with app.app_context():
        question_video = first["prompts"]["nl"]["video"].removeprefix("/cache/")
        store = media_store()
        kept = store.path(question_video).read_bytes()
        store.path(question_video).write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))
        db.session.execute(db.update(Kiosk).values(name="renamed"))  # a new configuration
        db.session.commit()
    (service.paths.cache / question_video).unlink()
    before = service.paths.config.read_bytes()
    with pytest.raises(SyncError):
        service.pull_config()
    assert service.paths.config.read_bytes() == before
    with app.app_context():
        store.path(question_video).write_bytes(kept)
    assert service.pull_config() is True
    assert service.current_config()["kiosk"]["name"] == "renamed"


def test_a_tap_session_arrives_once_and_leaves_the_kiosk(app: Flask, service: SyncService) -> None:
    approve(app, service)
    service.pull_config()
    session = answer_session(service.outbox, showdoc.build(service.config))
    assert service.push() == 1
    assert service.outbox.sessions() == []
    assert service.push() == 0
    with app.app_context():
        stored = db.session.get(Session, session)
        assert stored is not None and stored.branch.name == "Roden" and len(stored.answers) == 1


def test_a_recording_is_uploaded_by_tus_then_deleted_on_the_kiosk(
    app: Flask, service: SyncService, tmp_path: Path
) -> None:
    approve(app, service)
    service.pull_config()
    # Not the demo's own sample bytes: those are stored already as a recording no kiosk uploaded.
    recording = distinct_copy(ANSWER_VIDEO, tmp_path / "visitor.mp4", b"a visitor")
    session = answer_session(service.outbox, showdoc.build(service.config), recording=recording)
    assert service.push() == 1
    assert list(service.config.recordings_dir.iterdir()) == []
    with app.app_context():
        stored = db.session.get(Session, session)
        assert stored is not None
        video = next(a for a in stored.answers if a.kind.value == "video")
        media = db.session.get(Media, video.media_sha256)
        assert media is not None and media.content_type == "video/mp4"
        assert media_store().path(media.sha256).read_bytes() == recording.read_bytes()


def test_the_heartbeat_reaches_the_kiosks_page(app: Flask, service: SyncService) -> None:
    approve(app, service)
    answer_session(
        service.outbox,
        {
            "questionnaire": {
                "id": "1",
                "version": 1,
                "consent_version": None,
                "questions": [{"id": "1", "kind": "scale", "options": [{"value": "1"}]}],
            }
        },
    )
    service.paths.hardware.write_text('{"camera_ok": true, "microphone_ok": false}')
    service.heartbeat()
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash.is_not(None)))
        assert kiosk is not None and kiosk.last_heartbeat_at is not None
        assert kiosk.status["outbox_depth"] == 1 and kiosk.status["microphone_ok"] is False
        assert kiosk.status["disk_free_bytes"] > 0 and kiosk.status["oldest_unsent_at"]
        assert abs(kiosk.status["clock_offset_seconds"]) <= 5  # the kiosk said its time, on the same clock


def test_the_heartbeat_carries_the_recorder_profile_to_the_kiosks_page(
    app: Flask, service: SyncService, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    approve(app, service)
    service.heartbeat()  # before the kiosk service has chosen one: nothing to say
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash.is_not(None)))
        assert kiosk is not None and "recorder_profile" not in kiosk.status
    # What the kiosk service does at start: the profile is kept where the heartbeat finds it.
    profile = recorder_profile(service.paths.recorder_profile, "540p-veryfast")
    service.heartbeat()
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash.is_not(None)))
        assert kiosk is not None and kiosk.status["recorder_profile"] == profile.summary()
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])
    login(client, "roden@bieb.example")
    page = client.get("/kiosks").get_data(as_text=True)
    assert "Opname: 540p-veryfast" in page and "libx264 veryfast 960×540, forced" in page


class RoundsDone(Exception):
    """Ends run_forever after the rounds a test wants (its loop catches only sync errors)."""


def test_each_round_does_each_thing_once(
    app: Flask, service: SyncService, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve(app, service)
    requests_made: list[str] = []
    service.http.hooks["response"].append(
        lambda response, *args, **kwargs: requests_made.append(
            f"{response.request.method} {response.request.path_url.split('/api/kiosk/v1')[-1]}"
        )
    )
    service.run_once()
    document = service.current_config()
    assert document is not None
    media_gets = len(document["media"])
    first_session = answer_session(
        service.outbox, {"questionnaire": showdoc.build(service.config)["questionnaire"]}
    )
    # The first round fetched the configuration and its media, had nothing to send, beat once.
    assert requests_made[0] == "GET /config" and requests_made[-1] == "POST /heartbeat"
    assert len(requests_made) == 2 + media_gets, requests_made
    requests_made.clear()

    # Later rounds: the configuration asked once (304), each session sent once, a heartbeat only
    # when one is due (every 60 s), not every 10 s round.
    pauses = 0

    def pause(seconds: float) -> None:  # the loop's sleep between rounds: four rounds, then stop
        nonlocal pauses
        pauses += 1
        if pauses == 4:
            raise RoundsDone

    monkeypatch.setattr("kiosk.sync.time.sleep", pause)
    with pytest.raises(RoundsDone):
        service.run_forever(interval=10.0, heartbeat_every=3600.0)
    assert requests_made == [
        "GET /config",
        f"PUT /sessions/{first_session}",
        "POST /heartbeat",
        "GET /config",
        "GET /config",
        "GET /config",
    ], requests_made


def test_the_heartbeat_counts_without_loading_answers(app: Flask, service: SyncService) -> None:
    approve(app, service)
    service.pull_config()
    questionnaire = showdoc.build(service.config)["questionnaire"]
    assert service.outbox.backlog() == (0, None)
    sessions = [
        answer_session(service.outbox, {"questionnaire": questionnaire}, answer_uuid=str(uuid.uuid4()))
        for _ in range(3)
    ]
    service.outbox.mark_refused(sessions[0], "set aside for a person")
    unsent = service.outbox.unsent()
    depth, oldest = service.outbox.backlog()
    assert depth == len(unsent) == 2
    assert oldest == min(s.finished_at for s in unsent if s.finished_at)


def test_a_revoked_kiosk_asks_for_a_new_pairing_code(app: Flask, service: SyncService) -> None:
    approve(app, service)
    with app.app_context():
        db.session.execute(db.update(Kiosk).values(revoked_at=func.now()))
        db.session.commit()
    with pytest.raises(NotEnrolled):
        service.pull_config()
    assert service.token() is None
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer).where(Answer.uuid == "x")) == 0


def test_a_recording_the_server_refuses_sets_its_session_aside(
    app: Flask, service: SyncService, tmp_path: Path
) -> None:
    approve(app, service)
    service.pull_config()
    not_a_video = tmp_path / "not-a-video.mp4"
    not_a_video.write_bytes(b"no video in here " * 100)
    session = answer_session(service.outbox, showdoc.build(service.config), recording=not_a_video)
    # The server answers 422 at the end of the upload: sending again cannot help, and the service
    # must neither crash (it would crash again on every start) nor hold up later sessions.
    assert service.push() == 0
    [kept] = service.outbox.sessions()
    assert kept.uuid == session and kept.sync_error is not None and "422" in kept.sync_error
    assert service.outbox.unsent() == []
    assert len(list(service.config.recordings_dir.iterdir())) == 1  # kept for a person to look at


def test_upload_metadata_names_the_sealed_bytes_kept_or_hashed_for_an_older_recording(tmp_path: Path) -> None:
    plaintext = ANSWER_VIDEO.read_bytes()
    path = tmp_path / "answer.mp4"
    with path.open("wb") as out:
        writer = mediaseal.SealingWriter(out, bytes(PrivateKey.generate().public_key))
        writer.write(plaintext)
        sealed = writer.finish()
    assert sealed.sealed_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    recording = OutboxRecording(
        uuid=str(uuid.uuid4()),
        kind="video",
        file_name=path.name,
        sha256=sealed.plain_sha256,
        size=sealed.plain_size,
        duration=5.0,
        state="given",
        created_at=datetime.now(UTC),
        upload_url=None,
        uploaded_at=None,
        sealed_sha256=sealed.sealed_sha256,
    )
    expected = {
        "filename": "answer.mp4",
        "filetype": "video/mp4",
        "sha256": sealed.sealed_sha256,
        "sealed": "1",
        "plain_sha256": sealed.plain_sha256,
    }
    assert upload_metadata(path, recording) == expected
    # Sealed by a kiosk version that did not keep the hash: the file is read once to make it.
    assert upload_metadata(path, replace(recording, sealed_sha256=None)) == expected
    # A plain recording names its own sha256.
    plain = tmp_path / "plain.mp4"
    plain.write_bytes(plaintext)
    plain_recording = replace(
        recording, file_name=plain.name, sha256=hashlib.sha256(plaintext).hexdigest(), sealed_sha256=None
    )
    assert upload_metadata(plain, plain_recording) == {
        "filename": "plain.mp4",
        "filetype": "video/mp4",
        "sha256": plain_recording.sha256,
    }
