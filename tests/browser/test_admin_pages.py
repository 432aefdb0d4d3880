"""A coordinator sets up a branch, a question and a questionnaire in Chromium; access rules hold."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from admin.extensions import db
from admin.models import Question, Questionnaire, Role
from tests.admin.helpers import MEDIA_SET, PASSWORD, browser_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    browser_sign_in(page, base, email, password)


def test_coordinator_builds_a_questionnaire_that_another_branch_cannot_see(
    app: Flask,
    live_server: str,
    context: BrowserContext,
    page: Page,
    make_branch: Callable,
    make_user: Callable,
    screenshots: Path,
    assert_accessible: Callable,
) -> None:
    make_branch("Roden")
    make_user("coordinator@bieb.example", Role.ADMIN)
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])

    sign_in(page, live_server, "coordinator@bieb.example")
    expect(page.get_by_role("heading", name="Nieuw voor mij")).to_be_visible()

    # A new branch.
    page.get_by_role("link", name="Vestigingen").click()
    page.get_by_label("Naam").fill("Zuidlaren")
    page.get_by_role("button", name="Vestiging toevoegen").click()
    expect(page.get_by_role("row", name=re.compile("Zuidlaren"))).to_be_visible()

    # A question: video, subtitles and two pictogram options.
    page.get_by_role("link", name="Vragen", exact=True).click()
    page.get_by_role("link", name="Nieuwe vraag").click()
    page.get_by_label("Naam").fill("Komt u vaker?")
    page.get_by_label("Soort antwoord").select_option("choice")
    page.get_by_label("Video met de vraag (MP4 of WebM)").set_input_files(
        MEDIA_SET / "questions" / "visit_reason.nl.mp4"
    )
    page.get_by_label("Ondertitels").set_input_files(MEDIA_SET / "questions" / "visit_reason.nl.vtt")
    for number, (value, label, picture) in enumerate(
        [("ja", "Ja", "thumbs-up.svg"), ("nee", "Nee", "cross.svg")], start=1
    ):
        page.get_by_label(f"Waarde van optie {number}").fill(value)
        page.get_by_label(f"Label van optie {number}").fill(label)
        page.get_by_label(f"Pictogram van optie {number}").set_input_files(MEDIA_SET / "pictograms" / picture)
    page.screenshot(path=screenshots / "admin-question-form.png", full_page=True)
    page.get_by_role("button", name="Vraag opslaan").click()
    expect(page.get_by_role("heading", name=re.compile("Komt u vaker"))).to_be_visible()
    video = page.locator("video").first
    expect(video).to_have_attribute("poster", re.compile(r"/media/[0-9a-f]{64}"))
    assert page.locator(".options-list img").count() == 2
    page.screenshot(path=screenshots / "admin-question.png", full_page=True)

    # A questionnaire for the new branch, for an activity.
    page.get_by_role("link", name="Vragenlijsten").click()
    page.get_by_role("link", name="Nieuwe vragenlijst").click()
    page.get_by_label("Naam").fill("Taalhuis Zuidlaren")
    page.get_by_label(re.compile("Activiteit")).fill("Taalhuis")
    page.get_by_label("Zuidlaren").check()
    page.get_by_label("Vraag 1", exact=True).select_option(label="Komt u vaker?")
    page.get_by_role("button", name="Vragenlijst opslaan").click()
    expect(page.get_by_role("heading", name="Taalhuis Zuidlaren")).to_be_visible()
    expect(page.get_by_text("Komt u vaker?")).to_be_visible()
    page.screenshot(path=screenshots / "admin-questionnaire.png", full_page=True)

    with app.app_context():
        questionnaire = db.session.scalar(select(Questionnaire))
        question = db.session.scalar(select(Question))
        assert questionnaire is not None and [b.name for b in questionnaire.branches] == ["Zuidlaren"]
        assert question is not None and len(question.options) == 2
        plan_id = questionnaire.id

    # Staff of Roden neither sees nor changes it.
    staff = context.browser.new_context(locale="nl-NL") if context.browser else None
    assert staff is not None
    staff_page = staff.new_page()
    sign_in(staff_page, live_server, "roden@bieb.example")
    staff_page.goto(f"{live_server}/questionnaires")
    expect(staff_page.get_by_text("Taalhuis Zuidlaren")).to_have_count(0)
    for path in (f"/questionnaires/{plan_id}", f"/questionnaires/{plan_id}/edit", "/questions"):
        assert staff_page.goto(f"{live_server}{path}").status == 404, path
    staff.close()


def test_five_wrong_passwords_slow_sign_in_down(
    live_server: str, page: Page, make_user: Callable, screenshots: Path
) -> None:
    make_user("coordinator@bieb.example", Role.ADMIN)
    for _ in range(5):
        sign_in(page, live_server, "coordinator@bieb.example", "wrong password")
        expect(page.get_by_role("alert")).to_contain_text("klopt niet")
    sign_in(page, live_server, "coordinator@bieb.example")  # the right one, too soon
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"over \d+ seconden"))
    expect(page.get_by_role("heading", name="Inloggen")).to_be_visible()
    page.screenshot(path=screenshots / "admin-login-slowed.png")


def test_a_form_without_its_csrf_token_is_refused(live_server: str, page: Page, make_user: Callable) -> None:
    make_user("coordinator@bieb.example", Role.ADMIN)
    sign_in(page, live_server, "coordinator@bieb.example")
    page.goto(f"{live_server}/branches")
    page.locator("form[action='/branches'] input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Naam").fill("Zonder token")
    with page.expect_response(f"{live_server}/branches") as response:
        page.get_by_role("button", name="Vestiging toevoegen").click()
    assert response.value.status == 400
    page.goto(f"{live_server}/branches")
    expect(page.get_by_text("Zonder token")).to_have_count(0)


ADMIN_PAGES = [
    "/",
    "/responses",
    "/responses?kind=recording&status=new",
    "/tags",
    "/questions",
    "/questions/new",
    "/questions/1",
    "/questionnaires",
    "/questionnaires/new",
    "/questionnaires/1",
    "/questionnaires/1/edit",
    "/branches",
    "/branches/1",
    "/users",
    "/users/new",
    "/users/1",
    "/account",
]


def test_every_admin_page_passes_axe_with_demo_data(
    app: Flask, live_server: str, page: Page, screenshots: Path, assert_accessible: Callable
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "seed", "--media", str(MEDIA_SET), "--days", "30"])
    assert result.exit_code == 0, result.output

    page.goto(f"{live_server}/login")
    assert_accessible(page)
    page.screenshot(path=screenshots / "admin-login.png")
    sign_in(page, live_server, "admin@vertelpaal.example", "vertelpaal-demo")
    for path in ADMIN_PAGES:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        assert_accessible(page)
        name = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
        page.screenshot(path=screenshots / f"admin-{name}.png", full_page=True)

    # Staff see their own branches on the start page, and the English pages read in English.
    page.get_by_role("button", name="Uitloggen").click()
    sign_in(page, live_server, "roden@vertelpaal.example", "vertelpaal-demo")
    rows = page.locator("table tbody th")
    expect(rows).to_have_text(["Norg", "Peize", "Roden"])
    page.goto(f"{live_server}/account")
    page.get_by_label("Taal van deze pagina's").select_option("en")
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("link", name="New for me")).to_be_visible()
    assert_accessible(page)
