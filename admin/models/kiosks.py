"""A kiosk joining (enrollment) and the recordings it uploads (tus uploads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.models.base import Base, utcnow
from admin.models.branches import Kiosk


class Enrollment(Base):
    """A new kiosk's request to join, shown on its screen as a short pairing code."""

    __tablename__ = "enrollments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # sha256 of a secret only the asking kiosk knows, so knowing the id is not enough to poll.
    secret_hash: Mapped[str] = mapped_column(String(64))
    pairing_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"))
    # Held only between approval and the kiosk's first poll, then erased: handed out once.
    pending_token: Mapped[str | None] = mapped_column(String(64))
    token_collected_at: Mapped[datetime | None]

    kiosk: Mapped[Kiosk | None] = relationship()


class KioskPlacement(Base):
    """Where a kiosk stood from when: a session belongs to the branch of its time."""

    __tablename__ = "kiosk_placements"

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    location: Mapped[str | None] = mapped_column(String(120))
    since: Mapped[datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """A resumable (tus) upload of one answer recording; its bytes grow in a file on disk."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    # Upload-Metadata as sent (filename, filetype, sha256 of the whole file, answer uuid).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    media_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256", ondelete="SET NULL"))
