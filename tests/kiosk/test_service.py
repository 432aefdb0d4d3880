"""The kiosk service's API rules that need no camera or microphone."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from flask.testing import FlaskClient

from kiosk.app import create_app
from kiosk.config import KioskConfig


def client_for(tmp_path: Path, **settings: object) -> FlaskClient:
    config = replace(KioskConfig(data_dir=tmp_path / "data"), **settings)
    # No device checks: they would open sound devices in the test process, besides other tests'.
    return create_app(config, watch_devices=False).test_client()


def test_low_disk_offers_only_taps(tmp_path: Path) -> None:
    client = client_for(tmp_path, free_space_mb=10**9)  # more than any disk has free
    assert client.get("/api/show").get_json()["settings"]["recording_allowed"] is False
    session = client.post("/api/sessions", json={"language": "nl", "consent": True}).get_json()["uuid"]
    response = client.post("/api/recordings", json={"session": session, "kind": "video"})
    assert response.status_code == 507 and "only tap answers" in response.get_json()["error"]
    tapped = client.post(
        f"/api/sessions/{session}/answers",
        json={"uuid": str(uuid.uuid4()), "question_id": "satisfaction", "kind": "scale", "value": "5"},
    )
    assert tapped.status_code == 201


def test_no_recording_without_consent(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    session = client.post("/api/sessions", json={"language": "nl", "consent": False}).get_json()["uuid"]
    response = client.post("/api/recordings", json={"session": session, "kind": "voice"})
    assert response.status_code == 403
    assert list((tmp_path / "data" / "recordings").iterdir()) == []


def test_bad_requests_get_clear_errors(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    assert client.post("/api/sessions", data="not json", content_type="application/json").status_code == 400
    assert client.post("/api/sessions", json={"language": "xx"}).status_code == 400
    session = client.post("/api/sessions", json={"language": "en"}).get_json()["uuid"]
    bad = client.post(
        f"/api/sessions/{session}/answers", json={"uuid": "nope", "kind": "scale", "value": "1"}
    )
    assert bad.status_code == 400 and "UUID" in bad.get_json()["error"]
    unknown = client.post(
        f"/api/sessions/{uuid.uuid4()}/answers",
        json={"uuid": str(uuid.uuid4()), "question_id": "x", "kind": "scale", "value": "1"},
    )
    assert unknown.status_code == 400 and "unknown session" in unknown.get_json()["error"]
    assert client.post("/api/recordings", json={"kind": "smell"}).status_code == 400
    assert client.get("/media/../config.py").status_code == 404
    assert client.get(f"/cache/{'a' * 64}").status_code == 404


def test_an_enrolled_kiosk_waits_for_its_code_before_asking_anything(tmp_path: Path) -> None:
    client = client_for(tmp_path, server_url="http://127.0.0.1:9")
    show = client.get("/api/show").get_json()
    assert show["status"] == "waiting" and show["questionnaire"] is None
    response = client.post("/api/sessions", json={"language": "nl", "consent": False})
    assert response.status_code == 409
    (tmp_path / "data" / "sync").mkdir(parents=True)
    (tmp_path / "data" / "sync" / "enrollment.json").write_text('{"pairing_code": "ABCD-EFGH"}')
    show = client.get("/api/show").get_json()
    assert show["status"] == "pairing" and show["pairing_code"] == "ABCD-EFGH"


def test_pages_allow_nothing_from_outside(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in response.get_data(as_text=True).split("<body", 1)[0]  # no outside scripts or styles
