"""What a kiosk shows: its branch's active questionnaires, with every media file it needs."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import select

from admin import sealing
from admin.extensions import db
from admin.mediafiles.operations import question_media
from admin.models import (
    ActivitySchedule,
    AnswerOption,
    Kiosk,
    Media,
    OptionTranslation,
    Question,
    Questionnaire,
    QuestionnaireVersion,
    QuestionPrompt,
    questionnaire_branches,
)
from admin.privacy.queries import privacy_settings
from admin.storage import media_store

CONSENT_VERSION = "2026-1"  # the consent video's wording; the kiosk records which one it showed


def build(kiosk: Kiosk, today: date) -> dict[str, Any]:
    document, media = _build(kiosk, today, frozenset())
    gone = frozenset(sha for sha in document["media"] if sha not in media)
    if gone:
        # A file or row gone (a crash, a hand-made mistake) leaves out what needs it: one damaged
        # question must not stop every kiosk. Rare, so only then is the document made again.
        for sha in sorted(gone):
            current_app.logger.warning("media %s is missing (row or file); left out of /config", sha)
        document, media = _build(kiosk, today, gone)
    document["media"] = [
        {
            "sha256": m.sha256,
            "size": m.size,
            "content_type": m.content_type,
            "url": f"/api/kiosk/v1/media/{m.sha256}",
        }
        for m in sorted(media.values(), key=lambda m: m.sha256)
    ]
    return document


def _build(kiosk: Kiosk, today: date, gone: frozenset[str]) -> tuple[dict[str, Any], dict[str, Media]]:
    """The document with the sha256s it names under "media", and the rows of those that are there
    (with their files); what needs one of ``gone`` is left out."""
    questionnaires = db.session.scalars(
        select(Questionnaire)
        .join(questionnaire_branches, questionnaire_branches.c.questionnaire_id == Questionnaire.id)
        .where(questionnaire_branches.c.branch_id == kiosk.branch_id, ~Questionnaire.archived)
        .order_by(Questionnaire.activity.is_not(None), Questionnaire.name, Questionnaire.id)
    ).all()
    zone = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC"
    used: set[str] = set()

    def ref(sha256: str | None) -> str | None:
        if not sha256 or sha256 in gone:
            return None
        used.add(sha256)
        return sha256

    def prompt(p: QuestionPrompt) -> dict[str, Any] | None:
        if p.video_sha256 in gone or p.subtitles_sha256 in gone:
            return None
        return {
            "text": p.text,
            "video": ref(p.video_sha256),
            "subtitles": ref(p.subtitles_sha256),
            "poster": ref(p.video.poster_sha256 if p.video is not None else None),
        }

    def option(o: AnswerOption) -> dict[str, Any]:
        labels: dict[str, dict[str, Any]] = {}
        for t in o.translations:
            labels[t.language] = translation(t)
        return {"value": o.value, "label": o.label, "pictogram": ref(o.pictogram_sha256), "labels": labels}

    def translation(t: OptionTranslation) -> dict[str, Any]:
        return {"label": t.label, "audio": ref(t.audio_sha256)}

    def schedule(s: ActivitySchedule) -> dict[str, Any]:
        return {
            "weekday": s.weekday,
            "date": s.on_date.isoformat() if s.on_date else None,
            "starts": s.starts.strftime("%H:%M"),
            "ends": s.ends.strftime("%H:%M"),
        }

    def question(q: Question) -> dict[str, Any] | None:
        prompts = {p.language: shown for p in q.prompts if (shown := prompt(p)) is not None}
        if q.prompts and not prompts:
            return None  # nothing left to ask it with: the kiosk goes on to the next question
        return {
            "id": q.id,
            "kind": q.kind.value,
            "name": q.name,
            "prompts": prompts,
            "options": [option(o) for o in q.options],
        }

    def questions(version: QuestionnaireVersion) -> list[dict[str, Any]]:
        return [shown for item in version.items if (shown := question(item.question)) is not None]

    # Those of today and those still to come: the kiosk switches on its own clock (also offline,
    # days later), by each one's period and times (see kiosk/activities.py).
    active = [q for q in questionnaires if q.is_active_on(today) or q.starts_after(today)]
    privacy = privacy_settings()
    document: dict[str, Any] = {
        "kiosk": {"id": kiosk.id, "name": kiosk.name},
        "branch": {"id": kiosk.branch.id, "name": kiosk.branch.name},
        "consent_version": CONSENT_VERSION,
        # Activities' times are wall-clock times here.
        "time_zone": zone,
        # Asked before a recording when the organisation switched it on (Privacy page).
        "parent_step": {
            "texts": dict(privacy.parent_texts),
            "audio": {lang: sha for lang, sha in privacy.parent_audio.items() if ref(sha) is not None},
        }
        if privacy.parent_step
        else None,
        # Recordings are sealed to this key on the kiosk; a rotation changes the ETag.
        "sealing_key": sealing.current_keys().public_document(),
        "questionnaires": [
            {
                "id": q.id,
                "version_id": q.current_version.id,
                "version": q.current_version.number,
                "name": q.name,
                "activity": q.activity,
                "active_from": q.active_from.isoformat() if q.active_from else None,
                "active_to": q.active_to.isoformat() if q.active_to else None,
                "schedule": [schedule(s) for s in q.schedules if s.branch_id == kiosk.branch_id],
                # Times elsewhere and none here: not in this branch (no times at all: always).
                "timed": bool(q.schedules),
                "minutes_after": q.minutes_after,
                "activity_pictogram": ref(q.activity_pictogram_sha256) if q.activity else None,
                "activity_audio": ref(q.activity_audio_sha256) if q.activity else None,
                "ask_member": q.ask_member,
                "questions": questions(q.current_version),
            }
            for q in active
        ],
    }
    languages = {lang for q in document["questionnaires"] for qu in q["questions"] for lang in qu["prompts"]}
    document["languages"] = sorted(languages, key=lambda code: (code != "nl", code))
    document["media"] = sorted(used)
    store = media_store()
    rows = db.session.scalars(select(Media).where(Media.sha256.in_(used))).all()
    return document, {m.sha256: m for m in rows if store.exists(m.sha256)}


def etag_of(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


def is_question_media(sha256: str) -> bool:
    """True for a file that belongs to a question (never for a visitor's recording)."""
    return bool(question_media({sha256}))
