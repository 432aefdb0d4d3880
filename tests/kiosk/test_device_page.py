"""A visitor at a kiosk whose camera or microphone is missing, or goes missing, in Chromium.

The kiosk runs as its own process. A missing camera is a camera file that is not there; a missing
microphone is a PulseAudio server without any source (a machine without a sound card), or a
null sink unplugged (``pactl unload-module``) while the visitor records.
"""

# The kiosk_page and motion fixtures are the page tests' own, imported: pytest sees the test
# arguments named like them as those fixtures, which ruff takes for redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from kiosk.hardware.pulse import PulseNullSink
from tests.kiosk.test_kiosk_page import (  # noqa: F401 - kiosk_page and motion are fixtures
    CAMERA,
    TONE_HZ,
    at_question,
    button,
    in_phase,
    kiosk_page,
    look,
    loudest_frequency,
    media_facts,
    motion,
    on_screen,
    start_recording,
    start_visit,
    stop_recording_at,
)
from tests.support.kiosk_process import Kiosk, StartKiosk

pytestmark = [pytest.mark.browser, pytest.mark.audio]

RECORDING_CALLS = re.compile(r"/api/(recordings|recording/|preview)")


@pytest.fixture
def soundless() -> Iterator[PulseNullSink]:
    """A sound server without any microphone: what a computer without a sound card offers."""
    with PulseNullSink("soundless") as sink:
        sink.unplug()
        yield sink


def devices_shown(kiosk: Kiosk) -> dict[str, dict[str, object]]:
    return dict(requests.get(f"{kiosk.url}api/show", timeout=10).json()["devices"])


def hardware(kiosk: Kiosk) -> dict[str, object]:
    return dict(json.loads((kiosk.data_dir / "hardware.json").read_text()))


def finished_session(kiosk: Kiosk):  # type: ignore[no-untyped-def]
    kiosk.wait_for(
        lambda: bool(kiosk.sessions()) and all(s.finished_at for s in kiosk.sessions()), "the session"
    )
    (session,) = kiosk.sessions()
    return session


def agree_and_tap(page: Page, kiosk: Kiosk) -> None:
    """From the attract loop: agree to be recorded and answer the two tap questions."""
    start_visit(page, kiosk)
    button(page, "Ja, dat mag").click()
    at_question(page, 1, 4)
    button(page, "Tevreden").click()
    at_question(page, 2, 4)
    button(page, "Boeken lenen").click()


def kept_recording(kiosk: Kiosk, kind: str, missing: list[str]) -> Path:
    """The session of a visitor who agreed, tapped twice and answered the open question with
    ``kind``: it records which devices were missing; returns the recording's file."""
    session = finished_session(kiosk)
    assert session.consent is True and session.missing_devices == missing
    assert [(a.question_id, a.kind) for a in session.answers] == [
        ("satisfaction", "scale"),
        ("visit_reason", "choice"),
        ("improve", kind),
    ]
    recording = session.answers[2].recording
    assert recording is not None
    return kiosk.recordings_dir / recording.file_name


@pytest.mark.parametrize("missing", ["microphone", "camera and microphone"])
def test_without_a_microphone_no_recording_is_offered_and_consent_is_not_asked(
    missing: str,
    start_kiosk: StartKiosk,
    soundless: PulseNullSink,
    kiosk_page: Page,
    tmp_path: Path,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    page = kiosk_page
    camera = CAMERA if missing == "microphone" else tmp_path / "no-camera.mp4"
    kiosk = start_kiosk(pulse=soundless, camera=camera)
    shown = devices_shown(kiosk)
    assert shown["microphone"]["ok"] is False
    assert "microphone" in str(shown["microphone"]["message"])
    assert shown["camera"]["ok"] is (missing == "microphone")
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if RECORDING_CALLS.search(r.url) else None)

    page.goto(kiosk.url)
    on_screen(page, "attract")
    page.locator("#attract-video").click()
    on_screen(page, "language")
    button(page, "Verder in deze taal").click()
    # Video needs the microphone too: nothing can be recorded, so nobody is asked to agree.
    at_question(page, 1, 2)
    in_phase(page, "tap")
    look(page, f"devices-no-{missing.replace(' ', '-')}-1", screenshots, assert_accessible)
    button(page, "Heel tevreden").click()
    at_question(page, 2, 2)
    look(page, f"devices-no-{missing.replace(' ', '-')}-2", screenshots, assert_accessible)
    button(page, "Boeken lenen").click()
    on_screen(page, "thanks")
    look(page, f"devices-no-{missing.replace(' ', '-')}-3", screenshots, assert_accessible)

    session = finished_session(kiosk)
    assert session.consent is False
    expected = ["microphone"] if missing == "microphone" else ["camera", "microphone"]
    assert session.missing_devices == expected  # why no recording was offered
    answers = [(a.question_id, a.value) for a in session.answers]
    assert answers == [("satisfaction", "5"), ("visit_reason", "borrow")]
    assert calls == []
    state = hardware(kiosk)  # what the heartbeat sends
    assert state["microphone_ok"] is False and "microphone" in str(state["microphone_message"])
    assert state["camera_ok"] is (missing == "microphone")


def test_without_a_camera_the_open_question_goes_straight_to_voice(
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    kiosk_page: Page,
    tmp_path: Path,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    page = kiosk_page
    kiosk = start_kiosk(pulse=pulse, camera=tmp_path / "no-camera.mp4")
    shown = devices_shown(kiosk)
    assert shown["camera"]["ok"] is False and "not found" in str(shown["camera"]["message"])
    assert shown["microphone"] == {"ok": True, "message": ""}
    previews: list[str] = []
    page.on("request", lambda r: previews.append(r.url) if "/api/preview" in r.url else None)

    agree_and_tap(page, kiosk)  # the voice can be recorded: consent is asked

    # The open question offers only what works: no choice between video and voice.
    at_question(page, 3, 4)
    in_phase(page, "ready")
    expect(page.locator("#question")).to_have_attribute("data-kind", "voice")
    expect(button(page, "Antwoord met video")).to_have_count(0)
    expect(page.locator("#voice-meter")).to_be_visible()
    expect(button(page, "Terug naar de vorige vraag")).to_be_visible()  # not "choose video or voice"
    look(page, "devices-no-camera-open", screenshots, assert_accessible)
    tone = pulse.play_tone(TONE_HZ, 4)
    try:
        started = start_recording(page)
        stop_recording_at(page, started + 1.5)
    finally:
        tone.terminate()
        tone.wait(5)
    button(page, "Versturen").click()
    at_question(page, 4, 4)
    in_phase(page, "ready")
    button(page, "Deze vraag overslaan").click()
    on_screen(page, "thanks")

    voice = kept_recording(kiosk, "voice", missing=["camera"])
    assert loudest_frequency(voice) == pytest.approx(TONE_HZ, abs=10)
    assert previews == []
    assert hardware(kiosk)["camera_ok"] is False and hardware(kiosk)["microphone_ok"] is True


def test_a_microphone_unplugged_during_a_video_answer_keeps_the_take_and_shows_the_microphone(
    start_kiosk: StartKiosk,
    kiosk_page: Page,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    page = kiosk_page
    with PulseNullSink("unplug-me") as sink:
        kiosk = start_kiosk(pulse=sink)
        assert devices_shown(kiosk)["microphone"]["ok"] is True
        agree_and_tap(page, kiosk)
        at_question(page, 3, 4)
        button(page, "Antwoord met video").click()
        in_phase(page, "ready")
        page.wait_for_function("() => document.querySelector('#preview').naturalWidth >= 640", timeout=15_000)
        tone = sink.play_tone(TONE_HZ, 10)
        try:
            started = start_recording(page)
            time.sleep(max(0.0, started + 2.0 - time.monotonic()))
            sink.unplug()  # the microphone is pulled out while the visitor talks
            unplugged = time.monotonic() - started
            # The page is told, stops by itself and shows what was recorded until then.
            in_phase(page, "review")
        finally:
            tone.terminate()
            tone.wait(5)
        failed = page.locator("#device-failed")
        expect(failed).to_be_visible()
        pictogram = page.locator("#device-failed-pictogram")
        expect(pictogram).to_have_attribute("src", re.compile(r"microphone\.svg$"))
        expect(failed).to_have_attribute("aria-label", re.compile("microfoon", re.IGNORECASE))
        expect(button(page, "Opnieuw opnemen")).to_be_hidden()  # another take would need the microphone
        page.wait_for_function(
            """() => { const v = document.querySelector('#review-video');
                       return v.readyState >= 2 && v.duration > 1; }"""
        )
        look(page, "devices-microphone-unplugged-review", screenshots, assert_accessible)
        button(page, "Opname afspelen").click()
        page.wait_for_function("() => document.querySelector('#review-video').currentTime > 0.5")
        button(page, "Versturen").click()
        # The voice question needs the microphone and has no tap options: it is not asked.
        on_screen(page, "thanks")

        video = kept_recording(kiosk, "video", missing=["microphone"])
        facts = media_facts(video)
        assert facts["codecs"] == ["aac", "h264"]
        assert 1.5 < float(str(facts["duration"])) <= unplugged + 0.5
        assert hardware(kiosk)["microphone_ok"] is False
