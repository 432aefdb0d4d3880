"""Planning questionnaires: branches see only their own; used versions are frozen."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.mediafiles.operations import Expect, store_path
from admin.models import Branch, Question, QuestionKind, Questionnaire, QuestionnaireVersion, Role, Session
from admin.questions.operations import create_question
from tests.admin.helpers import MEDIA_SET, csrf_token, login


@pytest.fixture
def questions(app: Flask) -> list[int]:
    with app.app_context():
        video = store_path(MEDIA_SET / "questions" / "improve.nl.mp4", Expect.VIDEO)
        subtitles = store_path(MEDIA_SET / "questions" / "improve.nl.vtt", Expect.SUBTITLES)
        made = [
            create_question(name, QuestionKind(kind), "nl", "", video, subtitles, [])
            for name, kind in (("Wat kan beter", "open"), ("Vertel", "voice"), ("Laat zien", "video"))
        ]
        db.session.commit()
        return [q.id for q in made]


def _ids(app: Flask, model: type, names: list[str]) -> list[int]:
    with app.app_context():
        return [db.session.scalar(select(model.id).where(model.name == n)) for n in names]


def _post(
    client: FlaskClient,
    path: str,
    branches: list[int],
    questions: list[int],
    token_from: str = "",
    **fields: str,
) -> int:
    data: dict[str, object] = {
        "csrf_token": csrf_token(client, token_from or path),
        "name": "Klik&Tik najaar",
        "activity": "Klik&Tik",
        "active_from": "2026-09-01",
        "active_to": "2026-12-31",
        "branches": [str(b) for b in branches],
    }
    data.update({f"questions-{i}": str(q) for i, q in enumerate(questions)})
    data.update(fields)
    return client.post(path, data=data).status_code


def test_admin_plans_a_questionnaire_and_other_branches_cannot_see_it(
    app: Flask, make_branch: Callable, make_user: Callable, questions: list[int]
) -> None:
    for name in ("Roden", "Borger"):
        make_branch(name)
    make_user("boss@bieb.example", Role.ADMIN)
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])
    make_user("borger@bieb.example", Role.STAFF, ["Borger"])
    boss, roden, borger = app.test_client(), app.test_client(), app.test_client()
    login(boss, "boss@bieb.example")
    login(roden, "roden@bieb.example")
    login(borger, "borger@bieb.example")

    roden_id = _ids(app, Branch, ["Roden"])
    assert _post(boss, "/questionnaires/new", roden_id, [questions[1], questions[0]]) == 302
    with app.app_context():
        plan = db.session.scalar(select(Questionnaire))
        assert plan is not None and plan.activity == "Klik&Tik"
        assert [q.name for q in plan.current_version.questions] == ["Vertel", "Wat kan beter"]
        plan_id = plan.id

    assert "Klik&amp;Tik najaar" in roden.get("/questionnaires").get_data(as_text=True)
    assert roden.get(f"/questionnaires/{plan_id}").status_code == 200
    assert "Klik&amp;Tik najaar" not in borger.get("/questionnaires").get_data(as_text=True)
    assert borger.get(f"/questionnaires/{plan_id}").status_code == 404
    # Staff may look but never change, whichever branch.
    for client in (roden, borger):
        assert client.get(f"/questionnaires/{plan_id}/edit").status_code == 404
        assert (
            _post(
                client,
                f"/questionnaires/{plan_id}/edit",
                roden_id,
                questions[:1],
                token_from="/",
            )
            == 404
        )


def test_editing_a_used_questionnaire_makes_a_new_version(
    app: Flask, make_branch: Callable, make_user: Callable, questions: list[int]
) -> None:
    make_branch("Roden")
    make_user("boss@bieb.example", Role.ADMIN)
    boss = app.test_client()
    login(boss, "boss@bieb.example")
    roden_id = _ids(app, Branch, ["Roden"])
    assert _post(boss, "/questionnaires/new", roden_id, questions[:2]) == 302
    with app.app_context():
        plan_id = db.session.scalar(select(Questionnaire.id))

    # Not used yet: editing changes version 1 in place.
    assert _post(boss, f"/questionnaires/{plan_id}/edit", roden_id, questions[:1]) == 302
    with app.app_context():
        versions = db.session.scalars(select(QuestionnaireVersion)).all()
        assert len(versions) == 1 and [q.id for q in versions[0].questions] == questions[:1]
        now = datetime.now(UTC)
        db.session.add(
            Session(
                uuid=str(uuid.uuid4()),
                branch_id=roden_id[0],
                questionnaire_version_id=versions[0].id,
                language="nl",
                consent=False,
                started_at=now,
                finished_at=now,
            )
        )
        db.session.commit()

    assert _post(boss, f"/questionnaires/{plan_id}/edit", roden_id, questions) == 302
    with app.app_context():
        plan = db.session.get(Questionnaire, plan_id)
        assert plan is not None and [v.number for v in plan.versions] == [1, 2]
        assert [q.id for q in plan.versions[0].questions] == questions[:1]  # what was asked stays
        assert [q.id for q in plan.versions[1].questions] == questions
        session = db.session.scalar(select(Session))
        assert session is not None and session.questionnaire_version.number == 1


def test_invalid_plans_are_refused_with_a_message(
    app: Flask, make_branch: Callable, make_user: Callable, questions: list[int]
) -> None:
    make_branch("Roden")
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    boss = app.test_client()
    login(boss, "boss@bieb.example")
    roden_id = _ids(app, Branch, ["Roden"])
    cases = [
        (roden_id, [], "at least one question"),
        ([], questions[:1], "at least one branch"),
        (roden_id, [questions[0], questions[0]], "only once"),
    ]
    for branches, chosen, message in cases:
        data: dict[str, object] = {
            "csrf_token": csrf_token(boss, "/questionnaires/new"),
            "name": "X",
            "branches": [str(b) for b in branches],
        }
        data.update({f"questions-{i}": str(q) for i, q in enumerate(chosen)})
        page = boss.post("/questionnaires/new", data=data).get_data(as_text=True)
        assert message in page, message
    page = boss.post(
        "/questionnaires/new",
        data={
            "csrf_token": csrf_token(boss, "/questionnaires/new"),
            "name": "X",
            "branches": [str(roden_id[0])],
            "questions-0": str(questions[0]),
            "active_from": "2026-12-01",
            "active_to": "2026-01-01",
        },
    ).get_data(as_text=True)
    assert "before the start date" in page
    with app.app_context():
        assert db.session.scalar(select(Questionnaire)) is None
        assert db.session.scalars(select(Question)).all()


def test_admin_ties_a_questionnaire_to_an_activity_with_times_per_branch(
    app: Flask, make_branch: Callable, make_user: Callable, questions: list[int]
) -> None:
    for name in ("Roden", "Borger"):
        make_branch(name)
    make_user("boss@bieb.example", Role.ADMIN)
    boss = app.test_client()
    login(boss, "boss@bieb.example")
    roden, borger = _ids(app, Branch, ["Roden", "Borger"])

    def post(**fields: object) -> str:
        data: dict[str, object] = {
            "csrf_token": csrf_token(boss, "/questionnaires/new"),
            "name": "Klik&Tik najaar",
            "activity": "Klik&Tik",
            "branches": [str(roden), str(borger)],
            "questions-0": str(questions[0]),
            "minutes_after": "30",
            "ask_member": "y",
        }
        # As a browser sends the form: every row, the empty ones with "—" as branch and day.
        for row in range(6):
            data |= {f"schedule-{row}-{name}": "" for name in ("day", "on_date", "starts", "ends")}
            data[f"schedule-{row}-branch"] = "0"
        data.update(fields)
        response = boss.post("/questionnaires/new", data=data, content_type="multipart/form-data")
        return response.get_data(as_text=True) if response.status_code == 200 else f"{response.status_code}"

    # Half-filled or impossible times are refused with what is wrong, in Dutch.
    assert "Tijd 1: geef de begin- en eindtijd." in post(
        **{"schedule-0-branch": str(roden), "schedule-0-day": "1"}
    )
    assert "Tijd 2: kies een vestiging." in post(**{"schedule-1-day": "1", "schedule-1-starts": "09:30"})
    ends_first = {"schedule-0-branch": str(roden), "schedule-0-day": "1"}
    ends_first |= {"schedule-0-starts": "11:30", "schedule-0-ends": "09:30"}
    assert "De activiteit in Roden eindigt voordat ze begint." in post(**ends_first)
    assert "0 tot 1440 minuten" in post(minutes_after="2000", **ends_first)
    with app.app_context():
        assert db.session.scalar(select(Questionnaire)) is None

    with (
        (MEDIA_SET / "pictograms" / "computer.svg").open("rb") as picture,
        (MEDIA_SET / "audio" / "activity-name-klik-tik.nl.m4a").open("rb") as spoken,
    ):
        outcome = post(
            **{
                "schedule-0-branch": str(roden),
                "schedule-0-day": "1",
                "schedule-0-starts": "09:30",
                "schedule-0-ends": "11:30",
                "schedule-2-branch": str(borger),
                "schedule-2-day": "date",
                "schedule-2-on_date": "2026-10-07",
                "schedule-2-starts": "14:00",
                "schedule-2-ends": "16:00",
                "activity_pictogram": (picture, "computer.svg"),
                "activity_audio": (spoken, "klik-tik.m4a"),
            }
        )
    assert outcome == "302"
    with app.app_context():
        plan = db.session.scalar(select(Questionnaire))
        assert plan is not None and plan.minutes_after == 30 and plan.ask_member
        slots = [(s.branch.name, s.weekday, s.on_date, s.starts, s.ends) for s in plan.schedules]
        assert slots == [
            ("Roden", 1, None, time(9, 30), time(11, 30)),
            ("Borger", None, date(2026, 10, 7), time(14, 0), time(16, 0)),
        ]
        assert plan.activity_pictogram_sha256 and plan.activity_audio_sha256
        plan_id = plan.id
    page = boss.get(f"/questionnaires/{plan_id}").get_data(as_text=True)
    assert "Roden: dinsdag 09:30–11:30" in page and "Borger: 2026-10-07 14:00–16:00" in page
    # The edit form shows the times again, and saving without new files keeps picture and sound.
    form = boss.get(f"/questionnaires/{plan_id}/edit").get_data(as_text=True)
    assert 'value="09:30"' in form and 'value="2026-10-07"' in form
