"""The kiosk API from the kiosk's side: enrollment, configuration, media, sessions, heartbeat."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from admin.extensions import db
from admin.kiosk_api import views as kiosk_views
from admin.models import Answer, AuditEvent, Branch, Kiosk, Questionnaire, Role, Session
from tests.admin.helpers import csrf_token, login

API = "/api/kiosk/v1"


@dataclass
class EnrolledKiosk:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def seeded(seed_demo: Callable[[int], None]) -> None:
    seed_demo(2)


def enroll(app: Flask, client: FlaskClient, branch: str = "Roden") -> EnrolledKiosk:
    created = client.post(f"{API}/enrollments", json={"name": "hal"}).get_json()
    secret = {"X-Enrollment-Secret": created["secret"]}
    assert client.get(f"{API}/enrollments/{created['id']}", headers=secret).status_code == 202
    result = app.test_cli_runner().invoke(
        args=["kiosks", "approve", created["pairing_code"].lower(), "--branch", branch]
    )
    assert result.exit_code == 0, result.output
    answer = client.get(f"{API}/enrollments/{created['id']}", headers=secret)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["branch"]["name"] == branch
    return EnrolledKiosk(body["kiosk_id"], body["token"])


def visitors_questionnaire(client: FlaskClient, kiosk: EnrolledKiosk) -> dict[str, Any]:
    config = client.get(f"{API}/config", headers=kiosk.headers).get_json()
    return next(q for q in config["questionnaires"] if q["activity"] is None)


def session_body(questionnaire: dict[str, Any], consent: bool = False, **answer: Any) -> dict[str, Any]:
    scale = next(q for q in questionnaire["questions"] if q["kind"] == "scale")
    now = datetime.now(UTC)
    return {
        "questionnaire_version_id": questionnaire["version_id"],
        "language": "nl",
        "consent": consent,
        "consent_version": "2026-1" if consent else None,
        "started_at": (now - timedelta(minutes=2)).isoformat(),
        "finished_at": now.isoformat(),
        "answers": [
            {
                "uuid": str(uuid.uuid4()),
                "question_id": scale["id"],
                "kind": "scale",
                "value": scale["options"][-1]["value"],
                "answered_at": now.isoformat(),
                **answer,
            }
        ],
    }


def test_enrollment_hands_the_token_out_once(app: Flask, client: FlaskClient, seeded: None) -> None:
    created = client.post(f"{API}/enrollments", json={}).get_json()
    assert len(created["pairing_code"]) == 9 and created["pairing_code"][4] == "-"
    wrong = {"X-Enrollment-Secret": "guess"}
    assert client.get(f"{API}/enrollments/{created['id']}", headers=wrong).status_code == 404
    right = {"X-Enrollment-Secret": created["secret"]}
    runner = app.test_cli_runner()
    assert runner.invoke(args=["kiosks", "approve", "AAAA-AAAA", "--branch", "Roden"]).exit_code != 0
    assert (
        runner.invoke(args=["kiosks", "approve", created["pairing_code"], "--branch", "Atlantis"]).exit_code
        != 0
    )
    assert (
        runner.invoke(args=["kiosks", "approve", created["pairing_code"], "--branch", "Norg"]).exit_code == 0
    )
    first = client.get(f"{API}/enrollments/{created['id']}", headers=right)
    assert first.status_code == 200 and first.get_json()["token"]
    assert client.get(f"{API}/enrollments/{created['id']}", headers=right).status_code == 410
    # The same code cannot enroll a second kiosk.
    assert (
        runner.invoke(args=["kiosks", "approve", created["pairing_code"], "--branch", "Norg"]).exit_code != 0
    )
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash.is_not(None)))
        assert kiosk is not None and first.get_json()["token"] not in (kiosk.token_hash or "")


def test_config_is_the_branch_s_questionnaires_with_an_etag(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    kiosk = enroll(app, client, "Norg")
    response = client.get(f"{API}/config", headers=kiosk.headers)
    assert response.status_code == 200
    config = response.get_json()
    assert config["branch"]["name"] == "Norg"
    assert {q["name"] for q in config["questionnaires"]} == {"Bezoekers 2026", "Kleintje Bieb"}
    assert config["languages"] == ["nl", "en"]
    shas = {m["sha256"] for m in config["media"]}
    for questionnaire in config["questionnaires"]:
        for question in questionnaire["questions"]:
            assert question["prompts"]["nl"]["video"] in shas
            assert all(o["pictogram"] in shas for o in question["options"])
    etag = response.headers["ETag"]
    assert client.get(f"{API}/config", headers={**kiosk.headers, "If-None-Match": etag}).status_code == 304
    with app.app_context():
        plan = db.session.scalar(select(Questionnaire).where(Questionnaire.name == "Kleintje Bieb"))
        assert plan is not None
        plan.archived = True
        db.session.commit()
    changed = client.get(f"{API}/config", headers={**kiosk.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_media_serves_question_files_with_range_but_never_recordings(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    kiosk = enroll(app, client)
    config = client.get(f"{API}/config", headers=kiosk.headers).get_json()
    video = next(m for m in config["media"] if m["content_type"] == "video/mp4")
    with client.get(video["url"], headers={**kiosk.headers, "Range": "bytes=10-19"}) as part:
        assert part.status_code == 206 and len(part.data) == 10
    with client.get(video["url"], headers=kiosk.headers) as whole:
        assert len(whole.data) == video["size"]
    with app.app_context():
        recording = db.session.scalar(select(Answer.media_sha256).where(Answer.media_sha256.is_not(None)))
    assert recording is not None
    assert client.get(f"{API}/media/{recording}", headers=kiosk.headers).status_code == 404
    assert client.get(f"{API}/media/{'0' * 64}", headers=kiosk.headers).status_code == 404
    assert client.get(video["url"]).status_code == 401


def test_a_session_is_stored_exactly_once(app: Flask, client: FlaskClient, seeded: None) -> None:
    kiosk = enroll(app, client)
    body = session_body(visitors_questionnaire(client, kiosk))
    session_uuid = str(uuid.uuid4())
    url = f"{API}/sessions/{session_uuid}"
    assert client.put(url, json=body, headers=kiosk.headers).status_code == 201
    assert client.put(url, json=body, headers=kiosk.headers).status_code == 200
    other = {**body, "language": "en"}
    assert client.put(url, json=other, headers=kiosk.headers).status_code == 409
    with app.app_context():
        session = db.session.get(Session, session_uuid)
        assert session is not None and len(session.answers) == 1 and session.language == "nl"
        assert session.branch.name == "Roden" and session.kiosk_id == kiosk.id
    # The devices that did not work for the visitor are kept with the session, in one order.
    without = {
        **session_body(visitors_questionnaire(client, kiosk)),
        "missing_devices": ["microphone", "camera"],
    }
    missing_uuid = str(uuid.uuid4())
    assert (
        client.put(f"{API}/sessions/{missing_uuid}", json=without, headers=kiosk.headers).status_code == 201
    )
    with app.app_context():
        assert db.session.get_one(Session, missing_uuid).missing_devices == "camera,microphone"
        assert db.session.get_one(Session, session_uuid).missing_devices is None
    # The same answer uuid in another session is a conflict, not a duplicate.
    again = client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers)
    assert again.status_code == 409 and "answer uuid already used" in again.get_json()["error"]


def test_sessions_beyond_the_slots_wait_their_turn_or_come_back_later(
    app: Flask, client: FlaskClient, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    kiosk = enroll(app, client)
    body = session_body(visitors_questionnaire(client, kiosk))
    with app.app_context():
        slots = kiosk_views.session_slots()
    for _ in range(kiosk_views.SESSIONS_AT_ONCE):  # other sessions being stored right now
        assert slots.acquire(timeout=1)
    monkeypatch.setattr(kiosk_views, "SESSION_SLOT_WAIT_SECONDS", 0.2)
    busy_uuid = str(uuid.uuid4())
    busy = client.put(f"{API}/sessions/{busy_uuid}", json=body, headers=kiosk.headers)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "busy" in busy.get_json()["error"]
    with app.app_context():
        assert db.session.get(Session, busy_uuid) is None

    # One that waits gets its turn as soon as a slot frees up.
    monkeypatch.setattr(kiosk_views, "SESSION_SLOT_WAIT_SECONDS", 10.0)
    waiting: list[int] = []
    sender = threading.Thread(
        target=lambda: waiting.append(
            app.test_client().put(f"{API}/sessions/{busy_uuid}", json=body, headers=kiosk.headers).status_code
        )
    )
    sender.start()
    time.sleep(0.3)
    assert waiting == []  # still waiting for a slot
    slots.release()
    sender.join(10)
    assert waiting == [201]
    for _ in range(kiosk_views.SESSIONS_AT_ONCE - 1):
        slots.release()
    with app.app_context():
        assert db.session.get(Session, busy_uuid) is not None


def test_a_recording_not_uploaded_yet_is_named_and_nothing_is_stored(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    kiosk = enroll(app, client)
    questionnaire = visitors_questionnaire(client, kiosk)
    open_question = next(q for q in questionnaire["questions"] if q["kind"] == "open")
    body = session_body(questionnaire, consent=True)
    not_yet = "ab" * 32
    answer = {
        "uuid": str(uuid.uuid4()),
        "question_id": open_question["id"],
        "kind": "video",
        "value": None,
        "media_sha256": not_yet,
        "answered_at": datetime.now(UTC).isoformat(),
    }
    body["answers"].append(answer)
    response = client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers)
    assert response.status_code == 409 and response.get_json()["missing"] == [not_yet]
    with app.app_context():
        # Media the server has, but this kiosk never uploaded: never its answer (see
        # test_security_media_identity.py).
        someone_elses = db.session.scalar(select(Answer.media_sha256).where(Answer.media_sha256.is_not(None)))
    answer["media_sha256"] = someone_elses
    response = client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers)
    assert response.status_code == 422, response.get_json()
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Session).where(Session.kiosk_id == kiosk.id))
            == 0
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consent": "yes"}, "consent"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "2026-11-01T10:00:00"}, "zone"),
        ({"started_at": "0001-01-01T00:00:00+00:01"}, "started_at"),  # before year 1 in UTC (the fuzzer's)
        ({"answers": []}, "non-empty"),
        ({"questionnaire_version_id": 99999}, "questionnaire version"),
        ({"answers": [{"uuid": "x"}]}, "UUID"),
        ({"missing_devices": ["printer"]}, "missing_devices"),
        ({"missing_devices": ["camera", "camera"]}, "missing_devices"),
        ({"missing_devices": "microphone"}, "missing_devices"),
    ],
)
def test_a_malformed_session_gets_422_and_stores_nothing(
    app: Flask, client: FlaskClient, seeded: None, change: dict[str, Any], message: str
) -> None:
    kiosk = enroll(app, client)
    body = {**session_body(visitors_questionnaire(client, kiosk)), **change}
    response = client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers)
    assert response.status_code == 422 and message in response.get_json()["error"]
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Session).where(Session.kiosk_id == kiosk.id))
            == 0
        )


def test_wrong_values_and_recordings_without_consent_are_refused(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    kiosk = enroll(app, client)
    questionnaire = visitors_questionnaire(client, kiosk)
    # A stored session makes the server keep the (now frozen) version in memory: still checked.
    good = session_body(questionnaire)
    assert client.put(f"{API}/sessions/{uuid.uuid4()}", json=good, headers=kiosk.headers).status_code == 201
    bad_value = session_body(questionnaire, value="11")
    assert (
        client.put(f"{API}/sessions/{uuid.uuid4()}", json=bad_value, headers=kiosk.headers).status_code == 422
    )
    open_question = next(q for q in questionnaire["questions"] if q["kind"] == "open")
    no_consent = session_body(questionnaire, consent=False)
    no_consent["answers"][0].update(
        question_id=open_question["id"], kind="voice", value=None, media_sha256="a" * 64
    )
    response = client.put(f"{API}/sessions/{uuid.uuid4()}", json=no_consent, headers=kiosk.headers)
    assert response.status_code == 422 and "consent" in response.get_json()["error"]


def test_unknown_and_revoked_tokens_get_401_and_store_nothing(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    kiosk = enroll(app, client)
    body = session_body(visitors_questionnaire(client, kiosk))
    stranger = {"Authorization": "Bearer not-a-token"}
    for method, path, payload in (
        ("put", f"/sessions/{uuid.uuid4()}", body),
        ("post", "/heartbeat", {}),
        ("get", "/config", None),
    ):
        response = getattr(client, method)(f"{API}{path}", json=payload, headers=stranger)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")

    make_user("boss@bieb.example", Role.ADMIN)
    login(client, "boss@bieb.example")
    client.post(f"/kiosks/{kiosk.id}/revoke", data={"csrf_token": csrf_token(client, "/kiosks")})
    assert client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers).status_code == 401
    assert client.post(f"{API}/heartbeat", json={"outbox_depth": 3}, headers=kiosk.headers).status_code == 401
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Session).where(Session.kiosk_id == kiosk.id))
            == 0
        )
        assert db.session.get(Kiosk, kiosk.id).last_heartbeat_at is None
        assert "kiosk.revoke" in db.session.scalars(select(AuditEvent.action)).all()


def test_heartbeat_shows_on_the_kiosks_page_and_silence_is_marked(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    kiosk = enroll(app, client)
    beat = {
        "app_version": "1.2.3",
        "uptime_seconds": 3600,
        "outbox_depth": 4,
        "oldest_unsent_at": "2026-11-22T09:00:00+00:00",
        "disk_free_bytes": 12_000_000_000,
        "camera_ok": True,
        "microphone_ok": False,
        "microphone_message": "cannot open microphone 'default': Input/output error",
        "bogus": "ignored",
        "outbox_depth_typo": 1,
    }
    response = client.post(f"{API}/heartbeat", json=beat, headers=kiosk.headers)
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])
    login(client, "roden@bieb.example")
    page = client.get("/kiosks").get_data(as_text=True)
    assert "1.2.3" in page and "12.0 GB" in page and "2026-11-22T09:00:00+00:00" in page
    assert page.count("Microfoon ontbreekt") == 1 and "Camera ontbreekt" not in page  # Dutch page
    assert "cannot open microphone &#39;default&#39;: Input/output error" in page
    # The two demo kiosks: one heard from minutes ago, one silent for three days.
    assert page.count("stil") >= 1
    with app.app_context():
        status = db.session.get(Kiosk, kiosk.id).status
        assert "bogus" not in status and status["outbox_depth"] == 4


def test_moving_a_kiosk_keeps_old_sessions_in_their_branch_and_location(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    kiosk = enroll(app, client, "Roden")
    questionnaire = visitors_questionnaire(client, kiosk)
    before = session_body(questionnaire)  # made in Roden, sent after the move
    make_user("boss@bieb.example", Role.ADMIN)
    login(client, "boss@bieb.example")
    with app.app_context():
        peize = db.session.scalar(select(Branch.id).where(Branch.name == "Peize"))
    # Out to the market, under the branch of Peize.
    client.post(
        f"/kiosks/{kiosk.id}/move",
        data={"branch": peize, "location": " Weekmarkt Peize ", "csrf_token": csrf_token(client, "/kiosks")},
    )
    assert "Weekmarkt Peize" in client.get("/kiosks").get_data(as_text=True)
    first = str(uuid.uuid4())
    assert client.put(f"{API}/sessions/{first}", json=before, headers=kiosk.headers).status_code == 201
    after = session_body(questionnaire)
    after["started_at"] = datetime.now(UTC).isoformat()
    second = str(uuid.uuid4())
    assert client.put(f"{API}/sessions/{second}", json=after, headers=kiosk.headers).status_code == 201
    with app.app_context():
        made_before, made_after = db.session.get(Session, first), db.session.get(Session, second)
        assert (made_before.branch.name, made_before.location) == ("Roden", None)
        assert (made_after.branch.name, made_after.location) == ("Peize", "Weekmarkt Peize")


def test_staff_cannot_enroll_or_revoke(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    created = client.post(f"{API}/enrollments", json={}).get_json()
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])
    login(client, "roden@bieb.example")
    token = csrf_token(client, "/kiosks")
    with app.app_context():
        roden = db.session.scalar(select(Branch.id).where(Branch.name == "Roden"))
    response = client.post(
        "/kiosks/approve", data={"code": created["pairing_code"], "branch": roden, "csrf_token": token}
    )
    assert response.status_code == 404
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Kiosk).where(Kiosk.token_hash.is_not(None)))
            == 0
        )


def test_the_openapi_document_describes_every_route(app: Flask, client: FlaskClient) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        path = rule.rule.removeprefix(API).replace("<", "{").replace(">", "}")
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")  # Flask answers HEAD for every GET
        for method in methods:
            assert (path, method) in documented, (path, method)


def test_nul_and_control_characters_are_refused_not_a_server_error(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    # PostgreSQL cannot store NUL: every text a kiosk sends is checked before it reaches the database.
    created = client.post(f"{API}/enrollments", json={"name": "hal\x00 1\n"})
    assert created.status_code == 201
    assert client.get(f"{API}/enrollments/\x00abc", headers={"X-Enrollment-Secret": "x"}).status_code == 404
    kiosk = enroll(app, client)
    body = session_body(visitors_questionnaire(client, kiosk))
    body["language"] = "n\x00l"
    response = client.put(f"{API}/sessions/{uuid.uuid4()}", json=body, headers=kiosk.headers)
    assert response.status_code == 422 and "printable" in response.get_json()["error"]
    beat = client.post(f"{API}/heartbeat", json={"app_version": "1.\x002"}, headers=kiosk.headers)
    assert beat.status_code == 200
    with app.app_context():
        assert db.session.get(Kiosk, kiosk.id).status["app_version"] == "1.2"
