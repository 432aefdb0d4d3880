"""Changing the privacy settings, and erasing a visitor's session on request."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from admin import audit
from admin.extensions import db
from admin.mediafiles.operations import Expect, release_recordings, store_path
from admin.models import Answer, ErasedSession, PrivacySettings, Session, utcnow
from admin.privacy.queries import privacy_settings
from admin.privacy.speech import speak_to_file
from admin.responses.operations import delete_answers


def save_settings(
    *,
    video_days: int | None,
    voice_days: int | None,
    tap_days: int | None,
    parent_step: bool,
    parent_texts: dict[str, str],
) -> PrivacySettings:
    settings = privacy_settings()
    db.session.add(settings)  # the defaults become the row on the first save; a no-op after
    texts = {lang: text.strip() for lang, text in parent_texts.items() if text.strip()}
    audio = {lang: sha for lang, sha in (settings.parent_audio or {}).items() if lang in texts}
    for language, text in texts.items():
        if settings.parent_texts.get(language) != text or language not in audio:
            audio[language] = _spoken(text, language)
    settings.video_days, settings.voice_days, settings.tap_days = video_days, voice_days, tap_days
    settings.parent_step = parent_step
    settings.parent_texts, settings.parent_audio = texts, audio
    settings.updated_at = utcnow()
    audit.record(
        "privacy.settings",
        "privacy",
        video_days=video_days,
        voice_days=voice_days,
        tap_days=tap_days,
        parent_step=parent_step,
        parent_languages=sorted(texts),
    )
    db.session.flush()
    return settings


def _spoken(text: str, language: str) -> str:
    scratch = Path(current_app.config["MEDIA_ROOT"]) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as workdir:
        return store_path(speak_to_file(text, language, Path(workdir)), Expect.AUDIO).sha256


def erase_session(session: Session) -> list[str]:
    """Delete a session with its answers, tags, notes and recordings; the caller commits and then
    removes the returned files. The audit log keeps that it happened, not what was said."""
    answer_uuids = [answer.uuid for answer in session.answers]
    recordings = [answer.media_sha256 for answer in session.answers if answer.media_sha256]
    audit.record(
        "session.erase",
        f"session:{session.uuid}",
        branch=session.branch.name,
        kiosk=session.kiosk.name if session.kiosk else None,
        answers=len(answer_uuids),
        recordings=len(recordings),
    )
    delete_answers(select(Answer.uuid).where(Answer.session_uuid == session.uuid))
    db.session.execute(delete(Session).where(Session.uuid == session.uuid))
    db.session.add(ErasedSession(uuid=session.uuid))
    db.session.flush()
    return release_recordings(recordings)
