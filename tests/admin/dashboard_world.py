"""The review world (tests/admin/review_world.py) with a little more for the dashboards: a choice
question answered in Roden in March 2026, two scale answers in Roden in February (the period
before), and retention purges in the audit log. Shared by the dashboard tests and the browser test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask

from admin.extensions import db
from admin.mediafiles.operations import Expect, store_path
from admin.models import Answer, AnswerKind, AuditEvent, QuestionKind, Session
from admin.questions.operations import OptionInput, create_question
from tests.admin.helpers import MEDIA_SET
from tests.admin.review_world import World, build


def build_dashboard_world(app: Flask, make_branch, make_user, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    world = build(app, make_branch, make_user, tmp_path)
    with app.app_context():
        video = store_path(MEDIA_SET / "questions" / "satisfaction.nl.mp4", Expect.VIDEO)
        subtitles = store_path(MEDIA_SET / "questions" / "satisfaction.nl.vtt", Expect.SUBTITLES)
        picture = store_path(MEDIA_SET / "pictograms" / "face-happy.svg", Expect.PICTOGRAM)
        choice = create_question(
            "Waarvoor kwam u?",
            QuestionKind.CHOICE,
            "nl",
            "Waarvoor kwam u?",
            video,
            subtitles,
            [
                OptionInput("borrow", "Boeken lenen", picture),
                OptionInput("computer", "Computer", picture),
                OptionInput("activity", "Activiteit", picture),
            ],
        )
        world.questions["choice"] = choice.id
        add_session(
            world,
            "Roden",
            datetime(2026, 3, 10, 14, 0, tzinfo=UTC),
            [
                ("choice", AnswerKind.CHOICE, "borrow"),
                ("choice", AnswerKind.CHOICE, "borrow"),
                ("choice", AnswerKind.CHOICE, "computer"),
            ],
        )
        add_session(
            world,
            "Roden",
            datetime(2026, 2, 10, 11, 0, tzinfo=UTC),
            [("scale", AnswerKind.SCALE, "3"), ("scale", AnswerKind.SCALE, "2")],
        )
        for at, details in (
            (datetime(2026, 3, 15, 3, 0, tzinfo=UTC), {"recordings": 4, "taps": 0}),
            (datetime(2026, 3, 16, 3, 0, tzinfo=UTC), {"taps": 2}),  # no recordings key
            (datetime(2026, 2, 15, 3, 0, tzinfo=UTC), {"recordings": 9}),  # the month before
        ):
            db.session.add(
                AuditEvent(at=at, actor="system", action="retention.purge", target="answers", details=details)
            )
        db.session.commit()
    return world


def add_session(
    world: World,
    branch: str,
    at: datetime,
    answers: list[tuple[str, AnswerKind, str]],
    gap: timedelta = timedelta(seconds=10),
    member: str | None = None,
    activity: str | None = None,
    location: str | None = None,
) -> None:
    """One session of ``branch`` (by name, through its kiosk) started at ``at`` with ``answers``
    (question name, kind, value) ``gap`` apart, the first ``gap`` after the start; in an app
    context, the caller commits."""
    made = Session(
        uuid=str(uuid.uuid4()),
        kiosk_id=world.kiosks[branch],
        branch_id=world.branches[branch],
        questionnaire_version_id=world.versions["visit"],
        language="nl",
        consent=False,
        started_at=at,
        finished_at=at + timedelta(minutes=3),
        member=member,
        activity=activity,
        location=location,
    )
    db.session.add(made)
    for number, (question, kind, value) in enumerate(answers):
        db.session.add(
            Answer(
                uuid=str(uuid.uuid4()),
                session=made,
                question_id=world.questions[question],
                kind=kind,
                value=value,
                branch_id=world.branches[branch],
                answered_at=at + gap * (number + 1),
            )
        )
