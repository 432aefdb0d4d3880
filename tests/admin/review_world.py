"""A small, hand-made library organisation with answers to review (for the inbox tests).

Two branches (Roden and Borger), a scale question and an open question, two questionnaires, a
kiosk in each branch, six named answers at fixed times, and each branch its own video recording
(the same sample bytes made distinct), so that one branch's recording is never another's.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask

from admin.extensions import db
from admin.mediafiles.operations import Expect, store_path
from admin.models import (
    Answer,
    AnswerKind,
    AnswerTag,
    Branch,
    Kiosk,
    QuestionKind,
    ReviewStatus,
    Role,
    Session,
    Tag,
)
from admin.questionnaires.operations import QuestionnairePlan, create_questionnaire
from admin.questions.operations import OptionInput, create_question
from tests.admin.helpers import MEDIA_SET

STAFF_RODEN = "roden@bieb.example"
STAFF_BORGER = "borger@bieb.example"
VIEWER_RODEN = "kijker@bieb.example"
ADMIN = "coordinator@bieb.example"


@dataclass
class World:
    branches: dict[str, int] = field(default_factory=dict)
    questions: dict[str, int] = field(default_factory=dict)
    questionnaires: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    kiosks: dict[str, int] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # name → uuid
    media: dict[str, str] = field(default_factory=dict)  # name → sha256


def distinct_copy(source: Path, target: Path, mark: bytes) -> Path:
    """The same MP4 with one more (free) box at the end: it plays the same, its sha256 differs."""
    shutil.copyfile(source, target)
    with target.open("ab") as out:
        out.write((8 + len(mark)).to_bytes(4, "big") + b"free" + mark)
    return target


def build(app: Flask, make_branch, make_user, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    world = World()
    for name in ("Roden", "Borger"):
        world.branches[name] = make_branch(name).id
    make_user(STAFF_RODEN, Role.STAFF, ["Roden"])
    make_user(STAFF_BORGER, Role.STAFF, ["Borger"])
    make_user(VIEWER_RODEN, Role.VIEWER, ["Roden"])
    make_user(ADMIN, Role.ADMIN)
    with app.app_context():
        roden, borger = (db.session.get(Branch, world.branches[n]) for n in ("Roden", "Borger"))
        assert roden is not None and borger is not None
        video = store_path(MEDIA_SET / "questions" / "satisfaction.nl.mp4", Expect.VIDEO)
        subtitles = store_path(MEDIA_SET / "questions" / "satisfaction.nl.vtt", Expect.SUBTITLES)
        faces = [
            OptionInput(value, label, store_path(MEDIA_SET / "pictograms" / picture, Expect.PICTOGRAM))
            for value, label, picture in (
                ("1", "Niet blij", "face-unhappy.svg"),
                ("2", "Gewoon", "face-neutral.svg"),
                ("3", "Blij", "face-happy.svg"),
            )
        ]
        scale = create_question(
            "Hoe was uw bezoek?", QuestionKind.SCALE, "nl", "Hoe was het?", video, subtitles, faces
        )
        open_question = create_question(
            "Wat kan beter?", QuestionKind.OPEN, "nl", "Wat kan beter?", video, subtitles, []
        )
        world.questions = {"scale": scale.id, "open": open_question.id}
        visit = create_questionnaire(
            QuestionnairePlan(
                name="Bezoekers",
                activity=None,
                active_from=None,
                active_to=None,
                branches=[roden, borger],
                questions=[scale, open_question],
            )
        )
        course = create_questionnaire(
            QuestionnairePlan(
                name="Klik&Tik",
                activity="Klik&Tik",
                active_from=None,
                active_to=None,
                branches=[roden],
                questions=[scale],
            )
        )
        world.questionnaires = {"visit": visit.id, "course": course.id}
        world.versions = {"visit": visit.current_version.id, "course": course.current_version.id}
        for name, colour in (("klacht", "#b00020"), ("compliment", "#1a7f37"), ("computers", "#0969da")):
            tag = Tag(name=name, colour=colour)
            db.session.add(tag)
            db.session.flush()
            world.tags[name] = tag.id
        for branch in (roden, borger):
            kiosk = Kiosk(name=f"Vertelpaal {branch.name}", branch=branch)
            db.session.add(kiosk)
            db.session.flush()
            world.kiosks[branch.name] = kiosk.id
        sample = MEDIA_SET / "sample" / "answer-video.mp4"
        recordings = {
            "video_roden": store_path(
                distinct_copy(sample, tmp_path / "roden.mp4", b"roden"), Expect.RECORDED_VIDEO
            ),
            "video_borger": store_path(
                distinct_copy(sample, tmp_path / "borger.mp4", b"borger"), Expect.RECORDED_VIDEO
            ),
            "voice_roden": store_path(MEDIA_SET / "sample" / "answer-voice.m4a", Expect.RECORDED_VOICE),
        }
        world.media = {name: media.sha256 for name, media in recordings.items()}
        at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        # name, branch, questionnaire, question, kind, value, media, time, status, tags, language
        plan = [
            (
                "r_scale",
                "Roden",
                "visit",
                "scale",
                AnswerKind.SCALE,
                "3",
                None,
                at,
                ReviewStatus.NEW,
                [],
                "nl",
            ),
            (
                "r_video",
                "Roden",
                "visit",
                "open",
                AnswerKind.VIDEO,
                None,
                "video_roden",
                at + timedelta(minutes=1),
                ReviewStatus.NEW,
                ["klacht"],
                "nl",
            ),
            # 23:30 UTC on 1 March is 00:30 on 2 March in the Netherlands.
            (
                "r_course",
                "Roden",
                "course",
                "scale",
                AnswerKind.SCALE,
                "1",
                None,
                datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
                ReviewStatus.REVIEWED,
                [],
                "en",
            ),
            (
                "r_voice",
                "Roden",
                "visit",
                "open",
                AnswerKind.VOICE,
                None,
                "voice_roden",
                datetime(2026, 3, 5, 12, 0, tzinfo=UTC),
                ReviewStatus.FLAGGED,
                ["compliment"],
                "nl",
            ),
            (
                "b_scale",
                "Borger",
                "visit",
                "scale",
                AnswerKind.SCALE,
                "2",
                None,
                datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
                ReviewStatus.NEW,
                [],
                "nl",
            ),
            (
                "b_video",
                "Borger",
                "visit",
                "open",
                AnswerKind.VIDEO,
                None,
                "video_borger",
                datetime(2026, 3, 2, 9, 1, tzinfo=UTC),
                ReviewStatus.NEW,
                ["klacht"],
                "nl",
            ),
        ]
        sessions: dict[tuple[str, str], Session] = {}
        for name, branch, plan_key, question, kind, value, media, when, status, tags, language in plan:
            key = (branch, plan_key + when.date().isoformat())
            session = sessions.get(key)
            if session is None:
                session = Session(
                    uuid=str(uuid.uuid4()),
                    kiosk_id=world.kiosks[branch],
                    branch_id=world.branches[branch],
                    questionnaire_version_id=world.versions[plan_key],
                    language=language,
                    consent=True,
                    started_at=when - timedelta(minutes=1),
                    finished_at=when + timedelta(minutes=2),
                )
                db.session.add(session)
                sessions[key] = session
            answer = Answer(
                uuid=str(uuid.uuid4()),
                session=session,
                question_id=world.questions[question],
                kind=kind,
                value=value,
                media_sha256=world.media[media] if media else None,
                branch_id=world.branches[branch],
                answered_at=when,
                review_status=status,
            )
            db.session.add(answer)
            db.session.flush()
            world.answers[name] = answer.uuid
            for tag in tags:
                db.session.add(AnswerTag(answer_uuid=answer.uuid, tag_id=world.tags[tag]))
        db.session.commit()
    return world


def add_many(app: Flask, world: World, branch: str, count: int, start: datetime, ties: int = 3) -> list[str]:
    """``count`` more tap answers in ``branch``; every ``ties`` answers share one time, so pages
    must also cut between answers of the same second. Returns their uuids."""
    made = []
    with app.app_context():
        session = Session(
            uuid=str(uuid.uuid4()),
            kiosk_id=world.kiosks[branch],
            branch_id=world.branches[branch],
            questionnaire_version_id=world.versions["visit"],
            language="nl",
            consent=False,
            started_at=start,
        )
        db.session.add(session)
        for number in range(count):
            answer = Answer(
                uuid=str(uuid.uuid4()),
                session=session,
                question_id=world.questions["scale"],
                kind=AnswerKind.SCALE,
                value=str(number % 3 + 1),
                branch_id=world.branches[branch],
                answered_at=start + timedelta(seconds=number // ties),
            )
            db.session.add(answer)
            made.append(answer.uuid)
        db.session.commit()
    return made
