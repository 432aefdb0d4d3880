"""Reading the organisation's privacy settings, and finding a visitor's session to erase."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from admin.auth import branch_filter
from admin.extensions import db
from admin.models import Answer, PrivacySettings, Session, User

# The wording a library starts from; its data protection officer may change it.
DEFAULT_PARENT_TEXTS = {
    "nl": (
        "Ben je jonger dan 16 jaar? Dan moet je vader, moeder of verzorger bij je zijn "
        "en het goed vinden dat je gefilmd wordt. Is dat zo, of ben je 16 of ouder? Tik dan op ja."
    ),
    "en": (
        "Are you younger than 16? Then your father, mother or carer must be with you "
        "and agree that you are filmed. Is that so, or are you 16 or older? Then tap yes."
    ),
}


def privacy_settings() -> PrivacySettings:
    """The settings row; before an admin saved any, the defaults (not stored)."""
    settings = db.session.get(PrivacySettings, 1)
    if settings is None:
        days = int(current_app.config["RETENTION_RECORDING_DAYS"])
        settings = PrivacySettings(
            id=1,
            video_days=days,
            voice_days=days,
            tap_days=None,
            parent_step=False,
            parent_texts=dict(DEFAULT_PARENT_TEXTS),
            parent_audio={},
        )
    return settings


def sessions_between(
    user: User, branch_id: int, start: datetime, end: datetime, kiosk_id: int | None = None
) -> list[Session]:
    """The sessions a visitor may mean ("this morning around ten"), with their answers."""
    query = (
        select(Session)
        .where(
            branch_filter(user, Session.branch_id),
            Session.branch_id == branch_id,
            Session.started_at >= start,
            Session.started_at < end,
        )
        .options(
            selectinload(Session.answers).selectinload(Answer.question),
            selectinload(Session.kiosk),
        )
        .order_by(Session.started_at)
        .limit(200)
    )
    if kiosk_id is not None:
        query = query.where(Session.kiosk_id == kiosk_id)
    return list(db.session.scalars(query))
