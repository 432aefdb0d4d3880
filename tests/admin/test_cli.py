"""The CLI commands the README and deploy files rely on, on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from admin.extensions import db
from admin.models import Answer, AnswerKind, Branch, Questionnaire, Role, Session, User
from tests.admin.helpers import MEDIA_SET

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_make_demo_pairs_its_kiosk_once(
    client: FlaskClient, make_branch: Callable, database: str, tmp_path: Path
) -> None:
    """`make demo` runs `python -m admin.demo.pair_kiosk`: it types the kiosk's pairing code for it."""
    make_branch("Roden")
    created = client.post("/api/kiosk/v1/enrollments", json={"name": "demo"}).get_json()
    sync = tmp_path / "kiosk" / "sync"
    sync.mkdir(parents=True)
    (sync / "enrollment.json").write_text(json.dumps(created), "utf-8")  # as the sync service keeps it
    env = {
        **os.environ,
        "VERTELPAAL_ENV": "development",
        "DATABASE_URL": database,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "KIOSK_SEALING_KEY_FILE": str(tmp_path / "kiosk-sealing.key"),
    }

    def pair() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "admin.demo.pair_kiosk", str(tmp_path / "kiosk"), "Roden"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    result = pair()
    assert result.returncode == 0, result.stdout + result.stderr
    answer = client.get(
        f"/api/kiosk/v1/enrollments/{created['id']}", headers={"X-Enrollment-Secret": created["secret"]}
    )
    assert answer.status_code == 200 and answer.get_json()["branch"]["name"] == "Roden"
    # Once the kiosk holds its token, a second `make demo` leaves it alone.
    (sync / "token").write_text(answer.get_json()["token"], "utf-8")
    again = pair()
    assert again.returncode == 0 and "paired already" in again.stdout
