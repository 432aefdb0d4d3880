"""Activities on the kiosk's own clock: the questionnaire switches at an activity's start and at its
end plus the time after, with the network and without it; when two activities overlap the visitor
chooses; sessions reach the server with their activity, member answer and location."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.demo.seed import seed
from admin.extensions import db
from admin.models import Session
from kiosk import showdoc
from kiosk import sync as sync_module
from kiosk.app import create_app
from kiosk.config import KioskConfig
from kiosk.paths import SyncPaths
from kiosk.sync import NotEnrolled, SyncService
from tests.admin.helpers import MEDIA_SET

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def next_tuesday() -> date:
    today = datetime.now(AMSTERDAM).date()
    return today + timedelta(days=(1 - today.weekday()) % 7 or 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), AMSTERDAM)


class SetClock:
    """The kiosk's clock, set by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def showing(client: FlaskClient, clock: SetClock, moment: datetime) -> tuple[str | None, list[str | None]]:
    """The questionnaire the page gets at ``moment``, and the choices offered then."""
    clock.now = moment
    document = client.get("/api/show").get_json()
    current = document["questionnaire"]["name"] if document["questionnaire"] else None
    return current, [choice["activity"] for choice in document["choices"]]


@pytest.fixture
def server(app: Flask, live_server: str) -> str:
    with app.app_context():
        seed(MEDIA_SET, days=1)
        db.session.commit()
    return live_server


@pytest.fixture
def synced_roden(app: Flask, server: str, tmp_path: Path) -> Iterator[SyncService]:
    """A kiosk enrolled at the market under Roden, its questions downloaded from the real server."""
    service = SyncService(KioskConfig(data_dir=tmp_path / "kiosk", server_url=server))
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    approve_at_market(app, service)
    assert service.pull_config() is True
    yield service
    service.close()


def approve_at_market(app: Flask, service: SyncService) -> None:
    code = showdoc.build(service.config)["pairing_code"]
    result = app.test_cli_runner().invoke(
        args=["kiosks", "approve", code, "--branch", "Roden", "--location", "Weekmarkt Roden"]
    )
    assert result.exit_code == 0, result.output
    assert "Roden, Weekmarkt Roden" in result.output
    service.ensure_token()


def test_the_kiosk_switches_at_start_and_end_with_and_without_the_network(
    app: Flask, synced_roden: SyncService, tmp_path: Path
) -> None:
    # Demo: Klik&Tik Tuesdays 9:30-11:30 in Roden, Kleintje Bieb Tuesdays 10-11, 30 minutes after.
    tuesday = next_tuesday()
    clock = SetClock()
    client = create_app(synced_roden.config, watch_devices=False, clock=clock).test_client()
    expected = [
        (at(tuesday, 9, 29), "Bezoekers 2026", []),
        (at(tuesday, 9, 30), "Klik&Tik", []),
        (at(tuesday, 10, 0), "Bezoekers 2026", ["Kleintje Bieb", "Klik&Tik", None]),
        (at(tuesday, 11, 29), "Bezoekers 2026", ["Kleintje Bieb", "Klik&Tik", None]),
        (at(tuesday, 11, 30), "Klik&Tik", []),  # Kleintje Bieb's half hour after is over
        (at(tuesday, 11, 59), "Klik&Tik", []),
        (at(tuesday, 12, 0), "Bezoekers 2026", []),
        (at(tuesday + timedelta(days=1), 10, 0), "Bezoekers 2026", []),  # Wednesday
    ]
    for moment, name, choices in expected:
        assert showing(client, clock, moment) == (name, choices), moment

    # The network is gone: the kiosk has only what it synced, and switches all the same.
    offline = KioskConfig(data_dir=synced_roden.config.data_dir, server_url="http://127.0.0.1:9")
    cut_off = SyncService(offline)
    try:
        with pytest.raises(OSError):
            cut_off.pull_config()
    finally:
        cut_off.close()
    client = create_app(offline, watch_devices=False, clock=clock).test_client()
    for moment, name, choices in expected:
        assert showing(client, clock, moment) == (name, choices), moment


def test_sessions_arrive_with_activity_member_answer_and_location(
    app: Flask, synced_roden: SyncService
) -> None:
    clock = SetClock()
    client = create_app(synced_roden.config, watch_devices=False, clock=clock).test_client()
    clock.now = at(next_tuesday(), 10, 15)
    document = client.get("/api/show").get_json()
    klik = next(c["questionnaire"] for c in document["choices"] if c["activity"] == "Klik&Tik")
    general = next(c["questionnaire"] for c in document["choices"] if c["activity"] is None)
    assert klik["member_question"] is True and general["member_question"] is True

    def visit(body: dict[str, Any], questionnaire: dict[str, Any]) -> str:
        response = client.post("/api/sessions", json={"language": "nl", "consent": False, **body})
        assert response.status_code == 201, response.get_json()
        session = response.get_json()["uuid"]
        scale = next(q for q in questionnaire["questions"] if q["kind"] == "scale")
        answer = {"uuid": str(uuid.uuid4()), "question_id": scale["id"], "kind": "scale"}
        posted = client.post(f"/api/sessions/{session}/answers", json={**answer, "value": "3"})
        assert posted.status_code == 201, posted.get_json()
        assert client.post(f"/api/sessions/{session}/finish").status_code == 200
        return session

    came_for_klik = visit({"questionnaire": klik["id"], "member": "no"}, klik)
    general_visit = visit({"questionnaire": general["id"], "member": "unknown"}, general)
    # Only what is offered now, and only the three member answers.
    bad = client.post("/api/sessions", json={"language": "nl", "consent": False, "questionnaire": "999"})
    assert bad.status_code == 400
    bad = client.post("/api/sessions", json={"language": "nl", "consent": False, "member": "maybe"})
    assert bad.status_code == 400

    assert synced_roden.push() == 2
    with app.app_context():
        stored = {
            s.uuid: (s.activity, s.member, s.location, s.branch.name)
            for s in db.session.scalars(select(Session).where(Session.kiosk_id.is_not(None)))
            if s.uuid in (came_for_klik, general_visit)
        }
    assert stored == {
        came_for_klik: ("Klik&Tik", "no", "Weekmarkt Roden", "Roden"),
        general_visit: (None, "unknown", "Weekmarkt Roden", "Roden"),
    }


def test_the_ingest_api_refuses_a_member_answer_it_does_not_know(
    app: Flask, synced_roden: SyncService, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = synced_roden.outbox
    questionnaire = synced_roden.current_config()["questionnaires"][0]
    scale = next(q for q in questionnaire["questions"] if q["kind"] == "scale")
    session = outbox.start_session(
        str(questionnaire["id"]), questionnaire["version_id"], "nl", False, member="yes"
    )
    outbox.add_answer(session, "5b0c7a3e-6d4f-4e0b-9a51-2f3e4d5c6b7a", str(scale["id"]), "scale", value="2")
    outbox.finish_session(session)
    original: Callable[..., dict[str, Any]] = sync_module.session_body
    monkeypatch.setattr(sync_module, "session_body", lambda s: {**original(s), "member": "perhaps"})
    assert synced_roden.push() == 0
    [refused] = outbox.sessions()
    assert refused.sync_error and "member must be one of" in refused.sync_error


def test_the_synced_configuration_alone_decides_without_a_server(tmp_path: Path) -> None:
    """showdoc on a configuration file as the sync service leaves it; no server runs at all."""
    config = KioskConfig(data_dir=tmp_path / "kiosk", server_url="http://127.0.0.1:9")
    day = date(2026, 10, 7)

    def questionnaire(number: int, activity: str | None, **extra: Any) -> dict[str, Any]:
        question = {"id": number * 10, "kind": "scale", "prompts": {}, "options": []}
        made = {"id": number, "version_id": number, "name": activity or "Bezoekers", "activity": activity}
        return made | {"active_from": None, "active_to": None, "questions": [question], **extra}

    evening = {"weekday": None, "date": day.isoformat(), "starts": "19:00", "ends": "21:00"}
    synced = {
        "time_zone": "Europe/Amsterdam",
        "consent_version": "2026-1",
        "languages": ["nl"],
        "questionnaires": [
            questionnaire(1, None),
            questionnaire(2, "Schrijfavond", schedule=[evening], timed=True, minutes_after=90),
            questionnaire(3, "Digisterker", schedule=[], timed=True),  # times in other branches only
            questionnaire(4, "Kinderboekenweek", active_from=(day + timedelta(days=1)).isoformat()),
        ],
    }
    paths = config.data_dir
    SyncPaths(paths).config.parent.mkdir(parents=True)
    SyncPaths(paths).config.write_text(json.dumps(synced), "utf-8")
    for moment, name in (
        (at(day, 18, 59), "Bezoekers"),
        (at(day, 19, 0), "Schrijfavond"),
        (at(day, 22, 29), "Schrijfavond"),  # 21:00 and 90 minutes after
        (at(day, 22, 30), "Bezoekers"),
        (at(day + timedelta(days=1), 0, 0), "Kinderboekenweek"),  # no times: its whole period
        (at(day + timedelta(days=8), 19, 30), "Kinderboekenweek"),
    ):
        document = showdoc.build(config, moment)
        assert (document["questionnaire"]["name"], document["choices"]) == (name, []), moment
    # A date's activity in its evening and a week-long one on the same evening: the visitor chooses.
    synced["questionnaires"][3]["active_from"] = None
    SyncPaths(paths).config.write_text(json.dumps(synced), "utf-8")
    document = showdoc.build(config, at(day, 20, 0))
    assert [c["activity"] for c in document["choices"]] == ["Schrijfavond", "Kinderboekenweek", None]
    assert document["choices"][-1]["labels"]["nl"]["label"] == "Gewoon een bezoek"
    assert document["choices"][-1]["labels"]["nl"]["audio"] == "/media/audio/came-for-general.nl.m4a"
