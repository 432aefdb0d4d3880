"""Which questions the kiosk page shows now.

A standalone kiosk (no ``server_url``) shows the built-in question set. An enrolled kiosk shows
the configuration the sync service last completed (every file downloaded and checked); until
then the page shows the pairing code, or asks the visitor to come back later.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import mediaseal
from kiosk import activities
from kiosk.config import KioskConfig
from kiosk.hardware import clock
from kiosk.paths import SyncPaths
from kiosk.questionset import from_manifest


def build(config: KioskConfig, now: datetime | None = None) -> dict[str, Any]:
    """What the page shows at ``now`` (the kiosk's clock when None)."""
    document = from_manifest(config.question_set, config.languages)
    if not config.server_url:
        document["status"] = "ready"
        return document
    paths = SyncPaths(config.data_dir)
    synced = _read(paths.config)
    if synced is None:
        enrollment = _read(paths.enrollment)
        document["questionnaire"] = None
        document["status"] = "pairing" if enrollment else "waiting"
        document["pairing_code"] = enrollment.get("pairing_code") if enrollment else None
        return document
    return apply_server_config(document, synced, config, now or clock.wall_now())


def apply_server_config(
    document: dict[str, Any], synced: dict[str, Any], config: KioskConfig, now: datetime
) -> dict[str, Any]:
    """The built-in document (videos, sounds, pictograms) with the server's questionnaire."""
    offered = set(synced.get("languages") or ["nl"])
    document["languages"] = [lang for lang in document["languages"] if lang["code"] in offered] or document[
        "languages"
    ][:1]
    chosen = {lang["code"] for lang in document["languages"]}
    # The kiosk's own clock decides, so it switches at an activity's start and end offline too.
    found = activities.applicable(synced.get("questionnaires") or [], now, activities.zone_of(synced))
    picked = found.current
    document["status"] = "ready" if picked else "waiting"
    document["questionnaire"] = _questionnaire(picked, synced, chosen) if picked else None
    document["choices"] = [_choice(q, synced, chosen, document) for q in found.choices]
    document["member_question"] = bool(picked and picked.get("ask_member") and document.get("member"))
    document["branch"] = synced.get("branch")
    document["parent_step"] = _parent_step(synced.get("parent_step"), chosen)
    return document


def _parent_step(step: dict[str, Any] | None, languages: set[str]) -> dict[str, Any] | None:
    """The parent-or-carer question in the kiosk's languages, or None when it is switched off."""
    if not step:
        return None
    audio = step.get("audio") or {}
    return {
        "texts": {lang: text for lang, text in (step.get("texts") or {}).items() if lang in languages},
        "audio": {lang: f"/cache/{sha}" for lang, sha in audio.items() if lang in languages},
    }


def _choice(
    q: dict[str, Any], synced: dict[str, Any], languages: set[str], document: dict[str, Any]
) -> dict[str, Any]:
    """One card of the "I came for..." screen: the activity's picture and spoken name, or the
    kiosk's own card for a general visit."""
    if q.get("activity"):
        audio = _cache_url(q.get("activity_audio"))
        # One spoken name, in the language it was recorded in: the activity's own name.
        labels = {lang: {"label": q["activity"], "audio": audio} for lang in sorted(languages)}
        pictogram = _cache_url(q.get("activity_pictogram")) or document["pictograms"].get("people")
    elif document.get("activity_chooser"):
        general = document["activity_chooser"]["general"]
        labels, pictogram = general["labels"], general["pictogram"]
    else:
        labels = {lang: {"label": q["name"], "audio": None} for lang in sorted(languages)}
        pictogram = document["pictograms"].get("people")
    return {
        "questionnaire": _questionnaire(q, synced, languages),
        "activity": q.get("activity"),
        "pictogram": pictogram,
        "labels": labels,
    }


def _cache_url(sha256: str | None) -> str | None:
    return f"/cache/{sha256}" if sha256 else None


def _questionnaire(q: dict[str, Any], synced: dict[str, Any], languages: set[str]) -> dict[str, Any]:
    url = _cache_url
    return {
        "id": str(q["id"]),
        "version": q["version_id"],
        "name": q["name"],
        "activity": q.get("activity"),
        "member_question": bool(q.get("ask_member")),
        "consent_version": synced.get("consent_version"),
        "questions": [
            {
                "id": str(question["id"]),
                "kind": question["kind"],
                "prompts": {
                    lang: {
                        "video": url(p["video"]),
                        "subtitles": url(p["subtitles"]),
                        "text": p.get("text", ""),
                    }
                    for lang, p in question["prompts"].items()
                    if lang in languages
                },
                "options": [
                    {
                        "value": option["value"],
                        "pictogram": url(option["pictogram"]),
                        "labels": {
                            lang: {"label": label["label"], "audio": url(label.get("audio"))}
                            for lang, label in (option.get("labels") or {}).items()
                            if lang in languages
                        }
                        or {"nl": {"label": option["label"], "audio": None}},
                    }
                    for option in question["options"]
                ],
            }
            for question in q["questions"]
        ],
    }


def media_types(config: KioskConfig) -> dict[str, str]:
    """sha256 → content type of every cached file of the current configuration."""
    synced = _read(SyncPaths(config.data_dir).config) or {}
    return {item["sha256"]: item["content_type"] for item in synced.get("media", [])}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (FileNotFoundError, ValueError):
        return None


def sealing_key(config: KioskConfig) -> bytes | None:
    """The server's public key that recordings are sealed to; None for a standalone kiosk, or one
    whose server does not hand out a key yet (then recordings stay plain, as before)."""
    if not config.server_url:
        return None
    key = (_read(SyncPaths(config.data_dir).config) or {}).get("sealing_key") or {}
    try:
        return mediaseal.decode_key(str(key["public_key"])) if "public_key" in key else None
    except mediaseal.SealError:
        return None
