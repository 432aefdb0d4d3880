"""No third-party requests from the kiosk's visitor page: Chromium walks to the second question and
records every request the page makes; all go to the kiosk service on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request

from kiosk.hardware.pulse import PulseNullSink
from tests.browser.test_security_third_party import RESOURCE_URLS, own_origin_only
from tests.kiosk.test_kiosk_page import at_question, button, start_visit
from tests.support.kiosk_process import StartKiosk

pytestmark = [pytest.mark.browser, pytest.mark.audio]


@pytest.fixture
def visitor_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="nl-NL", reduced_motion="reduce"
    )
    yield context.new_page()
    context.close()


def test_the_visitor_page_makes_no_third_party_requests(
    start_kiosk: StartKiosk, pulse: PulseNullSink, visitor_page: Page
) -> None:
    # With a microphone, so the page asks for consent (without one it skips that screen).
    kiosk = start_kiosk(pulse=pulse)
    page = visitor_page
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    start_visit(page, kiosk)  # attract loop, language, consent
    button(page, "Nee, liever niet").click()  # tap answers only
    at_question(page, 1, 2)
    button(page, "Heel ontevreden").click()  # a pictogram that speaks its label
    at_question(page, 2, 2)
    page.wait_for_load_state("networkidle")
    resources = page.evaluate(RESOURCE_URLS)
    assert any(url.endswith((".mp4", ".webm")) for url in requests)  # the attract video played
    assert len(requests) > 3 and resources
    assert own_origin_only(requests, kiosk.url) == []
    assert own_origin_only(resources, kiosk.url) == []
