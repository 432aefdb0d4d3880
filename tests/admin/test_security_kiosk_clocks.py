"""Kiosk clocks are not believed beyond the server's: a session dated ahead of the server or before
its kiosk was enrolled is stored with the server's receive time and flagged for staff, so it neither
tops the inbox nor escapes retention."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import Answer, Kiosk, Role, Session, utcnow
from admin.privacy.operations import save_settings
from tests.admin.helpers import login
from tests.admin.test_kiosk_api import API, EnrolledKiosk, enroll, session_body, visitors_questionnaire
from tests.admin.test_responses import listed

ROOT = Path(__file__).resolve().parents[2]
FUTURE = datetime(2099, 6, 1, 12, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


@pytest.fixture
def seeded(seed_demo: Callable[[int], None]) -> None:
    seed_demo(1)


def _dated(questionnaire: dict[str, Any], started: datetime, answered: datetime) -> dict[str, Any]:
    body = session_body(questionnaire)
    body["started_at"], body["finished_at"] = started.isoformat(), answered.isoformat()
    body["answers"][0]["answered_at"] = answered.isoformat()
    return body


def _send(client: FlaskClient, kiosk: EnrolledKiosk, body: dict[str, Any]) -> str:
    session_uuid = str(uuid.uuid4())
    response = client.put(f"{API}/sessions/{session_uuid}", json=body, headers=kiosk.headers)
    assert response.status_code == 201, response.get_json()
    # Sent again (the kiosk never heard the answer): the same body is the same session.
    assert client.put(f"{API}/sessions/{session_uuid}", json=body, headers=kiosk.headers).status_code == 200
    return session_uuid


@pytest.mark.parametrize(
    ("started", "answered"),
    [
        (FUTURE, FUTURE),  # ahead: would top the inbox and never expire
        (EPOCH, EPOCH),  # before the kiosk was enrolled
        (utcnow() - timedelta(minutes=1), FUTURE),  # a believable start, an answer from the future
    ],
    ids=["future", "epoch", "future-answer"],
)
def test_an_unbelievable_kiosk_clock_is_replaced_by_the_server_s_and_flagged(
    app: Flask, client: FlaskClient, seeded: None, started: datetime, answered: datetime
) -> None:
    kiosk = enroll(app, client)
    questionnaire = visitors_questionnaire(client, kiosk)
    before = utcnow()
    session_uuid = _send(client, kiosk, _dated(questionnaire, started, answered))
    after = utcnow()
    with app.app_context():
        session = db.session.get(Session, session_uuid)
        assert session is not None and session.clock_suspect
        assert session.kiosk_started_at == started
        assert before <= session.started_at <= after and session.started_at == session.received_at
        assert session.finished_at == session.received_at
        assert [a.answered_at for a in session.answers] == [session.received_at]
        assert session.branch.name == "Roden"


def test_a_believable_clock_is_kept_and_not_flagged(app: Flask, client: FlaskClient, seeded: None) -> None:
    kiosk = enroll(app, client)
    # A little ahead (clocks drift), and a session made while the server was not reached.
    now = utcnow()
    body = _dated(
        visitors_questionnaire(client, kiosk), now - timedelta(minutes=3), now + timedelta(minutes=4)
    )
    session_uuid = _send(client, kiosk, body)
    with app.app_context():
        session = db.session.get(Session, session_uuid)
        assert session is not None and not session.clock_suspect and session.kiosk_started_at is None
        assert session.started_at == now - timedelta(minutes=3)
        assert session.answers[0].answered_at == now + timedelta(minutes=4)


def test_a_2099_answer_neither_tops_the_inbox_nor_escapes_retention(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable, database: str, tmp_path: Path
) -> None:
    kiosk = enroll(app, client)
    questionnaire = visitors_questionnaire(client, kiosk)
    from_2099 = _send(client, kiosk, _dated(questionnaire, FUTURE, FUTURE))
    now = utcnow()
    later = _send(client, kiosk, _dated(questionnaire, now, now + timedelta(seconds=1)))
    with app.app_context():
        answer_2099, answer_later = (db.session.get(Session, s).answers[0].uuid for s in (from_2099, later))

    make_user("anna@bieb.example", Role.STAFF, ["Roden"], locale="en")
    assert login(client, "anna@bieb.example") == 302
    shown = listed(client)
    assert shown.index(answer_later) < shown.index(answer_2099)
    # Where staff review the answer, the flag shows, with what the kiosk said.
    page = client.get(f"/responses/{answer_2099}").get_data(as_text=True)
    assert "Kiosk clock wrong" in page and "2099-06-01" in page
    assert "Kiosk clock wrong" not in client.get(f"/responses/{answer_later}").get_data(as_text=True)

    # Two days pass (every stored time moves back two days); taps are kept one day.
    with app.app_context():
        save_settings(video_days=30, voice_days=30, tap_days=1, parent_step=False, parent_texts={})
        for answer in db.session.scalars(select(Answer)):
            answer.answered_at -= timedelta(days=2)
        for session in db.session.scalars(select(Session)):
            session.started_at -= timedelta(days=2)
        db.session.commit()
    env = {
        **os.environ,
        "VERTELPAAL_ENV": "development",
        "DATABASE_URL": database,
        "MEDIA_ROOT": app.config["MEDIA_ROOT"],
        "KIOSK_SEALING_KEY_FILE": app.config["KIOSK_SEALING_KEY_FILE"],
    }
    command = [sys.executable, "-m", "flask", "--app", "admin", "retention", "run"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    with app.app_context():
        assert db.session.get(Answer, answer_2099) is None
        assert db.session.get(Session, from_2099) is None
        assert db.session.scalar(select(Answer).where(Answer.answered_at > utcnow())) is None


def test_the_flag_reads_in_dutch(app: Flask, client: FlaskClient, seeded: None, make_user: Callable) -> None:
    kiosk = enroll(app, client)
    session_uuid = _send(client, kiosk, _dated(visitors_questionnaire(client, kiosk), FUTURE, FUTURE))
    with app.app_context():
        answer = db.session.get(Session, session_uuid).answers[0].uuid
    make_user("anna@bieb.example", Role.STAFF, ["Roden"], locale="nl")
    assert login(client, "anna@bieb.example") == 302
    page = client.get(f"/responses/{answer}").get_data(as_text=True)
    assert "Klok van de kiosk klopt niet" in page and "2099-06-01" in page


def test_a_heartbeat_s_clock_shows_how_far_off_the_kiosk_is(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    wrong, right = enroll(app, client), enroll(app, client)
    ahead = (utcnow() + timedelta(hours=2)).isoformat()
    for kiosk, clock in ((wrong, ahead), (right, utcnow().isoformat())):
        beat = client.post(f"{API}/heartbeat", json={"clock": clock}, headers=kiosk.headers)
        assert beat.status_code == 200
    # Not a time: no offset, and the heartbeat is still taken.
    nonsense = client.post(f"{API}/heartbeat", json={"clock": "[]"}, headers=right.headers)
    assert nonsense.status_code == 200
    with app.app_context():
        assert 7199 <= db.session.get(Kiosk, wrong.id).status["clock_offset_seconds"] <= 7200
        assert "clock_offset_seconds" not in db.session.get(Kiosk, right.id).status
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    assert login(client, "boss@bieb.example") == 302
    page = client.get("/kiosks").get_data(as_text=True)
    assert page.count("Clock off by") == 1 and "Clock off by 120 minutes" in page
