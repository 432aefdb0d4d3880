from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from admin import audit
from admin.extensions import db
from admin.kiosk_api.tus_operations import purge_expired_uploads
from admin.models import Answer, AnswerKind, Media, Upload, utcnow
from admin.storage import media_store


@dataclass(frozen=True)
class PurgeReport:
    recordings_removed: int  # answers whose recording is gone now (the answer itself stays)
    files_removed: int  # recordings and their posters
    uploads_expired: int


def purge(days: int, now: datetime | None = None) -> PurgeReport:
    """Delete recordings answered more than ``days`` ago; the caller commits."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    recording = Answer.kind.in_([AnswerKind.VIDEO, AnswerKind.VOICE])
    expired = db.session.execute(
        select(Answer.uuid, Answer.media_sha256).where(
            recording, Answer.media_sha256.is_not(None), Answer.answered_at < cutoff
        )
    ).all()
    shas = {sha for _, sha in expired}
    if expired:
        db.session.execute(
            update(Answer).where(Answer.uuid.in_([uuid for uuid, _ in expired])).values(media_sha256=None)
        )
    # A file shared with a younger answer (the same bytes twice) stays for that answer.
    still_used = set(db.session.scalars(select(Answer.media_sha256).where(Answer.media_sha256.in_(shas))))
    store = media_store()
    files = 0
    for sha in sorted(shas - still_used):
        media = db.session.get(Media, sha)
        doomed = [sha] + ([media.poster_sha256] if media and media.poster_sha256 else [])
        db.session.execute(update(Upload).where(Upload.media_sha256 == sha).values(media_sha256=None))
        for item in doomed:
            row = db.session.get(Media, item)
            if row is not None:
                db.session.delete(row)
            if store.exists(item):
                store.delete(item)
                files += 1
    db.session.flush()
    uploads = purge_expired_uploads(now)
    # The log keeps the fact, never the content.
    audit.record(
        "retention.purge", "recordings", days=days, recordings=len(expired), files=files, uploads=uploads
    )
    return PurgeReport(len(expired), files, uploads)
