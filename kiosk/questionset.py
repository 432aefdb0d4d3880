"""What the kiosk shows: languages, kiosk videos, sounds and the questionnaire, as one document.

Offline it comes from a question set folder (``media/manifest.json``); once the kiosk is enrolled,
the sync service writes the server's configuration in the same shape. Media are addressed as
``/media/<path>`` URLs that the kiosk service serves from the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONSENT_VERSION = "2026-1"  # bump when the consent video's words change
DEFAULT_QUESTIONS = ("satisfaction", "visit_reason", "improve", "story")
UI_PICTOGRAMS = (
    "touch",
    "check",
    "cross",
    "record",
    "stop",
    "send",
    "replay",
    "back",
    "next",
    "trash",
    "microphone",
    "video-camera",
    "speaker",
    "play",
    "hourglass",
    "people",
    "library-card",
)


def _url(relative: str | None) -> str | None:
    return f"/media/{relative}" if relative else None


def from_manifest(folder: Path, languages: tuple[str, ...]) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    known = {language["code"]: language for language in manifest["languages"]}
    chosen = [code for code in languages if code in known] or ["nl"]
    by_key = {question["key"]: question for question in manifest["questions"]}

    def localized(per_language: dict[str, dict[str, str]]) -> dict[str, dict[str, str | None]]:
        return {
            code: {
                "video": _url(item["video"]),
                "subtitles": _url(item["subtitles"]),
                "text": item.get("text", ""),
            }
            for code, item in per_language.items()
            if code in chosen
        }

    questions = [
        {
            "id": key,
            "kind": by_key[key]["kind"],
            "prompts": localized(by_key[key]["prompt"]),
            "options": [
                {
                    "value": option["value"],
                    "pictogram": _url(option["pictogram"]),
                    "labels": {
                        code: {
                            "label": option["label"][code],
                            "audio": _url(option.get("audio", {}).get(code)),
                        }
                        for code in chosen
                        if code in option["label"]
                    },
                }
                for option in by_key[key].get("options", [])
            ],
        }
        for key in DEFAULT_QUESTIONS
        if key in by_key
    ]

    def spoken(option: dict[str, Any]) -> dict[str, Any]:
        return {
            "value": option["value"],
            "pictogram": _url(option["pictogram"]),
            "labels": {
                code: {"label": option["label"][code], "audio": _url(option["audio"].get(code))}
                for code in chosen
                if code in option["label"]
            },
        }

    def prompt(per_language: dict[str, dict[str, str]]) -> dict[str, dict[str, str | None]]:
        return {
            code: {"text": item["text"], "audio": _url(item.get("audio"))}
            for code, item in per_language.items()
            if code in chosen
        }

    # A question set made before activities has neither: then the kiosk never asks the member
    # question and offers no general card in the chooser.
    member, chooser = manifest.get("member_question"), manifest.get("activity_chooser")
    return {
        # The built-in "Are you a member of the library?" question; asked when the questionnaire
        # says so (``member_question``).
        "member": {
            "pictogram": _url(member["pictogram"]),
            "prompt": prompt(member["prompt"]),
            "options": [spoken(option) for option in member["options"]],
        }
        if member
        else None,
        "member_question": False,
        # "I came for...": shown when more than one questionnaire applies (``choices``).
        "activity_chooser": {"prompt": prompt(chooser["prompt"]), "general": spoken(chooser["general"])}
        if chooser
        else None,
        "choices": [],
        "languages": [
            {
                "code": code,
                "name": known[code]["name"],
                "flag": _url(known[code]["flag"]),
                "spoken_name": _url(known[code].get("spoken_name")),
            }
            for code in chosen
        ],
        "kiosk_videos": {name: localized(videos) for name, videos in manifest["kiosk_videos"].items()},
        "sounds": {name: _url(path) for name, path in manifest["sounds"].items()},
        "pictograms": {
            name: _url(f"pictograms/{name}.svg")
            for name in UI_PICTOGRAMS
            if (folder / "pictograms" / f"{name}.svg").is_file()
        },
        "questionnaire": {
            "id": "default",
            "version": None,
            "name": "Vertelpaal",
            "consent_version": CONSENT_VERSION,
            "questions": questions,
        },
    }
