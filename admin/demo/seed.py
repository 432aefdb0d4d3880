"""Fill an empty database with a believable library organisation.

Branches and activities come from the 2024 annual reports of the Drenthe libraries. Answers are
drawn from a seeded random generator so the demo looks the same every time: mostly taps, leaning
positive (as the reports' "89 % satisfied"), some video and voice answers that reuse the sample
recordings in ``media/sample``.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from admin.accounts.operations import create_user
from admin.extensions import db
from admin.mediafiles.operations import Expect, store_path
from admin.models import (
    Answer,
    AnswerKind,
    Branch,
    Kiosk,
    KioskPlacement,
    Media,
    MediaPurpose,
    Question,
    QuestionKind,
    Questionnaire,
    ReviewStatus,
    Role,
    Session,
    Tag,
)
from admin.questionnaires.operations import QuestionnairePlan, ScheduleSlot, create_questionnaire
from admin.questions.operations import OptionInput, create_question, set_prompt

DEFAULT_MEDIA_SET = Path(__file__).resolve().parents[2] / "media"
BRANCHES = ["Roden", "Norg", "Peize", "Borger", "Odoorn", "Nieuw-Buinen", "Valthermond"]
TAGS = [
    ("compliment", "#1a7f37"),
    ("klacht", "#b00020"),
    ("openingstijden", "#8250df"),
    ("computers", "#0969da"),
    ("collectie", "#bf8700"),
    ("activiteiten", "#d63384"),
]
# When activities take place (weekday 0 = Monday, local time): Klik&Tik on Tuesday mornings in
# Roden, Taalhuis in Borger, Kleintje Bieb for toddlers; on Tuesday 10-11 in Roden two overlap, so
# the kiosk there lets the visitor choose.
SCHEDULES = {
    "Klik&Tik": [("Roden", 1, time(9, 30), time(11, 30))],
    "Taalhuis": [("Borger", 0, time(13, 30), time(15, 30)), ("Borger", 3, time(13, 30), time(15, 30))],
    "Kleintje Bieb": [
        ("Roden", 1, time(10, 0), time(11, 0)),
        ("Norg", 2, time(10, 0), time(11, 0)),
        ("Odoorn", 2, time(10, 0), time(11, 0)),
    ],
}
MINUTES_AFTER = 30
# A kiosk that goes out: at the weekly market, under the branch of Roden.
MARKET = ("Vertelpaal markt", "Roden", "Weekmarkt Roden")
MEMBER_WEIGHTS = {"yes": 6, "no": 3, "unknown": 1}
DEMO_PASSWORD = "vertelpaal-demo"
# Admins sign in in two steps; the demo admin's authenticator key is fixed so a demo can be followed.
DEMO_TOTP_SECRET = "VERTELPAALDEMOADMINTOTPSECRET234"
DEMO_ACCOUNTS = [
    ("admin@vertelpaal.example", Role.ADMIN, []),
    ("roden@vertelpaal.example", Role.STAFF, ["Roden", "Norg", "Peize"]),
    ("borger@vertelpaal.example", Role.STAFF, ["Borger", "Odoorn", "Nieuw-Buinen"]),
    ("kijker@vertelpaal.example", Role.VIEWER, ["Roden"]),
]


class AlreadySeeded(RuntimeError):
    pass


@dataclass(frozen=True)
class SeedReport:
    branches: int
    questions: int
    sessions: int
    answers: int
    accounts: list[tuple[str, str]]  # (email, role)


def seed(media_set: Path = DEFAULT_MEDIA_SET, days: int = 150, rng_seed: int = 2024) -> SeedReport:
    if db.session.scalar(select(Branch).limit(1)) is not None:
        raise AlreadySeeded("The database already has branches; demo data is only added to an empty one.")
    manifest = json.loads((media_set / "manifest.json").read_text("utf-8"))
    rng = random.Random(rng_seed)

    branches = {name: Branch(name=name) for name in BRANCHES}
    db.session.add_all(branches.values())
    db.session.add_all(Tag(name=name, colour=colour) for name, colour in TAGS)
    for email, role, names in DEMO_ACCOUNTS:
        user = create_user(email, DEMO_PASSWORD, role, [branches[n] for n in names])
        if role is Role.ADMIN:
            user.totp_secret = DEMO_TOTP_SECRET
    questions = {q["key"]: _question(media_set, q) for q in manifest["questions"]}

    today = datetime.now(UTC).date()
    start = today - timedelta(days=days)
    plans = [
        ("Bezoekers 2026", None, ["satisfaction", "visit_reason", "staff", "improve"], BRANCHES),
        ("Klik&Tik", "Klik&Tik", ["activity", "improve"], ["Roden"]),
        ("Taalhuis", "Taalhuis", ["activity", "improve"], ["Borger"]),
        ("Kleintje Bieb", "Kleintje Bieb", ["activity", "story"], ["Roden", "Norg", "Peize", "Odoorn"]),
    ]
    spoken = {option["label"]["nl"]: option for option in manifest.get("demo_activities", [])}
    questionnaires = [
        create_questionnaire(
            QuestionnairePlan(
                name=name,
                activity=activity,
                active_from=start,
                active_to=date(today.year + 1, 12, 31),
                branches=[branches[b] for b in branch_names],
                questions=[questions[k] for k in keys],
                schedule=[
                    ScheduleSlot(branches[branch], weekday, None, starts, ends)
                    for branch, weekday, starts, ends in SCHEDULES.get(name, [])
                ],
                minutes_after=MINUTES_AFTER if activity else 0,
                ask_member=name != "Kleintje Bieb",  # toddlers' parents are members already
                **_activity_media(media_set, spoken.get((activity or "").replace("&", " en "))),
            )
        )
        for name, activity, keys, branch_names in plans
    ]

    # Two kiosks; each moved once, so their older sessions belong to the branch they stood in then.
    kiosks = [
        (Kiosk(name="Vertelpaal 1", branch=branches["Roden"]), branches["Norg"]),
        (Kiosk(name="Vertelpaal 2", branch=branches["Borger"]), branches["Odoorn"]),
    ]
    market_name, market_branch, market_location = MARKET
    market = Kiosk(name=market_name, branch=branches[market_branch], location=market_location)
    db.session.add_all([*(kiosk for kiosk, _ in kiosks), market])
    db.session.flush()
    db.session.add(
        KioskPlacement(
            kiosk_id=market.id,
            branch_id=market.branch_id,
            location=market_location,
            since=datetime.combine(start, datetime.min.time(), UTC),
        )
    )
    market.last_heartbeat_at = datetime.now(UTC) - timedelta(minutes=5)
    market.status = {"app_version": "0.1.0", "outbox_depth": 0, "camera_ok": True, "microphone_ok": True}
    moved_on = datetime.combine(start + timedelta(days=days // 2), datetime.min.time(), UTC)
    for (kiosk, earlier), heard in zip(kiosks, (timedelta(minutes=2), timedelta(days=3)), strict=True):
        db.session.add_all(
            [
                KioskPlacement(
                    kiosk_id=kiosk.id,
                    branch_id=earlier.id,
                    since=datetime.combine(start, datetime.min.time(), UTC),
                ),
                KioskPlacement(kiosk_id=kiosk.id, branch_id=kiosk.branch.id, since=moved_on),
            ]
        )
        # One kiosk is healthy, the other went silent three days ago: the Kiosks page shows both.
        kiosk.last_heartbeat_at = datetime.now(UTC) - heard
        kiosk.status = {
            "app_version": "0.1.0",
            "uptime_seconds": 86400,
            "outbox_depth": 0 if heard.days == 0 else 7,
            "disk_free_bytes": 21_000_000_000,
            "camera_ok": True,
            "microphone_ok": heard.days == 0,
        }

    # Checked as question media (the video gets its poster now), kept as visitors' recordings.
    recordings = {
        AnswerKind.VIDEO: store_path(
            media_set / manifest["sample_answers"]["video"], Expect.VIDEO, MediaPurpose.RECORDING
        ),
        AnswerKind.VOICE: store_path(
            media_set / manifest["sample_answers"]["voice"], Expect.AUDIO, MediaPurpose.RECORDING
        ),
    }
    placed = [*kiosks, (market, market.branch)]
    sessions, answers = _visits(rng, start, days, placed, questionnaires, recordings)
    if sessions:
        db.session.execute(insert(Session), sessions)
        db.session.execute(insert(Answer), answers)
    db.session.flush()
    return SeedReport(
        branches=len(branches),
        questions=len(questions),
        sessions=len(sessions),
        answers=len(answers),
        accounts=[(email, role.value) for email, role, _ in DEMO_ACCOUNTS],
    )


def _question(media_set: Path, spec: dict[str, Any]) -> Question:
    prompts = spec["prompt"]
    nl = prompts["nl"]
    options = [
        OptionInput(
            value=option["value"],
            label=option["label"]["nl"],
            pictogram=store_path(media_set / option["pictogram"], Expect.PICTOGRAM),
            translations={
                language: (label, _audio(media_set, option.get("audio", {}).get(language)))
                for language, label in option["label"].items()
            },
        )
        for option in spec.get("options", [])
    ]
    question = create_question(
        spec["name"]["nl"],
        QuestionKind(spec["kind"]),
        "nl",
        nl["text"],
        store_path(media_set / nl["video"], Expect.VIDEO),
        store_path(media_set / nl["subtitles"], Expect.SUBTITLES),
        options,
    )
    for language, prompt in prompts.items():
        if language != "nl":
            set_prompt(
                question,
                language,
                prompt["text"],
                store_path(media_set / prompt["video"], Expect.VIDEO),
                store_path(media_set / prompt["subtitles"], Expect.SUBTITLES),
            )
    return question


def _activity_media(media_set: Path, spoken: dict[str, Any] | None) -> dict[str, Media | None]:
    """The picture and the spoken name the kiosk's "I came for..." screen shows for an activity."""
    if spoken is None:
        return {}
    return {
        "activity_pictogram": store_path(media_set / spoken["pictogram"], Expect.PICTOGRAM),
        "activity_audio": _audio(media_set, spoken["audio"].get("nl")),
    }


def _audio(media_set: Path, relative: str | None) -> Media | None:
    return store_path(media_set / relative, Expect.AUDIO) if relative else None


def _visits(
    rng: random.Random,
    start: date,
    days: int,
    kiosks: list[tuple[Kiosk, Branch]],
    questionnaires: list[Questionnaire],
    recordings: dict[AnswerKind, Media],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sessions: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for day_number in range(days):
        day = start + timedelta(days=day_number)
        if day.weekday() == 6:  # closed on Sundays
            continue
        for kiosk, earlier_branch in kiosks:
            branch = earlier_branch if day_number < days // 2 else kiosk.branch
            for _ in range(rng.randint(2, 9)):
                visit_at = datetime(
                    day.year,
                    day.month,
                    day.day,
                    rng.randint(9, 16),
                    rng.randint(0, 59),
                    rng.randint(0, 59),
                    tzinfo=UTC,
                )
                if visit_at > now:
                    continue
                usable = [q for q in questionnaires if branch in q.branches]
                version = rng.choice(usable).current_version
                consent = rng.random() < 0.6
                session_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                at = visit_at
                session_answers = []
                for question in version.questions:
                    at += timedelta(seconds=rng.randint(8, 40))
                    answer = _answer(rng, question, consent, recordings)
                    if answer is None:
                        continue
                    kind, value, media = answer
                    age_days = (now - at).days
                    status = (
                        ReviewStatus.NEW if age_days < 10 or rng.random() < 0.1 else ReviewStatus.REVIEWED
                    )
                    if kind.is_recording and rng.random() < 0.05:
                        status = ReviewStatus.FLAGGED
                    session_answers.append(
                        {
                            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            "session_uuid": session_uuid,
                            "question_id": question.id,
                            "kind": kind,
                            "value": value,
                            "media_sha256": media.sha256 if media else None,
                            "branch_id": branch.id,
                            "answered_at": at,
                            "review_status": status,
                        }
                    )
                if not session_answers:
                    continue
                questionnaire = version.questionnaire
                sessions.append(
                    {
                        "uuid": session_uuid,
                        "kiosk_id": kiosk.id,
                        "branch_id": branch.id,
                        "location": kiosk.location,
                        "activity": questionnaire.activity,
                        "member": rng.choices(list(MEMBER_WEIGHTS), list(MEMBER_WEIGHTS.values()))[0]
                        if questionnaire.ask_member
                        else None,
                        "questionnaire_version_id": version.id,
                        "language": "nl" if rng.random() < 0.85 else "en",
                        "consent": consent,
                        "consent_version": "2026-1" if consent else None,
                        "started_at": visit_at,
                        "finished_at": at,
                        "received_at": at + timedelta(minutes=2),
                    }
                )
                answers.extend(session_answers)
    return sessions, answers


def _answer(
    rng: random.Random, question: Question, consent: bool, recordings: dict[AnswerKind, Media]
) -> tuple[AnswerKind, str | None, Media | None] | None:
    if question.kind is QuestionKind.SCALE:
        values = [o.value for o in question.options]
        # Leans positive: most visitors are satisfied, a few are not.
        weights = [1, 2, 5, 14, 18][-len(values) :] if len(values) == 5 else [1, 4, 15]
        return AnswerKind.SCALE, rng.choices(values, weights)[0], None
    if question.kind is QuestionKind.CHOICE:
        values = [o.value for o in question.options]
        return AnswerKind.CHOICE, rng.choices(values, [9, 4, 3, 3, 2][: len(values)])[0], None
    # Recordings need consent, and most visitors skip an open question.
    if not consent or rng.random() < 0.7:
        return None
    if question.kind is QuestionKind.VIDEO:
        kind = AnswerKind.VIDEO
    elif question.kind is QuestionKind.VOICE:
        kind = AnswerKind.VOICE
    else:
        kind = rng.choice([AnswerKind.VIDEO, AnswerKind.VOICE])
    return kind, None, recordings[kind]
