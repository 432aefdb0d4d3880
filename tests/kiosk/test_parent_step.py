"""The parent-or-carer step, in Chromium, on a kiosk enrolled with a server that switched it on.

The visitor agrees to be filmed; the kiosk then shows and speaks the organisation's own question;
"no" leaves tap answers only, the service refuses to record, and the server stores the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from admin.demo.seed import seed
from admin.extensions import db
from admin.models import PrivacySettings, Session
from admin.privacy.operations import save_settings
from tests.admin.helpers import MEDIA_SET
from tests.support.kiosk_process import StartKiosk
from tests.support.layout import assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

WORDS_NL = "Ben je jonger dan 16? Is je vader, moeder of verzorger erbij en vindt die het goed?"


def test_without_a_parent_s_yes_a_child_only_taps_and_nothing_is_recorded(
    app: Flask,
    live_server: str,
    start_kiosk: StartKiosk,
    browser: Browser,
    screenshots: Path,
    assert_accessible: Callable,
) -> None:
    with app.app_context():
        seed(MEDIA_SET, days=1)
        save_settings(
            video_days=30,
            voice_days=30,
            tap_days=None,
            parent_step=True,
            parent_texts={"nl": WORDS_NL, "en": "Is a parent or carer with you, and do they agree?"},
        )
        db.session.commit()
        spoken_nl = db.session.get(PrivacySettings, 1).parent_audio["nl"]  # type: ignore[union-attr]
    kiosk = start_kiosk(server_url=live_server)
    kiosk.start_sync()
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="nl-NL", reduced_motion="reduce"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(kiosk.url)
    code = page.locator("#pairing-code")
    expect(code).to_be_visible(timeout=20_000)
    result = app.test_cli_runner().invoke(args=["kiosks", "approve", code.inner_text(), "--branch", "Peize"])
    assert result.exit_code == 0, result.output
    screen = page.locator("body")
    expect(screen).to_have_attribute("data-screen", "attract", timeout=60_000)

    page.locator("#attract-video").click()
    expect(screen).to_have_attribute("data-screen", "language")
    page.get_by_role("button", name="Verder in deze taal", exact=True).click()
    # The demo's visitors' questionnaire first asks whether they are a member of the library.
    expect(screen).to_have_attribute("data-screen", "member")
    page.get_by_role("button", name="Dat weet ik niet", exact=True).click()
    expect(screen).to_have_attribute("data-screen", "consent")
    page.get_by_role("button", name="Ja, dat mag", exact=True).click()

    expect(screen).to_have_attribute("data-screen", "parent")
    expect(page.locator("#parent-text")).to_have_text(WORDS_NL)
    page.wait_for_function(
        "(sha) => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/cache/' + sha))",
        arg=spoken_nl,
    )
    page.screenshot(path=screenshots / "kiosk-parent-step.png")
    assert_accessible(page)
    for width, height in ((800, 480), (720, 1280), (1920, 1080)):  # the smallest, a totem, the usual
        page.set_viewport_size({"width": width, "height": height})
        assert_fits(page, "the parent step")
    # The service itself insists on the parent's answer once the visitor said yes to filming.
    for body in ("{language: 'nl', consent: true}", "{language: 'nl', consent: true, parent_consent: 'ok'}"):
        status = page.evaluate(
            f"""fetch('/api/sessions', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
                      body: JSON.stringify({body})}}).then((r) => r.status)"""
        )
        assert status == 400, body
    page.get_by_role("button", name="Nee, alleen tikken", exact=True).click()

    expect(screen).to_have_attribute("data-screen", "question")
    show = page.evaluate("fetch('/api/show').then((r) => r.json())")
    taps = [q for q in show["questionnaire"]["questions"] if q["kind"] in ("scale", "choice")]
    assert len(taps) < len(show["questionnaire"]["questions"]), (
        "the demo questionnaire asks for a recording too"
    )
    expect(page.locator("#question-title")).to_contain_text(f"Vraag 1 van {len(taps)}")
    (session,) = kiosk.sessions()
    assert (session.consent, session.parent_consent) == (True, False)
    refused = page.evaluate(
        """(uuid) => fetch('/api/recordings', {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({session: uuid, kind: 'video'})}).then((r) => r.status)""",
        session.uuid,
    )
    assert refused == 403
    for _ in taps:
        page.locator("#options .option").first.click()
    expect(screen).to_have_attribute("data-screen", "thanks")
    # The page itself never asked for the camera: the one recording request was the test's own.
    assert not any("/api/preview" in url for url in fetched)
    assert sum(url.endswith("/api/recordings") for url in fetched) == 1
    assert kiosk.files() == []

    # The sync brings the session to the server with the parent's answer.
    def stored() -> tuple[bool, bool | None, int] | None:
        with app.app_context():
            found = db.session.get(Session, session.uuid)
            facts = (found.consent, found.parent_consent, len(found.answers)) if found else None
            db.session.remove()
            return facts

    kiosk.wait_for(lambda: stored() is not None, "the server to store the session", timeout=60)
    assert stored() == (True, False, len(taps))
    context.close()
    assert not errors, errors
