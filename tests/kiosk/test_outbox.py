"""The outbox keeps every confirmed answer and nothing half-made."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.outbox import SCHEMA_VERSION, Outbox, OutboxError, RecordingState
from kiosk.sync import session_body


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
    with outbox.transaction(write=False) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


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
    with outbox.transaction(write=False) as db:
        assert db.execute("SELECT count(*) FROM recordings").fetchone()[0] == 0


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


def test_a_question_answered_again_keeps_only_the_last_answer(outbox: Outbox) -> None:
    """The server takes one answer per question: a second one replaces the first, recording and all."""
    session = outbox.start_session("default", None, "nl", consent=True)
    video = fake_recording(outbox, "video")
    outbox.add_answer(session, new_id(), "story", "video", recording_uuid=video)
    outbox.add_answer(session, new_id(), "satisfaction", "scale", value="2")
    voice = fake_recording(outbox, "voice")
    last = new_id()
    outbox.add_answer(session, last, "story", "voice", recording_uuid=voice)
    outbox.add_answer(session, new_id(), "satisfaction", "scale", value="4")
    outbox.finish_session(session)
    [kept] = outbox.sessions()
    assert sorted((a.question_id, a.kind, a.value) for a in kept.answers) == [
        ("satisfaction", "scale", "4"),
        ("story", "voice", None),
    ]
    assert outbox.recording(video) is None
    assert [p.name for p in outbox.recordings_dir.iterdir()] == [outbox.recording(voice).file_name]


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
    with box.transaction() as db:
        db.execute("PRAGMA user_version = 99")
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


def test_a_session_keeps_its_activity_and_member_answer_for_the_server(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    try:
        session = box.start_session("7", 3, "nl", consent=False, activity="Klik&Tik", member="no")
        plain = box.start_session("8", 4, "nl", consent=False)
        with pytest.raises(OutboxError, match="member must be one of"):
            box.start_session("7", 3, "nl", consent=False, member="maybe")
        for made in (session, plain):
            box.add_answer(made, str(uuid.uuid4()), "1", "scale", value="4")
            box.finish_session(made)
        sent = {s.uuid: session_body(s) for s in box.unsent()}
        assert (sent[session]["activity"], sent[session]["member"]) == ("Klik&Tik", "no")
        assert "activity" not in sent[plain] and "member" not in sent[plain]
    finally:
        box.close()


@pytest.mark.parametrize(
    ("version", "later_columns"),
    [
        (1, ["parent_consent", "missing_devices", "activity", "member", "recordings.sealed_sha256"]),
        (2, ["missing_devices", "activity", "member", "recordings.sealed_sha256"]),
        (3, ["recordings.sealed_sha256"]),
    ],
)
def test_an_outbox_from_an_earlier_version_is_brought_up_to_date(
    tmp_path: Path, version: int, later_columns: list[str]
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    kept = box.start_session("default", 3, "nl", consent=True, consent_version="2026-1")
    with box.transaction() as db:  # that version's schema: without the columns added since
        for column in later_columns:
            table, _, name = column.rpartition(".")
            db.execute(f"ALTER TABLE {table or 'sessions'} DROP COLUMN {name}")
        db.execute(f"PRAGMA user_version = {version}")
    box.close()
    box = Outbox(tmp_path / "o.sqlite3", tmp_path / "r")
    try:
        with box.transaction(write=False) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        [session] = box.sessions()
        assert session.uuid == kept and session.consent and session.parent_consent is None
        assert session.missing_devices == []
        box.note_missing_device(kept, "microphone")
        assert box.sessions()[0].missing_devices == ["microphone"]
        recording_uuid, path = box.recording_path("voice")
        path.write_bytes(b"sealed")
        box.register_recording(recording_uuid, "voice", path, "ab" * 32, 6, 1.0, sealed_sha256="cd" * 32)
        with box.transaction(write=False) as db:
            assert db.execute("SELECT sealed_sha256 FROM recordings").fetchone()[0] == "cd" * 32
    finally:
        box.close()


def test_a_session_records_the_devices_that_did_not_work(outbox: Outbox) -> None:
    session = outbox.start_session("default", 3, "nl", consent=False, missing_devices=["microphone"])
    outbox.note_missing_device(session, "camera")
    outbox.note_missing_device(session, "microphone")  # once is enough
    assert outbox.sessions()[0].missing_devices == ["camera", "microphone"]
    with pytest.raises(OutboxError, match="unknown devices"):
        outbox.start_session("default", 3, "nl", consent=False, missing_devices=["printer"])


# What SQLAlchemy wrote when it kept the outbox (up to version 0.1 of the kiosk), byte for byte:
# a kiosk updated in the field opens its outbox as it is, with the answers that wait in it.
SQLALCHEMY_SCHEMA = """
CREATE TABLE sessions (
	uuid VARCHAR(36) NOT NULL, questionnaire_id VARCHAR(64) NOT NULL, questionnaire_version INTEGER,
	language VARCHAR(5) NOT NULL, consent BOOLEAN NOT NULL, consent_version VARCHAR(40),
	parent_consent BOOLEAN, started_at DATETIME NOT NULL, finished_at DATETIME,
	sync_error VARCHAR(500), PRIMARY KEY (uuid));
CREATE TABLE recordings (
	uuid VARCHAR(36) NOT NULL, kind VARCHAR(8) NOT NULL, file_name VARCHAR(80) NOT NULL,
	sha256 VARCHAR(64) NOT NULL, size INTEGER NOT NULL, duration DOUBLE NOT NULL,
	state VARCHAR(8) NOT NULL, created_at DATETIME NOT NULL, upload_url VARCHAR(500),
	uploaded_at DATETIME, PRIMARY KEY (uuid));
CREATE TABLE answers (
	uuid VARCHAR(36) NOT NULL, session_uuid VARCHAR(36) NOT NULL, question_id VARCHAR(64) NOT NULL,
	kind VARCHAR(8) NOT NULL, value VARCHAR(40), recording_uuid VARCHAR(36),
	answered_at DATETIME NOT NULL, PRIMARY KEY (uuid),
	FOREIGN KEY(session_uuid) REFERENCES sessions (uuid) ON DELETE CASCADE,
	FOREIGN KEY(recording_uuid) REFERENCES recordings (uuid));
CREATE INDEX ix_answers_session_uuid ON answers (session_uuid);
INSERT INTO sessions VALUES ('s-1', 'default', 3, 'nl', 1, '2026-1', NULL,
	'2026-11-20 14:03:07.250000', '2026-11-20 14:04:11.000001', NULL);
INSERT INTO recordings VALUES ('r-1', 'video', 'r-1.mp4', 'ab', 14, 2.5, 'given',
	'2026-11-20 14:03:30.000000', 'http://server/api/kiosk/uploads/u-1', NULL);
INSERT INTO answers VALUES ('a-2', 's-1', 'improve', 'video', NULL, 'r-1', '2026-11-20 14:03:40.500000');
INSERT INTO answers VALUES ('a-1', 's-1', 'satisfaction', 'scale', '4', NULL, '2026-11-20 14:03:09.000000');
PRAGMA user_version = 2;
"""


def test_an_outbox_written_by_sqlalchemy_opens_with_its_answers(tmp_path: Path) -> None:
    database = tmp_path / "outbox.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        connection.executescript(SQLALCHEMY_SCHEMA)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "r-1.mp4").write_bytes(b"fragmented mp4")
    box = Outbox(database, tmp_path / "recordings")
    try:
        assert box.recover().missing_files == []
        [session] = box.unsent()
        assert (session.uuid, session.questionnaire_version, session.consent) == ("s-1", 3, True)
        assert session.parent_consent is None and session.may_record
        assert session.missing_devices == []
        # Version 2 had no activity and no member answer: they read as not known.
        assert (session.activity, session.member) == (None, None)
        assert session.started_at == datetime(2026, 11, 20, 14, 3, 7, 250000, tzinfo=UTC)
        assert session.finished_at == datetime(2026, 11, 20, 14, 4, 11, 1, tzinfo=UTC)
        assert [a.uuid for a in session.answers] == ["a-1", "a-2"]  # in the order given
        recording = session.answers[1].recording
        assert recording is not None and recording.upload_url == "http://server/api/kiosk/uploads/u-1"
        assert (recording.size, recording.duration, recording.uploaded_at) == (14, 2.5, None)
        box.mark_uploaded("r-1")
        box.confirm("s-1")
        assert box.sessions() == [] and list(box.recordings_dir.iterdir()) == []
    finally:
        box.close()


def test_the_kiosk_service_and_the_sync_process_write_at_the_same_time(tmp_path: Path) -> None:
    """Two connections, as the two processes have, each reading before it writes.

    A transaction begun as a reader that then writes fails at once ("database is locked",
    without waiting) when the other connection wrote in between; the outbox's writing
    transactions take the lock first."""
    database, recordings = tmp_path / "outbox.sqlite3", tmp_path / "recordings"
    service, sync = Outbox(database, recordings), Outbox(database, recordings)
    failures: list[BaseException] = []

    def visitors() -> None:
        try:
            for _ in range(60):
                session = service.start_session("default", None, "nl", consent=True)
                service.add_answer(session, new_id(), "satisfaction", "scale", value="5")
                service.finish_session(session)
        except BaseException as exc:  # reported below, on the test thread
            failures.append(exc)

    visiting = threading.Thread(target=visitors)
    visiting.start()
    confirmed = 0
    while visiting.is_alive() or sync.unsent():
        for session in sync.unsent():
            sync.confirm(session.uuid)
            confirmed += 1
    visiting.join()
    service.close()
    sync.close()
    assert failures == [] and confirmed == 60


def test_threads_share_one_outbox_and_a_refused_answer_changes_nothing(outbox: Outbox) -> None:
    def visitor(_: int) -> str:
        session = outbox.start_session("default", None, "nl", consent=False)
        outbox.add_answer(session, new_id(), "satisfaction", "scale", value="4")
        with pytest.raises(OutboxError, match="consent"):
            outbox.add_answer(session, new_id(), "improve", "video", recording_uuid=fake_recording(outbox))
        outbox.finish_session(session)
        return session

    with ThreadPoolExecutor(4) as pool:
        sessions = set(pool.map(visitor, range(40)))
    stored = outbox.sessions(finished_only=True)
    assert {s.uuid for s in stored} == sessions
    assert all([a.kind for a in s.answers] == ["scale"] for s in stored)
    assert outbox.recording(fake_recording(outbox)) is not None  # the outbox still writes


def test_a_closed_outbox_says_so_and_closes_twice(outbox: Outbox) -> None:
    outbox.close()
    outbox.close()
    with pytest.raises(OutboxError, match="closed"):
        outbox.sessions()
