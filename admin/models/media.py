"""Stored media files, addressed by the sha256 of their bytes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from admin.models.base import Base, utcnow


class MediaPurpose(enum.StrEnum):
    # Put in by staff (question videos, subtitles, pictograms, spoken labels, privacy audio) and
    # their posters: shown to every kiosk, never deleted by erasure or retention.
    QUESTION = "question"
    # A visitor's answer uploaded by a kiosk, and its poster: seen only in its branch, and deleted
    # with its answers (or, never answered, after a grace period).
    RECORDING = "recording"


class Media(Base):
    __tablename__ = "media"
    __table_args__ = (CheckConstraint("purpose IN ('question', 'recording')", name="purpose"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(80))
    duration: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    # Indexed: a poster of a visitor's recording is shown only to those who may see the recording.
    poster_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("media.sha256", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A plain string, not a database enum: one value more later needs no type change in PostgreSQL.
    purpose: Mapped[str] = mapped_column(String(9), default=MediaPurpose.QUESTION, server_default="question")
    # The kiosk whose upload made a recording: only it may answer with it, and before an answer
    # names it, only staff of that kiosk's branch may see it.
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"), index=True)

    @property
    def is_recording(self) -> bool:
        return self.purpose == MediaPurpose.RECORDING
