"""The outbox keeps every confirmed answer and nothing half-made."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.outbox import Outbox, OutboxError, RecordingState


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3", tmp_path / "recordings")
    yield box
    box.close()


def new_id() -> str:
    return str(uuid.uuid4())


def fake_recording(outbox: Outbox, kind: str = "video", content: bytes = b"fragmented mp4") -> str:
    recording_uuid, path = outbox.recording_path(kind)
    path.write_bytes(content)
    outbox.register_recording(recording_uuid, kind, path, "ab" * 32, len(content), 2.0)
    return recording_uuid


def test_wal_and_full_sync_are_on(outbox: Outbox) -> None:
    with outbox.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_a_session_with_a_tap_and_a_recording(outbox: Outbox) -> None:
    session = outbox.start_session("default", None, "nl", consent=True, consent_version="2026-1")
    tap = new_id()
    outbox.add_answer(session, tap, "satisfaction", "scale", value="5")
    outbox.add_answer(session, tap, "satisfaction", "scale", value="5")  # a resend changes nothing
    recording = fake_recording(outbox)
    outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=recording)
    outbox.finish_session(session)
    [stored] = outbox.sessions(finished_only=True)
    assert [(a.kind, a.value) for a in stored.answers] == [("scale", "5"), ("video", None)]
    assert stored.answers[1].recording is not None
    assert stored.answers[1].recording.state == RecordingState.GIVEN
    with pytest.raises(OutboxError, match="finished"):
        outbox.add_answer(session, new_id(), "story", "scale", value="1")


def test_confirming_a_session_with_two_recordings_removes_them(outbox: Outbox) -> None:
    session = outbox.start_session("default", None, "nl", consent=True, consent_version="2026-1")
    outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=fake_recording(outbox))
    outbox.add_answer(session, new_id(), "story", "voice", recording_uuid=fake_recording(outbox, "voice"))
    outbox.add_answer(session, new_id(), "satisfaction", "scale", value="5")
    outbox.finish_session(session)
    outbox.confirm(session)
    assert outbox.sessions() == []
    assert list(outbox.recordings_dir.iterdir()) == []
    with outbox.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM recordings").scalar() == 0


def test_no_recording_without_consent(outbox: Outbox) -> None:
    session = outbox.start_session("default", None, "nl", consent=False)
    recording = fake_recording(outbox)
    with pytest.raises(OutboxError, match="consent"):
        outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=recording)


@pytest.mark.parametrize(
    ("kind", "value", "recording", "message"),
    [
        ("scale", None, None, "tap answer"),
        ("video", None, None, "recording does not exist"),
        ("voice", None, "video", "recording does not exist"),  # a video given as voice
        ("smell", "1", None, "unknown answer kind"),
    ],
)
def test_malformed_answers_are_refused(
    outbox: Outbox, kind: str, value: str | None, recording: str | None, message: str
) -> None:
    session = outbox.start_session("default", None, "nl", consent=True)
    recording_uuid = fake_recording(outbox, recording) if recording else None
    with pytest.raises(OutboxError, match=message):
        outbox.add_answer(session, new_id(), "q", kind, value=value, recording_uuid=recording_uuid)


def test_taking_back_an_answer_removes_its_recording(outbox: Outbox) -> None:
    session = outbox.start_session("default", None, "nl", consent=True)
    recording = fake_recording(outbox, "voice")
    answer = new_id()
    outbox.add_answer(session, answer, "story", "voice", recording_uuid=recording)
    outbox.take_back(session, answer)
    assert list(outbox.recordings_dir.iterdir()) == []
    outbox.finish_session(session)
    assert outbox.sessions() == []  # nothing answered: nothing kept


def test_discarding_a_recording_in_review_leaves_no_file(outbox: Outbox) -> None:
    recording = fake_recording(outbox)
    outbox.discard_recording(recording)
    assert outbox.recording(recording) is None
    assert list(outbox.recordings_dir.iterdir()) == []


def test_recovery_removes_what_a_crash_left_half_made(outbox: Outbox) -> None:
    session = outbox.start_session("default", None, "nl", consent=True)
    kept = fake_recording(outbox)
    outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=kept)
    outbox.add_answer(session, new_id(), "satisfaction", "scale", value="4")
    in_review = fake_recording(outbox)  # the visitor never pressed send
    (outbox.recordings_dir / "deadbeef.mp4.part").write_bytes(b"cut by the power loss")
    (outbox.recordings_dir / "stray.mp4").write_bytes(b"no row knows me")
    empty = outbox.start_session("default", None, "en", consent=False)

    report = Outbox(outbox.database, outbox.recordings_dir).recover()

    assert report.integrity == "ok"
    assert report.partial_files_removed == ["deadbeef.mp4.part"]
    assert report.unsent_reviews_removed == 1 and outbox.recording(in_review) is None
    assert report.orphan_files_removed == ["stray.mp4"]
    assert report.sessions_closed == 1 and report.empty_sessions_removed == 1
    [closed] = outbox.sessions(finished_only=True)
    assert closed.uuid == session and len(closed.answers) == 2
    assert closed.finished_at == closed.answers[-1].answered_at
    assert empty not in {s.uuid for s in outbox.sessions()}
    assert sorted(p.name for p in outbox.recordings_dir.iterdir()) == [outbox.recording(kept).file_name]


def test_a_newer_outbox_is_not_touched(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    with box.engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA user_version = 99")
    box.close()
    with pytest.raises(RuntimeError, match="newer kiosk version"):
        Outbox(tmp_path / "o.sqlite3", tmp_path / "r")


def test_a_parent_s_no_allows_taps_but_no_recording(outbox: Outbox) -> None:
    session = outbox.start_session(
        "default", 3, "nl", consent=True, consent_version="2026-1", parent_consent=False
    )
    outbox.add_answer(session, new_id(), "satisfaction", "scale", value="4")
    recording = fake_recording(outbox)
    with pytest.raises(OutboxError, match="consent"):
        outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=recording)
    agreed = outbox.start_session(
        "default", 3, "nl", consent=True, consent_version="2026-1", parent_consent=True
    )
    outbox.add_answer(agreed, new_id(), "improve", "video", recording_uuid=recording)
    stored = {s.uuid: s.parent_consent for s in outbox.sessions()}
    assert stored == {session: False, agreed: True}


def test_an_outbox_from_before_the_parent_step_is_brought_up_to_date(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    kept = box.start_session("default", 3, "nl", consent=True, consent_version="2026-1")
    with box.engine.begin() as connection:  # the version 1 schema: no parent_consent column
        connection.exec_driver_sql("ALTER TABLE sessions DROP COLUMN parent_consent")
        connection.exec_driver_sql("PRAGMA user_version = 1")
    box.close()
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    try:
        with box.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA user_version").scalar() == 2
        [session] = box.sessions()
        assert session.uuid == kept and session.consent and session.parent_consent is None
    finally:
        box.close()
