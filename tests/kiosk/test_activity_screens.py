"""The "I came for..." chooser and the member question, in Chromium, on a real kiosk process
enrolled with a real server: two activities run at once in the branch, so the visitor chooses by
picture and spoken name, then says by touch whether they are a member; both reach the server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from admin.demo.seed import seed
from admin.extensions import db
from admin.mediafiles.operations import Expect, store_path
from admin.models import Branch, Questionnaire, Session
from admin.questionnaires.operations import QuestionnairePlan, create_questionnaire
from tests.admin.helpers import MEDIA_SET
from tests.support.kiosk_process import StartKiosk
from tests.support.layout import assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

BRANCH = "Nieuw-Buinen"  # the demo has no activity there: only the two below


def add_activities(app: Flask) -> dict[str, str]:
    """Two activities without times (so: all of their period) in one branch; their spoken names'
    sha256 by activity."""
    with app.app_context():
        seed(MEDIA_SET, days=1)
        branch = db.session.scalar(select(Branch).where(Branch.name == BRANCH))
        klik = db.session.scalar(select(Questionnaire).where(Questionnaire.name == "Klik&Tik"))
        assert branch is not None and klik is not None
        scale = klik.current_version.questions[0]  # "how was the activity?": faces, no recording
        spoken = {}
        for activity, picture, audio in (
            ("Klik&Tik", "computer", "klik-tik"),
            ("Taalhuis", "speech", "taalhuis"),
        ):
            voice = store_path(MEDIA_SET / "audio" / f"activity-name-{audio}.nl.m4a", Expect.AUDIO)
            create_questionnaire(
                QuestionnairePlan(
                    name=f"{activity} {BRANCH}",
                    activity=activity,
                    active_from=date(2026, 1, 1),
                    active_to=date(datetime.now(UTC).year + 1, 12, 31),
                    branches=[branch],
                    questions=[scale],
                    ask_member=True,
                    activity_pictogram=store_path(
                        MEDIA_SET / "pictograms" / f"{picture}.svg", Expect.PICTOGRAM
                    ),
                    activity_audio=voice,
                )
            )
            spoken[activity] = voice.sha256
        db.session.commit()
        return spoken


def heard(page: Page, ending: str) -> None:
    """Waits until the page fetched a sound whose URL ends with ``ending`` (it is played)."""
    page.wait_for_function(
        "(end) => performance.getEntriesByType('resource').some((e) => e.name.endsWith(end))", arg=ending
    )


def test_a_visitor_chooses_the_activity_and_says_they_are_no_member(
    app: Flask,
    live_server: str,
    start_kiosk: StartKiosk,
    browser: Browser,
    screenshots: Path,
    assert_accessible: Callable,
) -> None:
    spoken = add_activities(app)
    kiosk = start_kiosk(server_url=live_server)
    kiosk.start_sync()
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="nl-NL", reduced_motion="reduce"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(kiosk.url)
    code = page.locator("#pairing-code")
    expect(code).to_be_visible(timeout=20_000)
    result = app.test_cli_runner().invoke(args=["kiosks", "approve", code.inner_text(), "--branch", BRANCH])
    assert result.exit_code == 0, result.output
    screen = page.locator("body")
    expect(screen).to_have_attribute("data-screen", "attract", timeout=60_000)

    page.locator("#attract-video").click()
    expect(screen).to_have_attribute("data-screen", "language")
    page.get_by_role("button", name="Verder in deze taal", exact=True).click()

    # "What did you come for today?": a card per activity and one for a plain visit, each spoken.
    expect(screen).to_have_attribute("data-screen", "chooser")
    cards = page.locator("#choices .option")
    expect(cards).to_have_count(3)
    names = [cards.nth(i).get_attribute("aria-label") for i in range(3)]
    assert names == ["Klik&Tik", "Taalhuis", "Gewoon een bezoek"]
    heard(page, "/media/audio/came-for.nl.m4a")
    for sha in spoken.values():
        heard(page, f"/cache/{sha}")  # the names are said in turn, without a touch
    for i in range(3):
        assert cards.nth(i).locator("img").first.evaluate("(img) => img.complete && img.naturalWidth > 0")
    for width, height in ((1920, 1080), (1280, 800), (800, 480), (720, 1280)):
        page.set_viewport_size({"width": width, "height": height})
        assert_fits(page, f"chooser {width}x{height}")
        page.screenshot(path=screenshots / f"kiosk-chooser-{width}x{height}.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    assert_accessible(page)

    taalhuis = page.get_by_role("button", name="Taalhuis", exact=True)
    taalhuis.click()
    expect(taalhuis).to_have_class("option chosen")  # shown as chosen while its name is said

    # "Are you a member of the library?": the library card, and three cards, each spoken.
    expect(screen).to_have_attribute("data-screen", "member")
    expect(page.locator("#member-card")).to_be_visible()
    heard(page, "/media/audio/member-question.nl.m4a")
    options = page.locator("#member-options .option")
    expect(options).to_have_count(3)
    assert [options.nth(i).get_attribute("aria-label") for i in range(3)] == [
        "Ja, ik ben lid",
        "Nee, ik ben geen lid",
        "Dat weet ik niet",
    ]
    for width, height in ((1920, 1080), (1280, 800), (800, 480), (720, 1280)):
        page.set_viewport_size({"width": width, "height": height})
        assert_fits(page, f"member {width}x{height}")
        page.screenshot(path=screenshots / f"kiosk-member-{width}x{height}.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    assert_accessible(page)
    page.get_by_role("button", name="Nee, ik ben geen lid", exact=True).click()
    heard(page, "/media/audio/member-no.nl.m4a")

    # Only faces to tap: no consent needed; the session knows the activity and the answer.
    expect(screen).to_have_attribute("data-screen", "question")
    (session,) = kiosk.sessions()
    assert (session.activity, session.member) == ("Taalhuis", "no")
    page.locator("#options .option").first.click()
    expect(screen).to_have_attribute("data-screen", "thanks")

    def stored() -> tuple[str | None, str | None] | None:
        with app.app_context():
            found = db.session.get(Session, session.uuid)
            facts = (found.activity, found.member) if found else None
            db.session.remove()
            return facts

    kiosk.wait_for(lambda: stored() is not None, "the server to store the session", timeout=60)
    assert stored() == ("Taalhuis", "no")
    context.close()
    assert not errors, errors
