"""Stored media files, addressed by the sha256 of their bytes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from admin.models.base import Base, utcnow


class Media(Base):
    __tablename__ = "media"

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
