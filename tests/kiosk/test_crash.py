"""kill -9 of the kiosk service at the worst moments, then a restart: nothing confirmed is lost,
nothing half-made stays behind.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from kiosk.hardware.pulse import PulseNullSink
from kiosk.outbox import Outbox
from tests.support.kiosk_process import Kiosk, StartKiosk

pytestmark = pytest.mark.audio


def api(kiosk: Kiosk, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, kiosk.url.rstrip("/") + path, json=body, timeout=10)


def start_session(kiosk: Kiosk, consent: bool = True) -> str:
    response = api(kiosk, "POST", "/api/sessions", {"language": "nl", "consent": consent})
    assert response.status_code == 201, response.text
    return response.json()["uuid"]


# A visitor answers each question once (a second answer to a question replaces the first).
QUESTIONS = ("satisfaction", "visit_reason", "welcome", "recommend")


def tap(kiosk: Kiosk, session: str, value: str = "4", question: str = "satisfaction") -> str:
    answer = str(uuid.uuid4())
    response = api(
        kiosk,
        "POST",
        f"/api/sessions/{session}/answers",
        {"uuid": answer, "question_id": question, "kind": "scale", "value": value},
    )
    assert response.status_code == 201, response.text
    return answer


def integrity(kiosk: Kiosk) -> str:
    outbox = Outbox(kiosk.data_dir / "outbox.sqlite3", kiosk.recordings_dir)
    try:
        with outbox.transaction(write=False) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        outbox.close()


def restart(kiosk: Kiosk) -> None:
    kiosk.kill()
    kiosk.start()  # start-up runs the outbox's recovery


def test_killed_while_recording(start_kiosk: StartKiosk, pulse: PulseNullSink) -> None:
    kiosk = start_kiosk(pulse=pulse)
    session = start_session(kiosk)
    kept = tap(kiosk, session)
    # An answer already sent with its recording must survive too.
    first = api(kiosk, "POST", "/api/recordings", {"session": session, "kind": "voice"}).json()["uuid"]
    time.sleep(1.0)
    assert api(kiosk, "POST", f"/api/recordings/{first}/stop").status_code == 200
    given = str(uuid.uuid4())
    assert (
        api(
            kiosk,
            "POST",
            f"/api/sessions/{session}/answers",
            {"uuid": given, "question_id": "story", "kind": "voice", "recording": first},
        ).status_code
        == 201
    )

    response = api(kiosk, "POST", "/api/recordings", {"session": session, "kind": "video"})
    assert response.status_code == 201, response.text
    kiosk.wait_for(lambda: any(p.name.endswith(".part") for p in kiosk.files()), "a recording in progress")
    time.sleep(1.0)
    restart(kiosk)

    assert integrity(kiosk) == "ok"
    [closed] = kiosk.sessions()
    assert closed.uuid == session and closed.finished_at is not None
    assert [a.uuid for a in closed.answers] == [kept, given]
    recording = closed.answers[1].recording
    assert recording is not None
    assert [p.name for p in kiosk.files()] == [recording.file_name]  # the half-made video is gone


def visitors(kiosk: Kiosk, rng: random.Random, confirmed: list[str], stop: threading.Event) -> None:
    """One visitor after another, as fast as the service takes them, until the process dies."""
    try:
        while not stop.is_set():
            session = start_session(kiosk, consent=False)
            for question in QUESTIONS[: rng.randint(1, len(QUESTIONS))]:
                confirmed.append(tap(kiosk, session, str(rng.randint(1, 5)), question))
    except (requests.RequestException, AssertionError):
        return


def test_killed_while_answers_are_written(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk()
    for seed in range(3):
        rng = random.Random(seed)
        confirmed: list[str] = []
        stop = threading.Event()
        writer = threading.Thread(target=visitors, args=(kiosk, random.Random(seed), confirmed, stop))
        writer.start()
        kiosk.wait_for(lambda answers=confirmed: bool(answers), "a first confirmed answer")
        time.sleep(rng.uniform(0.0, 1.2))
        kiosk.kill()
        stop.set()
        writer.join(15)
        kiosk.start()

        assert integrity(kiosk) == "ok"
        stored = {a.uuid for s in kiosk.sessions() for a in s.answers}
        assert confirmed, "the writer never got an answer in"
        assert set(confirmed) <= stored, f"seed {seed}: lost {set(confirmed) - stored}"
        assert all(s.finished_at is not None and s.answers for s in kiosk.sessions())


def test_killed_while_idle(start_kiosk: StartKiosk, tmp_path: Path) -> None:
    kiosk = start_kiosk()
    session = start_session(kiosk, consent=False)
    answers = [tap(kiosk, session, "5"), tap(kiosk, session, "3", "welcome")]
    time.sleep(0.5)  # nobody touches the screen
    restart(kiosk)
    assert integrity(kiosk) == "ok"
    [closed] = kiosk.sessions()
    assert [a.uuid for a in closed.answers] == answers and closed.finished_at is not None
    assert kiosk.files() == []


def test_throwing_away_a_recording_stops_only_that_one(start_kiosk: StartKiosk, pulse: PulseNullSink) -> None:
    """An old page (or a second tab) throwing away an earlier take must not end the running one."""
    kiosk = start_kiosk(pulse=pulse)
    session = start_session(kiosk)
    running = api(kiosk, "POST", "/api/recordings", {"session": session, "kind": "voice"}).json()["uuid"]
    time.sleep(0.5)
    assert api(kiosk, "DELETE", f"/api/recordings/{uuid.uuid4()}").status_code == 200
    time.sleep(0.5)
    assert api(kiosk, "GET", "/api/recording/status").json()["elapsed"] >= 0.9  # still recording

    assert api(kiosk, "DELETE", f"/api/recordings/{running}").status_code == 200
    assert api(kiosk, "GET", "/api/recording/status").json()["elapsed"] is None
    assert api(kiosk, "POST", f"/api/recordings/{running}/stop").status_code == 409
    kiosk.wait_for(lambda: kiosk.files() == [], "the thrown-away take to be gone")
