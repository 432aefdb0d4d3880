"""The organisation's privacy choices, and what is left of a session erased on request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from admin.models.base import Base, utcnow


class PrivacySettings(Base):
    """One row: set by admins on the advice of the organisation's data protection officer."""

    __tablename__ = "privacy_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Days a kind of answer is kept; None keeps it (the figures rest on tap answers).
    video_days: Mapped[int | None]
    voice_days: Mapped[int | None]
    tap_days: Mapped[int | None]
    # Before a video or voice answer the kiosk asks whether a parent or carer is there and agrees.
    parent_step: Mapped[bool] = mapped_column(default=False)
    # language → the question as the kiosk shows and speaks it
    parent_texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # language → sha256 of the spoken question (made from the text when it is saved)
    parent_audio: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErasedSession(Base):
    """A session deleted on a visitor's request, by uuid only.

    A kiosk that never heard the server's confirmation sends the session again; this row makes
    the server answer "stored" without storing it a second time.
    """

    __tablename__ = "erased_sessions"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
