"""A touch shows the next screen at once (issue #12, touch → painted): the page does not wait for
the kiosk service before it changes screen. The browser holds the service's answers back; the
next screen must be there while they are held, and what the visitor does meanwhile still lands
in the outbox, in order, once the service answers."""

# ruff: noqa: F811
from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route

from kiosk.hardware.pulse import PulseNullSink
from tests.kiosk.test_kiosk_page import (  # noqa: F401 - kiosk_page and motion are fixtures
    at_question,
    button,
    kiosk_page,
    motion,
    on_screen,
)
from tests.support.kiosk_process import StartKiosk

pytestmark = pytest.mark.browser


def test_consent_and_the_first_question_come_while_the_service_is_still_answering(
    start_kiosk: StartKiosk, pulse: PulseNullSink, kiosk_page: Page
) -> None:
    kiosk = start_kiosk(pulse=pulse)
    page = kiosk_page
    page.goto(kiosk.url)
    on_screen(page, "attract")
    held: dict[str, list[Route]] = {"show": [], "session": []}
    # Held: the device check the touch asks for, and the making of the session.
    page.route("**/api/show", lambda route: held["show"].append(route))
    page.route("**/api/sessions", lambda route: held["session"].append(route))

    page.locator("#attract-video").click()
    on_screen(page, "language")
    button(page, "Verder in deze taal").click()
    on_screen(page, "consent")
    assert len(held["show"]) == 1  # the consent screen did not wait for the device check
    held["show"][0].continue_()
    page.unroute("**/api/show")

    button(page, "Nee, liever niet").click()
    at_question(page, 1, 2)
    assert len(held["session"]) == 1  # nor the first question for the session
    button(page, "Heel ontevreden").click()
    at_question(page, 2, 2)
    held["session"][0].continue_()
    page.unroute("**/api/sessions")
    button(page, "Boeken lenen").click()
    on_screen(page, "thanks")

    kiosk.wait_for(lambda: any(s.finished_at for s in kiosk.sessions()), "the finished session")
    (session,) = kiosk.sessions()
    assert session.consent is False
    assert [(a.question_id, a.value) for a in session.answers] == [
        ("satisfaction", "1"),
        ("visit_reason", "borrow"),
    ]
