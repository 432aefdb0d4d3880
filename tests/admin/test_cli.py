"""The CLI commands that DESIGN.md names, on both databases."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from admin.extensions import db
from admin.models import Answer, AnswerKind, Branch, Questionnaire, Role, Session, User
from tests.admin.helpers import MEDIA_SET


def test_users_create_with_branches_and_password_from_stdin(
    app: Flask, runner: FlaskCliRunner, make_branch
) -> None:
    make_branch("Roden")
    make_branch("Peize")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Els@Bieb.example",
            "--role",
            "staff",
            "--branch",
            "Roden",
            "--branch",
            "Peize",
            "--password-stdin",
        ],
        input="a long password\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "els@bieb.example"))
        assert user is not None and user.role is Role.STAFF
        assert [b.name for b in user.branches] == ["Peize", "Roden"]


def test_users_create_refuses_unknown_branch_and_short_password(
    app: Flask, runner: FlaskCliRunner, make_branch
) -> None:
    make_branch("Roden")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "a@b.example",
            "--role",
            "staff",
            "--branch",
            "Atlantis",
            "--password-stdin",
        ],
        input="a long password\n",
    )
    assert result.exit_code != 0 and "Atlantis" in result.output
    result = runner.invoke(
        args=["users", "create", "a@b.example", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0 and "10" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_demo_seed_fills_every_page_and_runs_twice(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo", "seed", "--media", str(MEDIA_SET), "--days", "60"])
    assert result.exit_code == 0, result.output
    assert "admin@vertelpaal.example" in result.output
    with app.app_context():
        branches = set(db.session.scalars(select(Branch.name)))
        assert {"Roden", "Norg", "Peize", "Borger", "Odoorn", "Nieuw-Buinen"} <= branches
        kinds = dict(db.session.execute(select(Answer.kind, func.count()).group_by(Answer.kind)).all())
        assert kinds[AnswerKind.SCALE] > kinds[AnswerKind.VIDEO] > 0 and kinds[AnswerKind.VOICE] > 0
        activities = set(db.session.scalars(select(Questionnaire.activity)))
        assert {"Klik&Tik", "Kleintje Bieb"} <= activities
        # A recording only ever exists with consent.
        assert not db.session.scalar(
            select(func.count())
            .select_from(Answer)
            .join(Session)
            .where(Answer.kind.in_([AnswerKind.VIDEO, AnswerKind.VOICE]), ~Session.consent)
        )
        # Every answer keeps the branch its session was made in.
        assert not db.session.scalar(
            select(func.count())
            .select_from(Answer)
            .join(Session)
            .where(Answer.branch_id != Session.branch_id)
        )
        sessions = db.session.scalar(select(func.count()).select_from(Session))
    again = runner.invoke(args=["demo", "seed", "--media", str(MEDIA_SET)])
    assert again.exit_code == 0 and "Nothing changed" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Session)) == sessions
