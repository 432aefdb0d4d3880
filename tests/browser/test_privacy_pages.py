"""Privacy pages in Chromium: a staff member erases a visitor's session at their request; an admin
sets retention and the parent-or-carer step, and reads the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from admin.extensions import db
from admin.models import Answer, PrivacySettings, Session
from admin.storage import media_store
from tests.admin.review_world import ADMIN, STAFF_RODEN, World
from tests.browser.test_admin_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


def test_a_visitor_at_the_desk_has_their_session_erased(
    app: Flask,
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    with app.app_context():
        session_uuid = db.session.get(Answer, world.answers["r_video"]).session_uuid
    sign_in(page, live_server, STAFF_RODEN)
    page.get_by_role("link", name="Privacy", exact=True).click()
    expect(page.get_by_role("heading", name="De sessie van de bezoeker zoeken")).to_be_visible()
    # "I answered on the first of March, just before eleven, in Roden."
    page.get_by_label("Vestiging").select_option(label="Roden")
    page.get_by_label("Dag").fill("2026-03-01")
    page.get_by_label("Vanaf", exact=True).fill("10:30")
    page.get_by_label("Tot en met", exact=True).fill("11:30")
    page.get_by_role("button", name="Sessies zoeken").click()
    rows = page.locator("table.sessions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Vertelpaal Roden")
    expect(rows.first).to_contain_text("Wat kan beter?")
    assert_accessible(page)
    page.screenshot(path=screenshots / "privacy-find.png", full_page=True)

    rows.first.get_by_role("link", name="Verwijderen…").click()
    expect(page.get_by_role("heading", name="Deze sessie verwijderen?")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "privacy-erase.png", full_page=True)
    page.get_by_role("button", name="Definitief verwijderen").click()
    # Not ticked: nothing happens but a clear request to tick the box.
    expect(page.locator(".error")).to_be_visible()
    page.get_by_label(re.compile("Ja, verwijder deze sessie")).check()
    page.get_by_role("button", name="Definitief verwijderen").click()
    expect(page.locator(".flash")).to_contain_text("De sessie en haar 2 antwoorden zijn verwijderd.")

    page.goto(f"{live_server}/responses/{world.answers['r_video']}")
    expect(page.locator("h1")).not_to_contain_text("Wat kan beter?")
    with app.app_context():
        assert db.session.get(Session, session_uuid) is None
        assert not media_store().exists(world.media["video_roden"])


def test_an_admin_sets_retention_and_the_parent_step_and_reads_the_audit_log(
    app: Flask,
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    sign_in(page, live_server, ADMIN)
    page.get_by_role("link", name="Privacy", exact=True).click()
    page.get_by_role("link", name="Bewaren en toestemming").click()
    page.get_by_label("Videoantwoorden worden bewaard").fill("90")
    page.get_by_label("Spraakantwoorden worden bewaard").fill("")
    page.get_by_label(re.compile("Vraag vóór een opname")).check()
    page.get_by_label("De vraag in het Nederlands", exact=True).fill(
        "Is je vader, moeder of verzorger erbij?"
    )
    page.get_by_role("button", name="Opslaan").click()
    expect(page.locator(".flash")).to_contain_text("Privacy-instellingen opgeslagen")
    spoken = page.get_by_label("De vraag in het Nederlands, uitgesproken")
    expect(spoken).to_be_visible()
    # The spoken question plays in the browser (served by us, with a duration).
    page.wait_for_function(
        """() => { const a = document.querySelector('audio'); a.preload = 'auto'; a.load();
                   return true; }"""
    )
    page.wait_for_function("() => document.querySelector('audio').duration > 1", timeout=10_000)
    assert_accessible(page)
    page.screenshot(path=screenshots / "privacy-settings.png", full_page=True)
    with app.app_context():
        settings = db.session.get(PrivacySettings, 1)
        assert settings is not None and settings.parent_step
        assert (settings.video_days, settings.voice_days) == (90, None)

    page.get_by_role("link", name="Logboek").click()
    first = page.locator("table.audit tbody tr").first
    expect(first).to_contain_text("privacy.settings")
    expect(first).to_contain_text(ADMIN)
    assert_accessible(page)
    page.screenshot(path=screenshots / "privacy-audit.png", full_page=True)
