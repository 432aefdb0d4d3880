"""The kiosk's outbox: what visitors answered, kept safe until the server confirms it.

SQLite in WAL mode with ``synchronous=FULL``, shared by the kiosk service and the sync process.
Every change is one transaction. A recording counts as given only once its file is fsynced, its
sha256 stored and an answer points at it; ``recover()`` runs at start-up and removes what a
crash left half-made.
"""

from __future__ import annotations

import enum
import os
import shutil
import uuid as uuid_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    registry,
    relationship,
    sessionmaker,
)

SCHEMA_VERSION = 2


def utcnow() -> datetime:
    return datetime.now(UTC)


class _UTC(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value else None


class Base(DeclarativeBase):
    registry = registry(metadata=MetaData(), type_annotation_map={datetime: _UTC})


class RecordingState(enum.StrEnum):
    REVIEW = "review"  # recorded; the visitor has not chosen send or throw away yet
    GIVEN = "given"  # part of a confirmed answer


class OutboxSession(Base):
    __tablename__ = "sessions"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int | None]
    language: Mapped[str] = mapped_column(String(5))
    consent: Mapped[bool]
    consent_version: Mapped[str | None] = mapped_column(String(40))
    # The parent-or-carer step: None when it was not asked; False allows taps only.
    parent_consent: Mapped[bool | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # Why the server refused it (a 409 conflict or a 422); kept, never deleted, for a person to look at.
    sync_error: Mapped[str | None] = mapped_column(String(500))

    answers: Mapped[list[OutboxAnswer]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="OutboxAnswer.answered_at"
    )

    @property
    def may_record(self) -> bool:
        return self.consent and self.parent_consent is not False


class OutboxRecording(Base):
    __tablename__ = "recordings"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # video | voice
    file_name: Mapped[str] = mapped_column(String(80))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    duration: Mapped[float]
    state: Mapped[str] = mapped_column(String(8), default=RecordingState.REVIEW.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    upload_url: Mapped[str | None] = mapped_column(String(500))  # the tus upload, to resume it
    uploaded_at: Mapped[datetime | None]


class OutboxAnswer(Base):
    __tablename__ = "answers"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_uuid: Mapped[str] = mapped_column(ForeignKey("sessions.uuid", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # scale | choice | video | voice
    value: Mapped[str | None] = mapped_column(String(40))
    recording_uuid: Mapped[str | None] = mapped_column(ForeignKey("recordings.uuid"))
    answered_at: Mapped[datetime]

    session: Mapped[OutboxSession] = relationship(back_populates="answers")
    recording: Mapped[OutboxRecording | None] = relationship()


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
TAP_KINDS = ("scale", "choice")


class Outbox:
    def __init__(self, database: Path, recordings_dir: Path) -> None:
        self.database = database
        self.recordings_dir = recordings_dir
        database.parent.mkdir(parents=True, exist_ok=True)
        recordings_dir.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(database)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        _migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

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
    ) -> str:
        session_uuid = session_uuid or str(uuid_module.uuid4())
        with self.transaction() as db:
            if db.get(OutboxSession, session_uuid) is None:
                db.add(
                    OutboxSession(
                        uuid=session_uuid,
                        questionnaire_id=questionnaire_id,
                        questionnaire_version=questionnaire_version,
                        language=language,
                        consent=consent,
                        consent_version=consent_version if consent else None,
                        parent_consent=parent_consent,
                        started_at=utcnow(),
                    )
                )
        return session_uuid

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
            session = self._open_session(db, session_uuid)
            if db.get(OutboxAnswer, answer_uuid) is not None:
                return
            if kind in TAP_KINDS:
                if not value or recording_uuid:
                    raise OutboxError("a tap answer has a value and no recording")
            elif kind in RECORDING_KINDS:
                if not session.may_record:
                    raise OutboxError("no recording without the visitor's consent")
                recording = db.get(OutboxRecording, recording_uuid) if recording_uuid else None
                if recording is None or recording.state != RecordingState.REVIEW or recording.kind != kind:
                    raise OutboxError("this recording does not exist or was already given")
                recording.state = RecordingState.GIVEN.value
            else:
                raise OutboxError(f"unknown answer kind {kind!r}")
            db.add(
                OutboxAnswer(
                    uuid=answer_uuid,
                    session_uuid=session_uuid,
                    question_id=question_id,
                    kind=kind,
                    value=value,
                    recording_uuid=recording_uuid,
                    answered_at=utcnow(),
                )
            )

    def take_back(self, session_uuid: str, answer_uuid: str) -> None:
        """The visitor undid an answer: it goes, with its recording."""
        with self.transaction() as db:
            self._open_session(db, session_uuid)
            answer = db.get(OutboxAnswer, answer_uuid)
            if answer is None or answer.session_uuid != session_uuid:
                return
            recording = answer.recording
            db.delete(answer)
            if recording is not None:
                db.delete(recording)
        if recording is not None:
            self._remove_file(recording.file_name)

    def finish_session(self, session_uuid: str) -> None:
        with self.transaction() as db:
            session = db.get(OutboxSession, session_uuid)
            if session is None or session.finished_at is not None:
                return
            if not session.answers:
                db.delete(session)  # a visitor who answered nothing leaves nothing
            else:
                session.finished_at = utcnow()

    def _open_session(self, db: Session, session_uuid: str) -> OutboxSession:
        session = db.get(OutboxSession, session_uuid)
        if session is None:
            raise OutboxError("unknown session")
        if session.finished_at is not None:
            raise OutboxError("this session is finished")
        return session

    # --- recordings ----------------------------------------------------------------------------

    def recording_path(self, kind: str) -> tuple[str, Path]:
        """A new recording's uuid and the path its recorder writes to."""
        if kind not in RECORDING_KINDS:
            raise OutboxError(f"unknown recording kind {kind!r}")
        recording_uuid = str(uuid_module.uuid4())
        return recording_uuid, self.recordings_dir / f"{recording_uuid}{RECORDING_KINDS[kind]}"

    def register_recording(
        self, recording_uuid: str, kind: str, path: Path, sha256: str, size: int, duration: float
    ) -> None:
        """A finished, fsynced recording, waiting for the visitor to send or throw it away."""
        if path.parent != self.recordings_dir:
            raise OutboxError("recordings live in the recordings folder")
        with self.transaction() as db:
            db.add(
                OutboxRecording(
                    uuid=recording_uuid,
                    kind=kind,
                    file_name=path.name,
                    sha256=sha256,
                    size=size,
                    duration=duration,
                )
            )

    def discard_recording(self, recording_uuid: str) -> None:
        """Throw away a recording that is not part of an answer."""
        with self.transaction() as db:
            recording = db.get(OutboxRecording, recording_uuid)
            if recording is None or recording.state != RecordingState.REVIEW:
                return
            db.delete(recording)
        self._remove_file(recording.file_name)

    def recording(self, recording_uuid: str) -> OutboxRecording | None:
        with self.transaction() as db:
            return db.get(OutboxRecording, recording_uuid)

    def file_of(self, recording: OutboxRecording) -> Path:
        return self.recordings_dir / recording.file_name

    def _remove_file(self, file_name: str) -> None:
        (self.recordings_dir / file_name).unlink(missing_ok=True)
        _fsync_dir(self.recordings_dir)

    # --- reading ---------------------------------------------------------------------------------

    def sessions(self, finished_only: bool = False) -> list[OutboxSession]:
        with self.transaction() as db:
            query = select(OutboxSession).order_by(OutboxSession.started_at)
            if finished_only:
                query = query.where(OutboxSession.finished_at.is_not(None))
            sessions = list(db.scalars(query))
            for session in sessions:
                for answer in session.answers:
                    _ = answer.recording  # load while the session is open
            return sessions

    def unsent(self) -> list[OutboxSession]:
        """Finished sessions the server has not confirmed and not refused, oldest first."""
        return [s for s in self.sessions(finished_only=True) if s.sync_error is None]

    def set_upload_url(self, recording_uuid: str, url: str | None) -> None:
        with self.transaction() as db:
            recording = db.get(OutboxRecording, recording_uuid)
            if recording is not None:
                recording.upload_url = url
                recording.uploaded_at = None

    def mark_uploaded(self, recording_uuid: str) -> None:
        with self.transaction() as db:
            recording = db.get(OutboxRecording, recording_uuid)
            if recording is not None:
                recording.uploaded_at = utcnow()

    def mark_refused(self, session_uuid: str, reason: str) -> None:
        with self.transaction() as db:
            session = db.get(OutboxSession, session_uuid)
            if session is not None:
                session.sync_error = reason[:500]

    def confirm(self, session_uuid: str) -> None:
        """The server stored the session: only now do its answers and recordings leave the kiosk."""
        files: list[str] = []
        with self.transaction() as db:
            session = db.get(OutboxSession, session_uuid)
            if session is None:
                return
            recordings = [a.recording for a in session.answers if a.recording is not None]
            # The answers (deleted with their session) point at the recordings: they go first.
            # Deleting a recording before them failed the foreign key as soon as a session had
            # two recordings (loading the next answer's recording flushed the first delete).
            db.delete(session)
            db.flush()
            for recording in recordings:
                files.append(recording.file_name)
                db.delete(recording)
        for file_name in files:
            (self.recordings_dir / file_name).unlink(missing_ok=True)
        if files:
            _fsync_dir(self.recordings_dir)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.recordings_dir).free

    # --- after a crash -------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Make the outbox consistent again after a crash or power loss."""
        report = RecoveryReport()
        with self.engine.connect() as connection:
            report.integrity = str(connection.exec_driver_sql("PRAGMA integrity_check").scalar())
        for partial in sorted(self.recordings_dir.glob("*.part")):
            partial.unlink()
            report.partial_files_removed.append(partial.name)
        with self.transaction() as db:
            unsent = select(OutboxRecording).where(OutboxRecording.state == RecordingState.REVIEW)
            for recording in list(db.scalars(unsent)):
                # Nobody pressed "send" before the crash: the visitor did not give it.
                (self.recordings_dir / recording.file_name).unlink(missing_ok=True)
                db.delete(recording)
                report.unsent_reviews_removed += 1
            db.flush()
            known = set(db.scalars(select(OutboxRecording.file_name)))
            for path in sorted(self.recordings_dir.iterdir()):
                if path.is_file() and path.name not in known:
                    path.unlink()
                    report.orphan_files_removed.append(path.name)
            report.missing_files = sorted(n for n in known if not (self.recordings_dir / n).is_file())
            for session in list(db.scalars(select(OutboxSession).where(OutboxSession.finished_at.is_(None)))):
                # The visitor is gone: close the session with what was confirmed.
                if session.answers:
                    session.finished_at = session.answers[-1].answered_at
                    report.sessions_closed += 1
                else:
                    db.delete(session)
                    report.empty_sessions_removed += 1
        _fsync_dir(self.recordings_dir)
        return report


def _engine(database: Path) -> Engine:
    engine = create_engine(f"sqlite:///{database}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _migrate(engine: Engine) -> None:
    """The outbox schema, versioned by SQLite's user_version; updates add steps here."""
    with engine.begin() as connection:
        version = connection.exec_driver_sql("PRAGMA user_version").scalar() or 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"the outbox is from a newer kiosk version ({version} > {SCHEMA_VERSION})")
        if version < 1:
            Base.metadata.create_all(connection)
        elif version < 2:
            connection.exec_driver_sql("ALTER TABLE sessions ADD COLUMN parent_consent BOOLEAN")
        connection.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
