"""The kiosk's outbox: what visitors answered, kept safe until the server confirms it.

SQLite in WAL mode with ``synchronous=FULL``, shared by the kiosk service and the sync process.
Every change is one transaction. A recording counts as given only once its file is fsynced, its
sha256 stored and an answer points at it; ``recover()`` runs at start-up and removes what a
crash left half-made.

Python's own sqlite3, not SQLAlchemy: importing SQLAlchemy costs the kiosk service about 19 MB
of memory (13 for its core alone), a tenth of its budget while recording. The schema and the
stored formats are the ones SQLAlchemy wrote, so outboxes made by earlier versions open as they are.
"""

from __future__ import annotations

import enum
import shutil
import sqlite3
import threading
import uuid as uuid_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from durable import fsync_directory

SCHEMA_VERSION = 4
RowT = TypeVar("RowT")

# Version 4; version 3 had no recordings.sealed_sha256, version 2 no missing_devices, activity and
# member, version 1 no parent_consent.
# Column types are those SQLAlchemy created.
SCHEMA = """
CREATE TABLE sessions (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    questionnaire_id VARCHAR(64) NOT NULL,
    questionnaire_version INTEGER,
    language VARCHAR(5) NOT NULL,
    consent BOOLEAN NOT NULL,
    consent_version VARCHAR(40),
    parent_consent BOOLEAN,
    missing_devices VARCHAR(40),
    activity VARCHAR(120),
    member VARCHAR(8),
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    sync_error VARCHAR(500)
);
CREATE TABLE recordings (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    kind VARCHAR(8) NOT NULL,
    file_name VARCHAR(80) NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    size INTEGER NOT NULL,
    duration DOUBLE NOT NULL,
    state VARCHAR(8) NOT NULL,
    created_at DATETIME NOT NULL,
    upload_url VARCHAR(500),
    uploaded_at DATETIME,
    sealed_sha256 VARCHAR(64)
);
CREATE TABLE answers (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    session_uuid VARCHAR(36) NOT NULL REFERENCES sessions (uuid) ON DELETE CASCADE,
    question_id VARCHAR(64) NOT NULL,
    kind VARCHAR(8) NOT NULL,
    value VARCHAR(40),
    recording_uuid VARCHAR(36) REFERENCES recordings (uuid),
    answered_at DATETIME NOT NULL
);
CREATE INDEX ix_answers_session_uuid ON answers (session_uuid);
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _stored(moment: datetime | None) -> str | None:
    """A moment as stored: naive UTC text with microseconds, which sorts by time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _moment(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _moment_or_none(stored: str | None) -> datetime | None:
    return _moment(stored) if stored else None


def _from_row(cls: type[RowT], row: sqlite3.Row, **converted: Any) -> RowT:
    """A row as its dataclass (columns and fields share their names), some values converted."""
    return cls(**{**{key: row[key] for key in row.keys()}, **converted})  # noqa: SIM118 - a Row, not a dict


def _flag(stored: int | None) -> bool | None:
    return None if stored is None else bool(stored)


# Stored as "camera,microphone" in this order, or NULL when every device worked.
_DEVICE_ORDER = ("camera", "microphone")


def _stored_devices(devices: list[str] | tuple[str, ...]) -> str | None:
    unknown = set(devices) - set(_DEVICE_ORDER)
    if unknown:
        raise OutboxError(f"unknown devices {sorted(unknown)}")
    return ",".join(d for d in _DEVICE_ORDER if d in devices) or None


def _device_list(stored: str | None) -> list[str]:
    return stored.split(",") if stored else []


class RecordingState(enum.StrEnum):
    REVIEW = "review"  # recorded; the visitor has not chosen send or throw away yet
    GIVEN = "given"  # part of a confirmed answer


@dataclass
class OutboxRecording:
    uuid: str
    kind: str  # video | voice
    file_name: str
    sha256: str
    size: int
    duration: float
    state: str
    created_at: datetime
    upload_url: str | None  # the tus upload, to resume it
    uploaded_at: datetime | None
    # The sha256 of the sealed file (what is uploaded), hashed while it was written; sha256 is
    # then the recording's inside it. None for a plain file.
    sealed_sha256: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxRecording:
        return _from_row(
            cls, row, created_at=_moment(row["created_at"]), uploaded_at=_moment_or_none(row["uploaded_at"])
        )


@dataclass
class OutboxAnswer:
    uuid: str
    session_uuid: str
    question_id: str
    kind: str  # scale | choice | video | voice
    value: str | None
    recording_uuid: str | None
    answered_at: datetime
    recording: OutboxRecording | None = None


@dataclass
class OutboxSession:
    uuid: str
    questionnaire_id: str
    questionnaire_version: int | None
    language: str
    consent: bool
    consent_version: str | None
    # The parent-or-carer step: None when it was not asked; False allows taps only.
    parent_consent: bool | None
    # Devices that did not work for this visitor ("camera", "microphone"): why answers that need
    # them were not offered, or why a recording ended early.
    missing_devices: list[str]
    # The activity the visitor came for (None: a general visit), and the answer to "are you a
    # member of the library?" (yes / no / unknown; None when not asked).
    activity: str | None
    member: str | None
    started_at: datetime
    finished_at: datetime | None
    # Why the server refused it (a 409 conflict or a 422); kept, never deleted, for a person to look at.
    sync_error: str | None
    answers: list[OutboxAnswer] = field(default_factory=list)  # oldest first

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxSession:
        return _from_row(
            cls,
            row,
            consent=bool(row["consent"]),
            parent_consent=_flag(row["parent_consent"]),
            missing_devices=_device_list(row["missing_devices"]),
            started_at=_moment(row["started_at"]),
            finished_at=_moment_or_none(row["finished_at"]),
        )

    @property
    def may_record(self) -> bool:
        return self.consent and self.parent_consent is not False


class OutboxError(ValueError):
    """A request the outbox refuses (unknown session, answer without consent, ...)."""


@dataclass
class RecoveryReport:
    integrity: str = "ok"
    partial_files_removed: list[str] = field(default_factory=list)
    unsent_reviews_removed: int = 0
    orphan_files_removed: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    sessions_closed: int = 0
    empty_sessions_removed: int = 0


RECORDING_KINDS = {"video": ".mp4", "voice": ".m4a"}
MEMBER_ANSWERS = ("yes", "no", "unknown")
TAP_KINDS = ("scale", "choice")


class Outbox:
    """The outbox of one kiosk. One connection per process, one transaction at a time."""

    def __init__(self, database: Path, recordings_dir: Path) -> None:
        self.database = database
        self.recordings_dir = recordings_dir
        database.parent.mkdir(parents=True, exist_ok=True)
        recordings_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the kiosk service answers requests on several threads
        self._connection: sqlite3.Connection | None = _connect(database)
        try:
            with self.transaction() as db:
                _migrate(db)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; one that writes holds SQLite's write lock from its start.

        A deferred transaction that reads and then writes fails at once, without waiting, when
        the other process wrote in between; reading alone sees one consistent snapshot."""
        with self._lock:
            db = self._connection
            if db is None:
                raise OutboxError("the outbox is closed")
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (a full disk)
                    db.execute("ROLLBACK")
                raise

    # --- visitors' sessions ------------------------------------------------------------------

    def start_session(
        self,
        questionnaire_id: str,
        questionnaire_version: int | None,
        language: str,
        consent: bool,
        consent_version: str | None = None,
        session_uuid: str | None = None,
        parent_consent: bool | None = None,
        missing_devices: list[str] | tuple[str, ...] = (),
        activity: str | None = None,
        member: str | None = None,
    ) -> str:
        session_uuid = session_uuid or str(uuid_module.uuid4())
        if member is not None and member not in MEMBER_ANSWERS:
            raise OutboxError(f"member must be one of {', '.join(MEMBER_ANSWERS)}")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (uuid, questionnaire_id, questionnaire_version, language, consent,"
                " consent_version, parent_consent, missing_devices, activity, member, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING",
                (
                    session_uuid,
                    questionnaire_id,
                    questionnaire_version,
                    language,
                    consent,
                    consent_version if consent else None,
                    parent_consent,
                    _stored_devices(missing_devices),
                    activity,
                    member,
                    _stored(utcnow()),
                ),
            )
        return session_uuid

    def note_missing_device(self, session_uuid: str, device: str) -> None:
        """A device failed during this open session (a recording could not start or broke off)."""
        with self.transaction() as db:
            session = _session(db, session_uuid)
            if session is None or session.finished_at is not None or device in session.missing_devices:
                return
            db.execute(
                "UPDATE sessions SET missing_devices = ? WHERE uuid = ?",
                (_stored_devices([*session.missing_devices, device]), session_uuid),
            )

    def add_answer(
        self,
        session_uuid: str,
        answer_uuid: str,
        question_id: str,
        kind: str,
        value: str | None = None,
        recording_uuid: str | None = None,
    ) -> None:
        """Store a confirmed answer; the same answer uuid again changes nothing."""
        with self.transaction() as db:
            session = _open_session(db, session_uuid)
            if db.execute("SELECT 1 FROM answers WHERE uuid = ?", (answer_uuid,)).fetchone():
                return
            if kind in TAP_KINDS:
                if not value or recording_uuid:
                    raise OutboxError("a tap answer has a value and no recording")
            elif kind in RECORDING_KINDS:
                if not session.may_record:
                    raise OutboxError("no recording without the visitor's consent")
                recording = _recording(db, recording_uuid) if recording_uuid else None
                if recording is None or recording.state != RecordingState.REVIEW or recording.kind != kind:
                    raise OutboxError("this recording does not exist or was already given")
                db.execute(
                    "UPDATE recordings SET state = ? WHERE uuid = ?",
                    (RecordingState.GIVEN.value, recording_uuid),
                )
            else:
                raise OutboxError(f"unknown answer kind {kind!r}")
            # One answer per question (the server refuses a session with two): the visitor's last
            # word counts, and an earlier recording for the question goes with its answer.
            replaced = db.execute(
                "SELECT a.uuid, a.recording_uuid, r.file_name FROM answers a"
                " LEFT JOIN recordings r ON r.uuid = a.recording_uuid"
                " WHERE a.session_uuid = ? AND a.question_id = ?",
                (session_uuid, question_id),
            ).fetchall()
            for earlier in replaced:
                db.execute("DELETE FROM answers WHERE uuid = ?", (earlier["uuid"],))
                db.execute("DELETE FROM recordings WHERE uuid = ?", (earlier["recording_uuid"],))
            db.execute(
                "INSERT INTO answers (uuid, session_uuid, question_id, kind, value, recording_uuid,"
                " answered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (answer_uuid, session_uuid, question_id, kind, value, recording_uuid, _stored(utcnow())),
            )
        for earlier in replaced:
            if earlier["file_name"]:
                self._remove_file(earlier["file_name"])

    def take_back(self, session_uuid: str, answer_uuid: str) -> None:
        """The visitor undid an answer: it goes, with its recording."""
        with self.transaction() as db:
            _open_session(db, session_uuid)
            row = db.execute(
                "SELECT recording_uuid FROM answers WHERE uuid = ? AND session_uuid = ?",
                (answer_uuid, session_uuid),
            ).fetchone()
            if row is None:
                return
            recording = _recording(db, row["recording_uuid"]) if row["recording_uuid"] else None
            db.execute("DELETE FROM answers WHERE uuid = ?", (answer_uuid,))
            if recording is not None:
                db.execute("DELETE FROM recordings WHERE uuid = ?", (recording.uuid,))
        if recording is not None:
            self._remove_file(recording.file_name)

    def finish_session(self, session_uuid: str) -> None:
        with self.transaction() as db:
            session = _session(db, session_uuid)
            if session is None or session.finished_at is not None:
                return
            if not _has_answers(db, session_uuid):
                db.execute(
                    "DELETE FROM sessions WHERE uuid = ?", (session_uuid,)
                )  # nothing answered, nothing kept
            else:
                db.execute(
                    "UPDATE sessions SET finished_at = ? WHERE uuid = ?", (_stored(utcnow()), session_uuid)
                )

    # --- recordings ----------------------------------------------------------------------------

    def recording_path(self, kind: str) -> tuple[str, Path]:
        """A new recording's uuid and the path its recorder writes to."""
        if kind not in RECORDING_KINDS:
            raise OutboxError(f"unknown recording kind {kind!r}")
        recording_uuid = str(uuid_module.uuid4())
        return recording_uuid, self.recordings_dir / f"{recording_uuid}{RECORDING_KINDS[kind]}"

    def register_recording(
        self,
        recording_uuid: str,
        kind: str,
        path: Path,
        sha256: str,
        size: int,
        duration: float,
        sealed_sha256: str | None = None,
    ) -> None:
        """A finished, fsynced recording, waiting for the visitor to send or throw it away."""
        if path.parent != self.recordings_dir:
            raise OutboxError("recordings live in the recordings folder")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO recordings (uuid, kind, file_name, sha256, size, duration, state, created_at,"
                " sealed_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recording_uuid,
                    kind,
                    path.name,
                    sha256,
                    size,
                    duration,
                    RecordingState.REVIEW.value,
                    _stored(utcnow()),
                    sealed_sha256,
                ),
            )

    def discard_recording(self, recording_uuid: str) -> None:
        """Throw away a recording that is not part of an answer."""
        with self.transaction() as db:
            recording = _recording(db, recording_uuid)
            if recording is None or recording.state != RecordingState.REVIEW:
                return
            db.execute("DELETE FROM recordings WHERE uuid = ?", (recording_uuid,))
        self._remove_file(recording.file_name)

    def recording(self, recording_uuid: str) -> OutboxRecording | None:
        with self.transaction(write=False) as db:
            return _recording(db, recording_uuid)

    def file_of(self, recording: OutboxRecording) -> Path:
        return self.recordings_dir / recording.file_name

    def _remove_file(self, file_name: str) -> None:
        (self.recordings_dir / file_name).unlink(missing_ok=True)
        fsync_directory(self.recordings_dir)

    # --- reading ---------------------------------------------------------------------------------

    def sessions(self, finished_only: bool = False) -> list[OutboxSession]:
        """Sessions, oldest first, each with its answers and their recordings."""
        where = "WHERE finished_at IS NOT NULL" if finished_only else ""
        with self.transaction(write=False) as db:
            sessions = {
                row["uuid"]: OutboxSession.from_row(row)
                for row in db.execute(f"SELECT * FROM sessions {where} ORDER BY started_at")
            }
            recordings = {
                row["uuid"]: OutboxRecording.from_row(row) for row in db.execute("SELECT * FROM recordings")
            }
            for row in db.execute("SELECT * FROM answers ORDER BY answered_at"):
                session = sessions.get(row["session_uuid"])
                if session is not None:
                    session.answers.append(_answer(row, recordings))
        return list(sessions.values())

    def unsent(self) -> list[OutboxSession]:
        """Finished sessions the server has not confirmed and not refused, oldest first."""
        return [s for s in self.sessions(finished_only=True) if s.sync_error is None]

    def backlog(self) -> tuple[int, datetime | None]:
        """How many sessions ``unsent()`` would give, and when the oldest of them finished: for the
        heartbeat, which must not load every answer only to count sessions."""
        with self.transaction(write=False) as db:
            count, oldest = db.execute(
                "SELECT COUNT(*), MIN(finished_at) FROM sessions"
                " WHERE finished_at IS NOT NULL AND sync_error IS NULL"
            ).fetchone()
        return int(count), _moment_or_none(oldest)

    def set_upload_url(self, recording_uuid: str, url: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE recordings SET upload_url = ?, uploaded_at = NULL WHERE uuid = ?",
                (url, recording_uuid),
            )

    def mark_uploaded(self, recording_uuid: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE recordings SET uploaded_at = ? WHERE uuid = ?", (_stored(utcnow()), recording_uuid)
            )

    def mark_refused(self, session_uuid: str, reason: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sessions SET sync_error = ? WHERE uuid = ?", (reason[:500], session_uuid))

    def confirm(self, session_uuid: str) -> None:
        """The server stored the session: only now do its answers and recordings leave the kiosk."""
        with self.transaction() as db:
            recordings = db.execute(
                "SELECT r.uuid, r.file_name FROM answers a JOIN recordings r ON r.uuid = a.recording_uuid"
                " WHERE a.session_uuid = ?",
                (session_uuid,),
            ).fetchall()
            # Its answers go with it (ON DELETE CASCADE); they point at the recordings, so first.
            db.execute("DELETE FROM sessions WHERE uuid = ?", (session_uuid,))
            db.executemany("DELETE FROM recordings WHERE uuid = ?", [(r["uuid"],) for r in recordings])
        files = [r["file_name"] for r in recordings]
        for file_name in files:
            (self.recordings_dir / file_name).unlink(missing_ok=True)
        if files:
            fsync_directory(self.recordings_dir)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.recordings_dir).free

    # --- after a crash -------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Make the outbox consistent again after a crash or power loss."""
        report = RecoveryReport()
        for partial in sorted(self.recordings_dir.glob("*.part")):
            partial.unlink()
            report.partial_files_removed.append(partial.name)
        with self.transaction() as db:
            report.integrity = str(db.execute("PRAGMA integrity_check").fetchone()[0])
            unsent = db.execute(
                "SELECT file_name FROM recordings WHERE state = ?", (RecordingState.REVIEW.value,)
            )
            for row in unsent.fetchall():
                # Nobody pressed "send" before the crash: the visitor did not give it.
                (self.recordings_dir / row["file_name"]).unlink(missing_ok=True)
                report.unsent_reviews_removed += 1
            db.execute("DELETE FROM recordings WHERE state = ?", (RecordingState.REVIEW.value,))
            known = {row["file_name"] for row in db.execute("SELECT file_name FROM recordings")}
            for path in sorted(self.recordings_dir.iterdir()):
                if path.is_file() and path.name not in known:
                    path.unlink()
                    report.orphan_files_removed.append(path.name)
            report.missing_files = sorted(n for n in known if not (self.recordings_dir / n).is_file())
            # The visitor is gone: close each open session with what was confirmed.
            open_sessions = [
                row["uuid"] for row in db.execute("SELECT uuid FROM sessions WHERE finished_at IS NULL")
            ]
            for session_uuid in open_sessions:
                last = db.execute(
                    "SELECT max(answered_at) FROM answers WHERE session_uuid = ?", (session_uuid,)
                ).fetchone()[0]
                if last is not None:
                    db.execute("UPDATE sessions SET finished_at = ? WHERE uuid = ?", (last, session_uuid))
                    report.sessions_closed += 1
                else:
                    db.execute("DELETE FROM sessions WHERE uuid = ?", (session_uuid,))
                    report.empty_sessions_removed += 1
        fsync_directory(self.recordings_dir)
        return report


def _session(db: sqlite3.Connection, session_uuid: str) -> OutboxSession | None:
    row = db.execute("SELECT * FROM sessions WHERE uuid = ?", (session_uuid,)).fetchone()
    return OutboxSession.from_row(row) if row else None


def _open_session(db: sqlite3.Connection, session_uuid: str) -> OutboxSession:
    session = _session(db, session_uuid)
    if session is None:
        raise OutboxError("unknown session")
    if session.finished_at is not None:
        raise OutboxError("this session is finished")
    return session


def _has_answers(db: sqlite3.Connection, session_uuid: str) -> bool:
    return (
        db.execute("SELECT 1 FROM answers WHERE session_uuid = ? LIMIT 1", (session_uuid,)).fetchone()
        is not None
    )


def _recording(db: sqlite3.Connection, recording_uuid: str) -> OutboxRecording | None:
    row = db.execute("SELECT * FROM recordings WHERE uuid = ?", (recording_uuid,)).fetchone()
    return OutboxRecording.from_row(row) if row else None


def _answer(row: sqlite3.Row, recordings: dict[str, OutboxRecording]) -> OutboxAnswer:
    recording = recordings.get(row["recording_uuid"]) if row["recording_uuid"] else None
    return _from_row(OutboxAnswer, row, answered_at=_moment(row["answered_at"]), recording=recording)


def _connect(database: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and ended by Outbox.transaction alone.
    connection = sqlite3.connect(database, timeout=30, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def _migrate(db: sqlite3.Connection) -> None:
    """The outbox schema, versioned by SQLite's user_version; updates add steps here."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"the outbox is from a newer kiosk version ({version} > {SCHEMA_VERSION})")
    if version < 1:
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
    else:
        if version < 2:
            db.execute("ALTER TABLE sessions ADD COLUMN parent_consent BOOLEAN")
        if version < 3:
            db.execute("ALTER TABLE sessions ADD COLUMN missing_devices VARCHAR(40)")
            db.execute("ALTER TABLE sessions ADD COLUMN activity VARCHAR(120)")
            db.execute("ALTER TABLE sessions ADD COLUMN member VARCHAR(8)")
        if version < 4:
            db.execute("ALTER TABLE recordings ADD COLUMN sealed_sha256 VARCHAR(64)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
