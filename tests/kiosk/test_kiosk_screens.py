"""The kiosk page on the screens libraries buy, from the 800×480 Pi display to a 1080×1920 totem.

A visitor walks the whole flow (language, consent, tap, video, voice, review, thanks) in Chromium
at every size, against the real kiosk service, and at every screen state ``assert_fits`` measures
what is visible (tests/support/layout.py: inside the window, no overlap, ≥ 96 px, the question
video large enough and its captions beside it, not over it). The other tests hold the screen to
its promise of calm: nothing moves when controls go, a touched answer shows as chosen, Back shows
the earlier choice, and throwing a recording away asks once more.

Screenshots go to ``$VERTELPAAL_SCREENSHOTS`` (or a temporary folder) as ``screens-WxH-NN-state.png``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from kiosk.hardware.pulse import PulseNullSink
from tests.kiosk.test_kiosk_page import NOTE_WHAT_PLAYS, at_question, button, in_phase, on_screen, start_visit
from tests.support.kiosk_process import Kiosk, StartKiosk
from tests.support.layout import assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.audio]

SIZES = [
    (800, 480),
    (1024, 600),
    (1280, 720),
    (1280, 800),
    (1366, 768),
    (1920, 1080),
    (2560, 1440),
    (720, 1280),
    (1080, 1920),
]
PHOTOGRAPHED = {(800, 480), (1280, 800), (1920, 1080), (720, 1280)}
# Whole walks are most of this test's time: the suite walks the Pi display, the common landscape sizes and a
# portrait one; VERTELPAAL_LONG=1 walks every size. Every size still gets the states shown once.
WALKED = SIZES if os.environ.get("VERTELPAAL_LONG") == "1" else [s for s in SIZES if s in PHOTOGRAPHED]
RECORD_SECONDS = 0.6
CONSENT_CUES = {
    "nl": [
        block.split("\n", 2)[2].strip()
        for block in (Path(__file__).resolve().parents[2] / "media" / "kiosk" / "consent.nl.vtt")
        .read_text("utf-8")
        .split("\n\n")[1:]
        if block.strip()
    ]
}


class Pages:
    """Kiosk pages at a given window size; every JavaScript error they raise fails the test."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.opened: list[Page] = []
        self.errors: list[str] = []

    def open(self, size: tuple[int, int] = (1280, 800)) -> Page:
        context = self.browser.new_context(
            viewport={"width": size[0], "height": size[1]}, locale="nl-NL", reduced_motion="reduce"
        )
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{size}: {error}"))
        # The page's clock runs at the normal pace, except where a test skips ahead (countdowns).
        page.clock.install()
        self.opened.append(page)
        return page

    def close(self, page: Page) -> None:
        page.context.close()
        self.opened.remove(page)


@pytest.fixture
def pages(browser: Browser) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    for page in list(opened.opened):
        opened.close(page)
    assert not opened.errors, f"JavaScript errors on the kiosk page: {opened.errors}"


class Walk:
    """One visitor's walk at one size: checks and photographs every screen state on the way."""

    def __init__(self, page: Page, screenshots: Path) -> None:
        self.page = page
        self.screenshots = screenshots
        self.step = 0
        size = page.viewport_size
        assert size is not None
        self.size = (size["width"], size["height"])

    def fits(self, where: str) -> None:
        assert_fits(self.page, where)
        self.step += 1
        if self.size in PHOTOGRAPHED:
            name = f"screens-{self.size[0]}x{self.size[1]}-{self.step:02d}-{where.replace(' ', '-')}.png"
            self.page.screenshot(path=self.screenshots / name)


def hold_requests(page: Page, pattern: str) -> list[Route]:
    """Requests matching ``pattern`` wait until the test lets them go (``route.continue_()``)."""
    held: list[Route] = []
    page.route(pattern, lambda route: held.append(route))
    return held


def release(page: Page, pattern: str, held: list[Route]) -> None:
    for route in held:
        route.continue_()
    page.unroute(pattern)


def record(page: Page, walk: Walk, what: str) -> None:
    """Touch record, check the countdown, and skip its three seconds on the page's clock."""
    with page.expect_response(
        lambda r: r.url.endswith("/api/recordings") and r.request.method == "POST"
    ) as made:
        button(page, "Opname starten").click()
        in_phase(page, "countdown")
        walk.fits(f"{what} countdown")
        for _ in range(3):
            page.clock.fast_forward(1000)
    assert made.value.status == 201, made.value.text()
    in_phase(page, "recording")
    walk.fits(f"{what} recording")


def to_the_open_question(page: Page, kiosk: Kiosk) -> None:
    """A visitor who agrees to be recorded and taps the first two answers."""
    start_visit(page, kiosk)
    button(page, "Ja, dat mag").click()
    button(page, "Heel tevreden").click()
    at_question(page, 2, 4)
    button(page, "Boeken lenen").click()
    at_question(page, 3, 4)


def walk_the_flow(page: Page, kiosk: Kiosk, screenshots: Path) -> None:
    walk = Walk(page, screenshots)
    page.goto(kiosk.url)
    on_screen(page, "attract")
    expect(page.locator("#attract-captions")).not_to_be_empty()
    walk.fits("attract")
    button(page, "Raak aan om te beginnen").click()

    on_screen(page, "language")
    walk.fits("language")
    button(page, "Verder in deze taal").click()

    on_screen(page, "consent")
    expect(page.locator("#consent-captions")).not_to_be_empty()
    walk.fits("consent")
    button(page, "Ja, dat mag").click()

    at_question(page, 1, 4)
    expect(page.locator("#prompt-captions")).not_to_be_empty()
    walk.fits("tap scale")
    button(page, "Heel tevreden").click()
    expect(button(page, "Heel tevreden")).to_have_attribute("aria-pressed", "true")
    walk.fits("tap chosen")

    at_question(page, 2, 4)
    walk.fits("tap choice")
    button(page, "Boeken lenen").click()

    at_question(page, 3, 4)
    in_phase(page, "choose")
    walk.fits("choose")
    button(page, "Antwoord met video").click()
    in_phase(page, "ready")
    page.wait_for_function("() => document.querySelector('#preview').naturalWidth >= 640", timeout=15_000)
    walk.fits("video ready")
    record(page, walk, "video")
    time.sleep(RECORD_SECONDS)
    held = hold_requests(page, "**/api/recordings/*/stop")
    button(page, "Opname stoppen").click()
    in_phase(page, "stopping")
    walk.fits("video stopping")
    release(page, "**/api/recordings/*/stop", held)
    in_phase(page, "review")
    page.wait_for_function("() => document.querySelector('#review-video').readyState >= 2")
    walk.fits("video review")
    button(page, "Versturen").click()

    at_question(page, 4, 4)
    in_phase(page, "ready")
    walk.fits("voice ready")
    record(page, walk, "voice")
    time.sleep(RECORD_SECONDS)
    button(page, "Opname stoppen").click()
    in_phase(page, "review")
    expect(page.locator("#review-picture")).to_be_visible()
    walk.fits("voice review")
    button(page, "Weggooien").click()
    in_phase(page, "discard")
    walk.fits("throw away")
    button(page, "Nee, bewaren").click()
    in_phase(page, "review")
    button(page, "Versturen").click()

    on_screen(page, "thanks")
    expect(page.locator("#thanks-captions")).not_to_be_empty()
    walk.fits("thanks")


def test_every_screen_fits_every_size(
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    pages: Pages,
    screenshots: Path,
) -> None:
    kiosk = start_kiosk(pulse=pulse, idle_seconds=5, still_there_seconds=60)
    # One browser page (and its cache), loaded anew at every size as a kiosk would start.
    page = pages.open(WALKED[0])
    for width, height in WALKED:
        page.set_viewport_size({"width": width, "height": height})
        walk_the_flow(page, kiosk, screenshots)
    pages.close(page)
    kiosk.wait_for(lambda: len(kiosk.sessions()) == len(WALKED), "every walk's session")
    assert all(len(s.answers) == 4 for s in kiosk.sessions())

    # The states a walk does not pass at every size are shown once and the window takes every size
    # in turn: "are you still there?", and a recording that cannot be made.
    page = pages.open(SIZES[0])
    page.route("**/api/preview.mjpeg*", lambda route: route.abort())  # a camera that does not start
    to_the_open_question(page, kiosk)
    button(page, "Antwoord met video").click()
    in_phase(page, "refused")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        Walk(page, screenshots).fits("refused")
    page.evaluate("() => document.querySelectorAll('video').forEach((v) => v.pause())")  # no waiting for it
    overlay = page.get_by_role("alertdialog", name="Bent u er nog?")
    expect(overlay).to_be_visible(timeout=15_000)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        Walk(page, screenshots).fits("still there")


# --- captions in their own band ---------------------------------------------------------------


def box_of(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


@pytest.mark.audio
def test_captions_are_written_in_a_band_under_the_video(
    start_kiosk: StartKiosk, pulse: PulseNullSink, pages: Pages
) -> None:
    kiosk = start_kiosk(pulse=pulse)  # a microphone, so consent is asked
    page = pages.open()
    start_visit(page, kiosk)
    band = page.locator("#consent-captions")
    first, second = CONSENT_CUES["nl"][:2]
    expect(band).to_have_text(first)
    # The track is loaded but not drawn: nothing covers the pictograms in the picture.
    assert page.evaluate("document.querySelector('#consent-video').textTracks[0].mode") == "hidden"
    video, caption = box_of(page, "#consent-video"), box_of(page, "#consent-captions")
    assert caption["y"] >= video["y"] + video["height"] - 1, (video, caption)  # under it, not over it
    assert caption["height"] >= 2 * 1.2 * 17, caption  # two large lines
    expect(band).to_have_text(second, timeout=10_000)
    # "Hear it again" starts sound and captions from the beginning.
    button(page, "Nog een keer horen").click()
    expect(band).to_have_text(first)
    assert page.evaluate("document.querySelector('#consent-video').currentTime") < 3
    assert_fits(page, "consent with captions")

    button(page, "Ja, dat mag").click()
    at_question(page, 1, 4)
    expect(page.locator("#prompt-captions")).to_have_text("Hoe tevreden bent u over de bibliotheek?")


# --- a calm screen ----------------------------------------------------------------------------

PLACES = ["#prompt-video", "#you-pane", "#prompt-captions", "#back", "#skip", "#prompt-replay"]


def places(page: Page) -> dict[str, tuple[int, int, int, int]]:
    """Where the panes, the caption band and the controls that come and go are, rounded to px."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for selector in PLACES:
        box = box_of(page, selector)
        found[selector] = (round(box["x"]), round(box["y"]), round(box["width"]), round(box["height"]))
    return found


def record_voice(page: Page) -> None:
    """Record a short voice answer (the countdown skipped on the page's clock) and stop."""
    button(page, "Opname starten").click()
    in_phase(page, "countdown")
    for _ in range(3):
        page.clock.fast_forward(1000)
    in_phase(page, "recording")
    time.sleep(0.5)
    button(page, "Opname stoppen").click()
    in_phase(page, "review")


def test_nothing_moves_when_controls_hide(
    start_kiosk: StartKiosk, pulse: PulseNullSink, pages: Pages
) -> None:
    kiosk = start_kiosk(pulse=pulse)
    page = pages.open()
    to_the_open_question(page, kiosk)
    button(page, "Antwoord met uw stem").click()
    in_phase(page, "ready")
    ready = places(page)
    button(page, "Opname starten").click()
    in_phase(page, "countdown")
    # Replay, back and skip are not offered during the countdown, and keep their places.
    for selector in ("#prompt-replay", "#back", "#skip"):
        expect(page.locator(selector)).to_be_hidden()
    assert places(page) == ready
    for _ in range(3):
        page.clock.fast_forward(1000)
    in_phase(page, "recording")
    assert places(page) == ready
    button(page, "Opname stoppen").click()
    in_phase(page, "review")
    assert places(page) == ready
    button(page, "Weggooien").click()
    in_phase(page, "discard")
    assert places(page) == ready


@pytest.mark.audio
def test_a_touched_answer_shows_as_chosen_before_the_next_question(
    start_kiosk: StartKiosk, pulse: PulseNullSink, pages: Pages
) -> None:
    kiosk = start_kiosk(pulse=pulse)  # a microphone, so consent is asked
    page = pages.open()
    page.add_init_script(NOTE_WHAT_PLAYS)
    start_visit(page, kiosk)
    button(page, "Nee, liever niet").click()
    at_question(page, 1, 2)
    # Note when the answer shows as chosen (pressed, with a visible check mark, the only one) and
    # when the next question replaces it; noted in the page, so a slow test cannot miss it.
    page.evaluate(
        """() => {
             window.marks = {};
             const options = document.querySelector('#options');
             new MutationObserver(() => {
               const pressed = options.querySelectorAll('[aria-pressed="true"]');
               const check = pressed.length === 1 && pressed[0].querySelector('.check-mark');
               if (check && check.checkVisibility() && !window.marks.chosen) {
                 window.marks.chosen = performance.now();
                 window.marks.value = pressed[0].getAttribute('aria-label');
               }
             }).observe(options, { attributes: true, subtree: true });
             new MutationObserver(() => {
               if (!window.marks.next) window.marks.next = performance.now();
             }).observe(document.querySelector('#question-title'), { childList: true });
             window.played = [];
           }"""
    )
    button(page, "Tevreden").click()
    at_question(page, 2, 2)
    marks = page.evaluate("window.marks")
    assert marks["value"] == "Tevreden", marks
    assert marks["next"] - marks["chosen"] >= 400, marks
    # A click at the touch, then the chosen answer says its name.
    heard = page.evaluate("window.played")[:2]
    assert heard == ["/media/sounds/tap.m4a", "/media/audio/satisfaction-4.nl.m4a"], heard


def test_back_shows_the_earlier_choice(start_kiosk: StartKiosk, pulse: PulseNullSink, pages: Pages) -> None:
    kiosk = start_kiosk(pulse=pulse)
    page = pages.open()
    start_visit(page, kiosk)
    button(page, "Ja, dat mag").click()
    button(page, "Neutraal").click()
    at_question(page, 2, 4)
    button(page, "Terug naar de vorige vraag").click()
    at_question(page, 1, 4)
    expect(button(page, "Neutraal")).to_have_attribute("aria-pressed", "true")
    expect(button(page, "Neutraal").locator(".check-mark")).to_be_visible()
    expect(page.locator("#options [aria-pressed='true']")).to_have_count(1)
    kiosk.wait_for(lambda: not kiosk.sessions()[0].answers, "the answer to be taken back")

    button(page, "Tevreden").click()
    at_question(page, 2, 4)
    button(page, "Boeken lenen").click()
    at_question(page, 3, 4)
    button(page, "Antwoord met uw stem").click()
    record_voice(page)
    button(page, "Versturen").click()
    at_question(page, 4, 4)
    button(page, "Terug naar de vorige vraag").click()
    at_question(page, 3, 4)
    in_phase(page, "choose")
    expect(button(page, "Antwoord met uw stem")).to_have_attribute("aria-pressed", "true")
    expect(button(page, "Antwoord met video")).to_have_attribute("aria-pressed", "false")


def test_throw_away_asks_once_more_and_keeps_the_recording_when_kept(
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    pages: Pages,
    screenshots: Path,
) -> None:
    kiosk = start_kiosk(pulse=pulse)
    page = pages.open()
    to_the_open_question(page, kiosk)
    button(page, "Antwoord met uw stem").click()
    record_voice(page)
    # The voice review shows which question the voice answers: a still of the question video.
    expect(page.locator("#review-picture")).to_be_visible()
    expect(page.locator("#review-picture")).to_have_attribute("src", re.compile(r"^data:image/jpeg"))
    assert len(kiosk.files()) == 1

    button(page, "Weggooien").click()
    in_phase(page, "discard")
    confirm = page.locator("#trash-confirm")
    expect(confirm.locator("img")).to_have_count(3)  # a cross; the bin with a check
    page.screenshot(path=screenshots / "screens-throw-away-confirm.png")
    button(page, "Nee, bewaren").click()
    in_phase(page, "review")
    assert len(kiosk.files()) == 1
    button(page, "Versturen").click()
    at_question(page, 4, 4)
    kiosk.wait_for(lambda: len(kiosk.sessions()[0].answers) == 3, "the kept recording to be sent")
    kept = kiosk.sessions()[0].answers[2].recording
    assert kept is not None and (kiosk.recordings_dir / kept.file_name).exists()

    # This time the visitor means it.
    record_voice(page)
    button(page, "Weggooien").click()
    button(page, "Ja, weggooien").click()
    on_screen(page, "thanks")
    kiosk.wait_for(lambda: len(kiosk.files()) == 1, "the thrown away take to be deleted")
    assert len(kiosk.sessions()[0].answers) == 3
