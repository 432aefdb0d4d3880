"""Planning questionnaires: branches see only their own; used versions are frozen."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

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
