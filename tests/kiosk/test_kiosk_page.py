"""A visitor at the kiosk, in Chromium, against the real kiosk service.

The kiosk runs as its own process (``python -m kiosk run``) with the sample video as its camera
and, for the tests that record sound, a private PulseAudio null sink as its microphone: a tone
played into the sink is what the voice answer hears. Each test walks the visitor's page the way a
person would (by the buttons' accessible names, which are the page's Dutch words) and then opens
the outbox to check what was kept. Every screen is audited with axe-core and photographed at
1920×1080 (set ``VERTELPAAL_SCREENSHOTS`` to keep the pictures).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, Response, expect

from kiosk.hardware.pulse import PulseNullSink
from tests.support.kiosk_process import Kiosk, StartKiosk

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "media" / "sample" / "camera.mp4"
TONE_HZ = 440.0
RECORD_SECONDS = 2.0
MIN_TARGET_PX = 96
# Notes every sound and video the page starts in window.played, to hear what the visitor hears.
NOTE_WHAT_PLAYS = """window.played = [];
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      window.played.push(new URL(this.src || this.currentSrc, location.href).pathname);
      return play.call(this);
    };"""


@pytest.fixture
def motion(request: pytest.FixtureRequest) -> str:
    """Most tests ask for reduced motion, so that Playwright can tap buttons that pulse."""
    return getattr(request, "param", "reduce")


@pytest.fixture
def kiosk_page(browser: Browser, motion: str) -> Iterator[Page]:
    """The kiosk's screen: 1920×1080, Dutch."""
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="nl-NL", reduced_motion=motion
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"


# --- walking the page ------------------------------------------------------------------------


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def on_screen(page: Page, name: str) -> None:
    expect(page.locator("body")).to_have_attribute("data-screen", name)


def in_phase(page: Page, phase: str) -> None:
    expect(page.locator("#question")).to_have_attribute("data-phase", phase)


def at_question(page: Page, number: int, total: int) -> None:
    on_screen(page, "question")
    expect(page.locator("#question-title")).to_contain_text(f"Vraag {number} van {total}")


def look(page: Page, name: str, screenshots: Path, assert_accessible: Callable[[Page], None]) -> None:
    """Photograph the screen, audit it with axe-core, and measure every visible control."""
    page.wait_for_function(  # screens fade in; pulsing (endless) animations do not end, and the
        # countdown ring's transition starts again at every tick
        """() => document.getAnimations().every(
                (a) => a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity
                       || a.transitionProperty === 'stroke-dashoffset')"""
    )
    page.screenshot(path=screenshots / f"kiosk-{name}.png")
    assert_accessible(page)
    small = page.evaluate(
        """(minimum) => [...document.querySelectorAll('button')]
            .filter((b) => b.checkVisibility() && !b.closest('[inert]'))
            .map((b) => { const r = b.getBoundingClientRect();
                          return [b.getAttribute('aria-label'), Math.round(r.width), Math.round(r.height)]; })
            .filter(([, w, h]) => w < minimum || h < minimum)""",
        MIN_TARGET_PX,
    )
    assert not small, f"{name}: controls smaller than {MIN_TARGET_PX} px: {small}"


def start_visit(page: Page, kiosk: Kiosk) -> None:
    page.goto(kiosk.url)
    on_screen(page, "attract")
    page.locator("#attract-video").click()  # any touch starts
    on_screen(page, "language")
    button(page, "Verder in deze taal").click()
    on_screen(page, "consent")


def touch(page: Page, locator: Locator) -> None:
    """A finger on the middle of a control; for controls that pulse (never "stable" to Playwright)."""
    box = locator.bounding_box()
    assert box is not None, locator
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def start_recording(page: Page, pulsing: bool = False) -> float:
    """Touch record; returns the moment the service said the recording started."""
    with page.expect_response(
        lambda r: r.url.endswith("/api/recordings") and r.request.method == "POST", timeout=10_000
    ) as response:
        record = button(page, "Opname starten")
        if pulsing:
            touch(page, record)
        else:
            record.click()
        in_phase(page, "countdown")
    assert response.value.status == 201, response.value.text()
    started = browser_moment(response.value, answered=True)  # the service had started by then
    in_phase(page, "recording")
    return started


def stop_recording_at(page: Page, moment: float) -> float:
    """Touch stop at ``moment``; returns when the stop request left the page (on a busy machine
    that can be well after the touch was asked for, and the recording runs until then)."""
    time.sleep(max(0.0, moment - time.monotonic()))
    with page.expect_response(
        lambda r: r.url.endswith("/stop") and r.request.method == "POST", timeout=10_000
    ) as response:
        button(page, "Opname stoppen").click()
    in_phase(page, "review")
    return browser_moment(response.value, answered=False)


def browser_moment(response: Response, answered: bool) -> float:
    """When the browser sent a request (or, ``answered``, had its whole answer), on this process's
    monotonic clock."""
    response.finished()
    timing = response.request.timing
    after = max(timing["responseEnd"], timing["responseStart"], 0.0) if answered else 0.0
    wall = (timing["startTime"] + after) / 1000
    return time.monotonic() - (time.time() - wall)


# --- checking the files ----------------------------------------------------------------------


def media_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        return {
            "codecs": sorted(stream.codec_context.name for stream in container.streams),
            "duration": container.duration / av.time_base if container.duration else 0.0,
        }


def loudest_frequency(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        chunks = [frame.to_ndarray().astype(np.float64).mean(axis=0) for frame in container.decode(stream)]
    samples = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[: int(50 * len(samples) / rate)] = 0  # ignore DC and rumble
    return float(np.argmax(spectrum) * rate / len(samples))


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.audio
def test_a_visitor_answers_by_tap_video_and_voice(
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    kiosk_page: Page,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    page = kiosk_page
    kiosk = start_kiosk(pulse=pulse)
    page.add_init_script(NOTE_WHAT_PLAYS)
    page.goto(kiosk.url)

    # 1. The attract loop: a muted video with subtitles and a pulsing touch pictogram.
    on_screen(page, "attract")
    expect(page.locator("#attract-video")).to_have_js_property("muted", True)
    page.wait_for_function("() => document.querySelector('#attract-video').currentTime > 0.3")
    expect(button(page, "Raak aan om te beginnen")).to_have_css("animation-name", "none")  # reduced motion
    look(page, "1-attract", screenshots, assert_accessible)
    button(page, "Raak aan om te beginnen").click()

    # 2. Language: a touch on a flag says its name and chooses it; a second touch goes on.
    on_screen(page, "language")
    expect(button(page, "Nederlands")).to_have_attribute("aria-pressed", "true")
    look(page, "2-language", screenshots, assert_accessible)
    button(page, "English").click()
    expect(button(page, "English")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(button(page, "Continue in this language")).to_be_visible()
    button(page, "Nederlands").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    button(page, "Nederlands").click()

    # 3. Consent: the video explains, with sound and subtitles shown.
    on_screen(page, "consent")
    page.wait_for_function(
        """() => { const v = document.querySelector('#consent-video');
                   return !v.paused && !v.muted && v.textTracks.length === 1
                          && v.textTracks[0].mode === 'hidden' && v.textTracks[0].kind === 'captions'; }"""
    )
    # The captions are written in their own band under the picture, not over it.
    expect(page.locator("#consent-captions")).to_contain_text("Mogen wij u filmen")
    look(page, "3-consent", screenshots, assert_accessible)
    button(page, "Ja, dat mag").click()

    # 4a. A scale: five faces.
    at_question(page, 1, 4)
    in_phase(page, "tap")
    expect(page.locator("#options .option")).to_have_count(5)
    page.wait_for_function(
        """() => { const v = document.querySelector('#prompt-video');
                   return !v.paused && !v.muted && v.textTracks[0].mode === 'hidden'; }"""
    )
    look(page, "4-scale", screenshots, assert_accessible)
    page.evaluate("window.played = []")
    button(page, "Heel tevreden").click()
    # The touch clicks, the chosen face says its name, then the next question is asked.
    page.wait_for_function("() => window.played.includes('/media/questions/visit_reason.nl.mp4')")
    assert page.evaluate("window.played")[:3] == [
        "/media/sounds/tap.m4a",
        "/media/audio/satisfaction-5.nl.m4a",
        "/media/questions/visit_reason.nl.mp4",
    ]

    # 4b. A choice: pictogram cards.
    at_question(page, 2, 4)
    expect(page.locator("#options .option")).to_have_count(5)
    look(page, "5-choice", screenshots, assert_accessible)
    button(page, "Boeken lenen").click()

    # 4c. An open question, answered with video: a mirrored live preview, countdown, ring, stop.
    at_question(page, 3, 4)
    in_phase(page, "choose")
    look(page, "6-open-choose", screenshots, assert_accessible)
    button(page, "Antwoord met video").click()
    in_phase(page, "ready")
    preview = page.locator("#preview")
    page.wait_for_function(
        "() => { const i = document.querySelector('#preview'); return i.naturalWidth >= 640; }",
        timeout=15_000,
    )
    assert preview.evaluate("(i) => getComputedStyle(i).transform") == "matrix(-1, 0, 0, 1, 0, 0)"
    look(page, "7-video-ready", screenshots, assert_accessible)
    page.evaluate("window.played = []")
    video_started = start_recording(page)
    # Three beeps count down, then a rising sound says "now".
    assert page.evaluate("window.played.filter((p) => p.startsWith('/media/sounds/'))") == [
        "/media/sounds/tap.m4a",
        "/media/sounds/beep.m4a",
        "/media/sounds/beep.m4a",
        "/media/sounds/beep.m4a",
        "/media/sounds/start.m4a",
    ]
    page.wait_for_function(
        "() => parseFloat(getComputedStyle(document.querySelector('#ring-left')).strokeDashoffset) > 1"
    )
    look(page, "8-video-recording", screenshots, assert_accessible)
    video_stopped = stop_recording_at(page, video_started + RECORD_SECONDS)
    page.wait_for_function(
        "() => { const v = document.querySelector('#review-video');"
        " return v.readyState >= 2 && v.duration > 1; }"
    )
    # Played back mirrored like the preview, so that the visitor sees the same picture again.
    expect(page.locator("#review-video")).to_have_css("transform", "matrix(-1, 0, 0, 1, 0, 0)")
    look(page, "9-video-review", screenshots, assert_accessible)
    button(page, "Versturen").click()

    # 4d. A voice question: a level meter instead of the camera; a tone plays into the microphone.
    at_question(page, 4, 4)
    in_phase(page, "ready")
    expect(page.locator("#voice-meter")).to_be_visible()
    expect(page.locator("#preview")).to_be_hidden()
    look(page, "10-voice-ready", screenshots, assert_accessible)
    tone = pulse.play_tone(TONE_HZ, RECORD_SECONDS + 3)
    try:
        voice_started = start_recording(page)
        expect(page.locator("#bars span.lit").first).to_be_visible(timeout=5_000)
        look(page, "11-voice-recording", screenshots, assert_accessible)
        voice_stopped = stop_recording_at(page, voice_started + RECORD_SECONDS)
    finally:
        tone.terminate()
        tone.wait(5)
    look(page, "12-voice-review", screenshots, assert_accessible)
    button(page, "Versturen").click()

    # 5. Thanks, then the attract loop again.
    on_screen(page, "thanks")
    look(page, "13-thanks", screenshots, assert_accessible)
    expect(page.locator("body")).to_have_attribute("data-screen", "attract", timeout=25_000)

    # What the outbox kept: one finished session with the four answers.
    kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
    (session,) = kiosk.sessions()
    assert session.consent is True
    assert session.language == "nl"
    answers = [(a.question_id, a.kind, a.value) for a in session.answers]
    assert answers == [
        ("satisfaction", "scale", "5"),
        ("visit_reason", "choice", "borrow"),
        ("improve", "video", None),
        ("story", "voice", None),
    ]
    video_answer, voice_answer = session.answers[2].recording, session.answers[3].recording
    assert video_answer is not None and voice_answer is not None
    assert {p.name for p in kiosk.files()} == {video_answer.file_name, voice_answer.file_name}

    video = media_facts(kiosk.recordings_dir / video_answer.file_name)
    assert video["codecs"] == ["aac", "h264"]
    assert video["duration"] == pytest.approx(video_stopped - video_started, abs=0.5)

    voice = media_facts(kiosk.recordings_dir / voice_answer.file_name)
    assert voice["codecs"] == ["aac"]
    assert voice["duration"] == pytest.approx(voice_stopped - voice_started, abs=0.5)
    assert loudest_frequency(kiosk.recordings_dir / voice_answer.file_name) == pytest.approx(TONE_HZ, abs=10)


@pytest.mark.audio
def test_record_again_and_throw_away_leave_nothing_behind(
    start_kiosk: StartKiosk, pulse: PulseNullSink, kiosk_page: Page
) -> None:
    page = kiosk_page
    kiosk = start_kiosk(pulse=pulse)
    start_visit(page, kiosk)
    button(page, "Ja, dat mag").click()
    at_question(page, 1, 4)
    button(page, "Neutraal").click()
    at_question(page, 2, 4)
    button(page, "Een activiteit").click()

    at_question(page, 3, 4)
    button(page, "Antwoord met video").click()
    in_phase(page, "ready")
    button(page, "Terug: kies video of stem").click()  # changed their mind: no answer is taken back
    in_phase(page, "choose")
    button(page, "Antwoord met uw stem").click()
    started = start_recording(page)
    stop_recording_at(page, started + 0.5)
    assert len(kiosk.files()) == 1
    button(page, "Opnieuw opnemen").click()
    in_phase(page, "ready")
    kiosk.wait_for(lambda: not kiosk.files(), "the first take to be deleted")

    started = start_recording(page)
    stop_recording_at(page, started + 0.5)
    assert len(kiosk.files()) == 1
    button(page, "Weggooien").click()
    button(page, "Ja, weggooien").click()  # asked once more
    at_question(page, 4, 4)
    kiosk.wait_for(lambda: not kiosk.files(), "the thrown away take to be deleted")

    button(page, "Deze vraag overslaan").click()
    on_screen(page, "thanks")
    kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
    (session,) = kiosk.sessions()
    assert [(a.question_id, a.value) for a in session.answers] == [
        ("satisfaction", "3"),
        ("visit_reason", "activity"),
    ]
    assert all(a.recording is None for a in session.answers)
    assert kiosk.files() == []


@pytest.mark.audio
def test_a_visitor_who_declines_only_taps_and_nothing_is_recorded(
    start_kiosk: StartKiosk, pulse: PulseNullSink, kiosk_page: Page
) -> None:
    page = kiosk_page
    kiosk = start_kiosk(pulse=pulse)  # a microphone, so consent is asked and declined
    capture: list[str] = []
    recording_calls = re.compile(r"/api/(recordings|recording/|preview)")
    page.on("request", lambda r: capture.append(r.url) if recording_calls.search(r.url) else None)
    # This visitor chooses English: the questions, spoken labels and accessible names follow.
    page.goto(kiosk.url)
    page.locator("#attract-video").click()
    on_screen(page, "language")
    button(page, "English").click()
    button(page, "English").click()  # a second touch on the chosen flag goes on
    on_screen(page, "consent")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#consent-video")).to_have_attribute("src", "/media/kiosk/consent.en.mp4")
    button(page, "No, thank you").click()

    on_screen(page, "question")
    expect(page.locator("#question-title")).to_contain_text("Question 1 of 2")
    expect(page.locator("#prompt-video")).to_have_attribute("src", "/media/questions/satisfaction.en.mp4")
    button(page, "Happy").click()
    expect(page.locator("#question-title")).to_contain_text("Question 2 of 2")
    expect(page.locator("#options .option")).to_have_count(5)
    button(page, "Computer and internet").click()
    on_screen(page, "thanks")

    kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
    (session,) = kiosk.sessions()
    assert session.consent is False
    assert session.consent_version is None
    assert session.language == "en"
    assert [(a.question_id, a.kind, a.value) for a in session.answers] == [
        ("satisfaction", "scale", "4"),
        ("visit_reason", "choice", "computer"),
    ]
    assert capture == []
    assert kiosk.files() == []


@pytest.mark.audio
def test_the_back_arrow_takes_the_previous_answer_back(
    start_kiosk: StartKiosk, pulse: PulseNullSink, kiosk_page: Page
) -> None:
    page = kiosk_page
    kiosk = start_kiosk(pulse=pulse)  # a microphone, so consent is asked
    start_visit(page, kiosk)
    button(page, "Nee, liever niet").click()

    at_question(page, 1, 2)
    expect(button(page, "Terug naar de vorige vraag")).to_be_hidden()  # nothing to go back to
    button(page, "Heel ontevreden").click()
    at_question(page, 2, 2)
    kiosk.wait_for(lambda: len(kiosk.sessions()[0].answers) == 1, "the first answer")

    button(page, "Terug naar de vorige vraag").click()
    at_question(page, 1, 2)
    kiosk.wait_for(lambda: not kiosk.sessions()[0].answers, "the answer to be taken back")
    button(page, "Neutraal").click()
    at_question(page, 2, 2)
    button(page, "Koffie en ontmoeten").click()
    on_screen(page, "thanks")

    kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
    (session,) = kiosk.sessions()
    assert [(a.question_id, a.value) for a in session.answers] == [
        ("satisfaction", "3"),
        ("visit_reason", "meet"),
    ]


@pytest.mark.audio
@pytest.mark.parametrize("motion", ["no-preference"], indirect=True)
def test_an_idle_kiosk_asks_are_you_still_there_and_starts_over(
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    kiosk_page: Page,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    page = kiosk_page
    # Long enough for the photograph and the accessibility audit on a busy machine (they took over
    # 8 s once, and the overlay was gone before the check after them).
    still_there = 15
    kiosk = start_kiosk(pulse=pulse, idle_seconds=5, still_there_seconds=still_there)
    start_visit(page, kiosk)
    page.evaluate(
        """() => { const number = document.querySelector('#still-number');
                   window.countdownSeen = [];
                   new MutationObserver(() => window.countdownSeen.push(number.textContent))
                     .observe(number, { childList: true, characterData: true, subtree: true }); }"""
    )
    button(page, "Ja, dat mag").click()
    at_question(page, 1, 4)
    button(page, "Tevreden").click()
    at_question(page, 2, 4)
    button(page, "Boeken lenen").click()
    at_question(page, 3, 4)
    button(page, "Antwoord met uw stem").click()
    started = start_recording(page, pulsing=True)
    stop_recording_at(page, started + 0.5)
    assert len(kiosk.files()) == 1

    # The visitor walks away before choosing send or throw away. After five quiet seconds the
    # kiosk asks "are you still there?".
    overlay = page.get_by_role("alertdialog", name="Bent u er nog?")
    expect(overlay).to_be_visible(timeout=15_000)
    # Counting down from 15; the check may see it a moment late on a busy machine.
    expect(page.locator("#still-number")).to_have_text(re.compile(r"^(1[0-5])$"))
    # Without a wish for reduced motion, the button that invites a touch pulses gently.
    expect(page.locator("#still-continue")).to_have_css("animation-name", "pulse")
    look(page, "14-still-there", screenshots, assert_accessible)
    expect(overlay).to_be_visible()  # so it was what the audit and the photograph saw
    # One touch on the large button and the visitor goes on where they were.
    touch(page, button(page, "Ja, ik ben er nog"))
    expect(overlay).to_be_hidden()
    in_phase(page, "review")
    assert len(kiosk.files()) == 1

    # Nobody touches it again: this time the countdown runs out.
    page.evaluate("window.countdownSeen = []")
    expect(overlay).to_be_visible(timeout=10_000)

    # At zero the kiosk starts over: the recording nobody sent is gone, the confirmed answers stay.
    expect(page.locator("body")).to_have_attribute("data-screen", "attract", timeout=25_000)
    expect(overlay).to_be_hidden()
    seen = [int(n) for n in page.evaluate("window.countdownSeen") if n]
    assert seen[0] == still_there and seen == sorted(set(seen), reverse=True), seen  # second by second
    assert len(seen) >= still_there - 3, seen  # a busy machine may skip a number, never most of them
    kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
    (session,) = kiosk.sessions()
    assert [(a.question_id, a.value) for a in session.answers] == [
        ("satisfaction", "4"),
        ("visit_reason", "borrow"),
    ]
    kiosk.wait_for(lambda: not kiosk.files(), "the unsent recording to be deleted")


@pytest.mark.audio
def test_when_recording_is_refused_the_visitor_sees_it_and_goes_on(
    start_kiosk: StartKiosk,
    kiosk_page: Page,
    tmp_path: Path,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    """Camera and microphone break after the kiosk last checked them: the page still offers them,
    and says which one failed with its pictogram, lets the visitor go on, and the session says why."""
    page = kiosk_page
    camera = tmp_path / "camera.mp4"
    shutil.copyfile(CAMERA, camera)
    with PulseNullSink("breaks") as sink:
        kiosk = start_kiosk(camera=camera, pulse=sink, languages=("nl",))
        page.goto(kiosk.url)
        on_screen(page, "attract")
        camera.unlink()
        sink.unplug()
        page.locator("#attract-video").click()
        on_screen(page, "consent")  # one language: no choice to make
        button(page, "Ja, dat mag").click()
        at_question(page, 1, 4)
        button(page, "Heel tevreden").click()
        at_question(page, 2, 4)
        button(page, "Boeken lenen").click()

        # The camera cannot start: the preview fails and the visitor is told at once.
        at_question(page, 3, 4)
        button(page, "Antwoord met video").click()
        in_phase(page, "refused")
        expect(page.locator("#refused-pictogram")).to_have_attribute("src", re.compile(r"video-camera\.svg$"))
        look(page, "15-refused", screenshots, assert_accessible)
        button(page, "Verder").click()

        # The microphone cannot start: the service answers 503, naming it, after the countdown.
        at_question(page, 4, 4)
        with page.expect_response(lambda r: r.url.endswith("/api/recordings")) as response:
            button(page, "Opname starten").click()
        assert response.value.status == 503 and response.value.json()["device"] == "microphone"
        in_phase(page, "refused")
        expect(page.locator("#refused-pictogram")).to_have_attribute("src", re.compile(r"microphone\.svg$"))
        button(page, "Verder").click()

        on_screen(page, "thanks")
        kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
        (session,) = kiosk.sessions()
        assert [(a.question_id, a.value) for a in session.answers] == [
            ("satisfaction", "5"),
            ("visit_reason", "borrow"),
        ]
        assert session.missing_devices == ["camera", "microphone"]
        assert kiosk.files() == []
