from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, delete, select, update
from sqlalchemy.orm import aliased

from admin import audit
from admin.extensions import db
from admin.kiosk_api.tus_operations import purge_expired_uploads
from admin.mediafiles.operations import release_recordings
from admin.models import Answer, AnswerKind, Media, MediaPurpose, PrivacySettings, Session, Upload, utcnow
from admin.responses.operations import delete_answers

UUIDS_PER_STATEMENT = 500  # well under SQLite's limit of bound parameters


@dataclass(frozen=True)
class Rules:
    """Days each kind of answer is kept; None keeps it."""

    video_days: int | None
    voice_days: int | None
    tap_days: int | None

    @classmethod
    def of(cls, settings: PrivacySettings) -> Rules:
        return cls(settings.video_days, settings.voice_days, settings.tap_days)


@dataclass
class PurgeReport:
    # Answers whose recording was removed, per branch id, so a branch's dashboard counts its own.
    recordings_by_branch: Counter[int] = field(default_factory=Counter)
    taps_removed: int = 0  # tap answers deleted with their tags and notes
    sessions_removed: int = 0  # sessions left without any answer
    uploads_expired: int = 0
    orphans_removed: int = 0  # recordings uploaded but never answered with
    files_to_remove: list[str] = field(default_factory=list)  # once the caller has committed

    @property
    def recordings_removed(self) -> int:
        """Answers whose recording is gone now (the answer itself stays)."""
        return self.recordings_by_branch.total()


def purge(rules: Rules, now: datetime | None = None) -> PurgeReport:
    """Apply the retention rules to the database; the caller commits, then removes the files."""
    now = now or utcnow()
    report = PurgeReport()
    expired_shas: set[str] = set()
    for kind, days in ((AnswerKind.VIDEO, rules.video_days), (AnswerKind.VOICE, rules.voice_days)):
        if days is None:
            continue
        expired = expired_recordings(kind, now - timedelta(days=days))
        _forget_recordings([row.uuid for row in expired])
        expired_shas.update(row.media_sha256 for row in expired)
        report.recordings_by_branch.update(row.branch_id for row in expired)
    if rules.tap_days is not None:
        report.taps_removed, report.sessions_removed = _delete_taps(now - timedelta(days=rules.tap_days))
    orphans = orphaned_recordings(now - timedelta(hours=current_app.config["ORPHAN_RECORDING_HOURS"]))
    # A file shared with a younger answer (the same bytes twice) stays for that answer.
    report.files_to_remove = release_recordings(expired_shas | set(orphans))
    report.orphans_removed = len(set(orphans) & set(report.files_to_remove))
    report.uploads_expired = purge_expired_uploads(now)
    db.session.expire_all()  # the bulk changes above did not touch loaded rows
    # The log keeps the fact, never the content.
    audit.record(
        "retention.purge",
        "answers",
        rules={"video": rules.video_days, "voice": rules.voice_days, "tap": rules.tap_days},
        recordings=report.recordings_removed,
        # JSON keys are strings; sorted so the log reads the same every time.
        recordings_by_branch={str(b): n for b, n in sorted(report.recordings_by_branch.items())},
        taps=report.taps_removed,
        sessions=report.sessions_removed,
        files=len(report.files_to_remove),
        uploads=report.uploads_expired,
        orphans=report.orphans_removed,
    )
    return report


def expired_recordings(kind: AnswerKind, cutoff: datetime) -> list[Row[tuple[str, str, int]]]:
    """Answers of ``kind`` from before ``cutoff`` that still have their recording."""
    return list(
        db.session.execute(
            select(Answer.uuid, Answer.media_sha256, Answer.branch_id).where(
                Answer.kind == kind, Answer.media_sha256.is_not(None), Answer.answered_at < cutoff
            )
        )
    )


def orphaned_recordings(cutoff: datetime) -> list[str]:
    """Recordings that no answer uses, uploaded before ``cutoff`` and not again since: a kiosk
    sends its session just after the uploads, so these were never going to be answered with (or
    were sent by a kiosk that should not have). Posters go with their recordings."""
    answered = select(Answer.uuid).where(Answer.media_sha256 == Media.sha256).exists()
    poster = aliased(Media)
    is_a_poster = select(poster.sha256).where(poster.poster_sha256 == Media.sha256).exists()
    candidates = db.session.scalars(
        select(Media.sha256).where(
            Media.purpose == MediaPurpose.RECORDING, Media.created_at < cutoff, ~answered, ~is_a_poster
        )
    ).all()
    # The uploads of the grace period are few (uploads.media_sha256 has no index to look up per row).
    recent = set(
        db.session.scalars(
            select(Upload.media_sha256).where(Upload.completed_at >= cutoff, Upload.media_sha256.is_not(None))
        )
    )
    return [sha for sha in candidates if sha not in recent]


def _forget_recordings(answer_uuids: list[str]) -> None:
    """Clear exactly the answers selected: one that a kiosk synced since (an old answer, sent late)
    keeps its recording until the next run removes it together with its file."""
    for start in range(0, len(answer_uuids), UUIDS_PER_STATEMENT):
        db.session.execute(
            update(Answer)
            .where(Answer.uuid.in_(answer_uuids[start : start + UUIDS_PER_STATEMENT]))
            .values(media_sha256=None),
            execution_options={"synchronize_session": False},
        )


def _delete_taps(cutoff: datetime) -> tuple[int, int]:
    taps = delete_answers(
        select(Answer.uuid).where(
            Answer.kind.in_([AnswerKind.SCALE, AnswerKind.CHOICE]), Answer.answered_at < cutoff
        )
    )
    empty = db.session.execute(
        delete(Session).where(
            Session.started_at < cutoff,
            ~select(Answer.uuid).where(Answer.session_uuid == Session.uuid).exists(),
        ),
        execution_options={"synchronize_session": False},
    )
    return taps, int(empty.rowcount)  # type: ignore[attr-defined]
