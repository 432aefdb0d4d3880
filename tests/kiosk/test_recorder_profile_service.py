"""The kiosk service measures its recorder profile at start, records answers with it, and keeps it
for the next start."""

from __future__ import annotations

import json
import time

import av
import pytest
import requests

from kiosk.hardware.pulse import PulseNullSink
from tests.support.kiosk_process import Kiosk, StartKiosk

pytestmark = pytest.mark.audio


def api(kiosk: Kiosk, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, kiosk.url.rstrip("/") + path, json=body, timeout=10)


def test_the_kiosk_records_with_the_profile_it_measured_and_keeps_it(
    start_kiosk: StartKiosk, pulse: PulseNullSink
) -> None:
    kiosk = start_kiosk(pulse=pulse, recorder_profile="auto")
    kept = kiosk.data_dir / "recorder-profile.json"
    profile = json.loads(kept.read_text())
    assert profile["how"] == "measured" and profile["speed"] > 0
    assert f"Recorder profile: {profile['summary']}" in kiosk.log.read_text()

    session = api(kiosk, "POST", "/api/sessions", {"language": "nl", "consent": True}).json()["uuid"]
    response = api(kiosk, "POST", "/api/recordings", {"session": session, "kind": "video"})
    assert response.status_code == 201, response.text
    time.sleep(1.5)
    assert api(kiosk, "POST", f"/api/recordings/{response.json()['uuid']}/stop").status_code == 200
    [recording] = kiosk.files()
    with av.open(str(recording)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (profile["width"], profile["height"])

    kiosk.kill()
    kiosk.start()  # the same machine: the profile is not measured again
    assert json.loads(kept.read_text()) == profile
    cached = profile["summary"].replace(", measured", ", cached")
    log = kiosk.log.read_text()
    assert log.count("Recorder profile: ") == 2 and f"Recorder profile: {cached}" in log
