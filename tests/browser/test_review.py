"""A staff member works through the new answers of their branch in Chromium, mostly by keyboard."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from playwright.sync_api import Page, Response, expect
from sqlalchemy import select

from admin.extensions import db
from admin.models import Answer, AuditEvent, ReviewStatus
from tests.admin.review_world import ADMIN, STAFF_RODEN, World
from tests.browser.test_admin_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


def test_staff_review_new_video_answers_of_their_branch_by_keyboard(
    app: Flask,
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
    tmp_path: Path,
) -> None:
    media_statuses: list[int] = []

    def on_response(response: Response) -> None:
        if "/media/" in response.url and world.media["video_roden"] in response.url:
            media_statuses.append(response.status)

    page.on("response", on_response)
    # The pages run under a strict CSP: htmx and responses.js must work without inline code.
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, live_server, STAFF_RODEN)

    # One click from the start page: the new answers of Roden.
    roden = world.branches["Roden"]
    page.screenshot(path=screenshots / "review-home.png", full_page=True)
    page.get_by_role("link", name=re.compile("nieuwe antwoorden in Roden")).click()
    expect(page).to_have_url(re.compile(rf"/responses\?branch={roden}&status=new$"))
    expect(page.locator("table.inbox tbody tr")).to_have_count(2)

    # The same through the filter form; the filter lands in the URL.
    page.goto(f"{live_server}/responses")
    expect(page.locator("table.inbox tbody tr")).to_have_count(4)
    page.get_by_label("Vestiging").select_option(label="Roden")
    page.get_by_label("Status").select_option("new")
    page.get_by_role("button", name="Antwoorden tonen").click()
    expect(page).to_have_url(re.compile(rf"/responses\?branch={roden}&status=new&"))
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Wat kan beter?")
    expect(rows.first.locator("img.thumb")).to_have_js_property("complete", True)
    assert rows.first.locator("img.thumb").evaluate("img => img.naturalWidth") > 0  # the poster was made
    assert_accessible(page)
    page.screenshot(path=screenshots / "review-inbox.png", full_page=True)

    # Open the video answer.
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Wat kan beter?", level=1)).to_be_visible()
    assert "status=new" in page.url and f"branch={roden}" in page.url
    video = page.locator("video#player")
    expect(video).to_have_attribute("poster", f"/media/{world.media['video_roden']}/poster")
    expect(page.locator("video.prompt track[kind=subtitles]")).to_have_count(1)
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    duration = video.evaluate("v => v.duration")
    assert 5.0 < duration < 5.3

    # Space plays; the video really advances; it seeks; space pauses.
    page.locator("h1").click()  # focus on the page, not on a control
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').currentTime > 0.5", timeout=10_000)
    assert video.evaluate("v => v.paused") is False
    video.evaluate(
        "v => new Promise(done => { v.addEventListener('seeked', done, {once: true}); v.currentTime = 3.5; })"
    )
    assert video.evaluate("v => v.currentTime") >= 3.5
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').paused")
    assert 206 in media_statuses, media_statuses  # Range requests served the seek

    # Tag it with the keyboard: t, type, Enter.
    page.keyboard.press("t")
    expect(page.locator("#tag-input")).to_be_focused()
    page.keyboard.type("computers")
    page.keyboard.press("Enter")
    tags = page.locator("#tags")
    expect(tags.locator(".chip", has_text="computers")).to_be_visible()
    expect(tags.locator(".chip", has_text="klacht")).to_be_visible()

    # A note.
    page.get_by_label("Notitie toevoegen").fill("Bezoeker vraagt om meer computers; doorgeven aan Klik&Tik.")
    page.get_by_role("button", name="Notitie opslaan").click()
    expect(page.locator("#notes")).to_contain_text("doorgeven aan Klik&Tik")
    expect(page.locator("#notes")).to_contain_text(STAFF_RODEN)

    # Escape leaves the text field; r marks it reviewed, in place.
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    expect(page.locator("#review strong")).to_have_text("bekeken")
    expect(page.get_by_role("button", name=re.compile("Bekeken"))).to_have_attribute("aria-pressed", "true")
    assert_accessible(page)
    page.screenshot(path=screenshots / "review-answer.png", full_page=True)

    # j goes on to the next (older) new answer of Roden, keeping the filter.
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/responses/{world.answers['r_scale']}\?branch={roden}&status=new"))
    expect(page.locator(".tap-answer")).to_contain_text("Blij")
    assert_accessible(page)
    page.screenshot(path=screenshots / "review-tap-answer.png", full_page=True)
    # Nothing newer is new any more; without the filter, k goes to the newer answer.
    expect(page.locator("[data-shortcut=previous]")).to_have_count(0)
    page.goto(f"{live_server}/responses/{world.answers['r_scale']}")
    page.keyboard.press("k")
    expect(page).to_have_url(f"{live_server}/responses/{world.answers['r_video']}")
    page.goto(f"{live_server}/responses/{world.answers['r_scale']}?branch={roden}&status=new")

    # The inbox (still filtered to new) no longer lists it; the exports show the work.
    page.get_by_role("link", name=re.compile("Terug naar de lijst")).click()
    expect(page.locator("table.inbox tbody tr")).to_have_count(1)
    page.goto(f"{live_server}/responses?branch={roden}")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV").click()
    csv_path = tmp_path / "export.csv"
    csv_download.value.save_as(csv_path)
    rows_csv = list(csv.reader(io.StringIO(csv_path.read_text("utf-8-sig"))))
    header, body = rows_csv[0], rows_csv[1:]
    assert len(body) == 4
    by_uuid = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    reviewed = by_uuid[world.answers["r_video"]]
    assert reviewed["Status"] == "bekeken"
    assert reviewed["Tags"] == "computers, klacht"
    assert "doorgeven aan Klik&Tik" in reviewed["Notities"]
    assert reviewed["Link"] == f"{live_server}/responses/{world.answers['r_video']}"

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Excel (XLSX)").click()
    xlsx_path = tmp_path / "export.xlsx"
    xlsx_download.value.save_as(xlsx_path)
    book = openpyxl.load_workbook(xlsx_path, read_only=True)
    rows_xlsx = [list(row) for row in book.active.iter_rows(values_only=True)]
    book.close()
    assert rows_xlsx[0] == header
    # The same rows: times as date cells in XLSX and ISO text in CSV, the rest as text.
    time_column = header.index("Tijd")
    for in_csv, in_xlsx in zip(body, rows_xlsx[1:], strict=True):
        as_text = ["" if v is None else str(v) for v in in_xlsx]
        as_text[time_column] = in_xlsx[time_column].isoformat()
        in_csv = [*in_csv[:time_column], in_csv[time_column][:19], *in_csv[time_column + 1 :]]
        assert as_text == in_csv
    assert len(rows_xlsx) == len(rows_csv)

    assert problems == []

    with app.app_context():
        answer = db.session.get(Answer, world.answers["r_video"])
        assert answer is not None and answer.review_status is ReviewStatus.REVIEWED
        actions = [
            e.action
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.actor == STAFF_RODEN).order_by(AuditEvent.id)
            )
        ]
    for action in ("answer.watch", "answer.tag", "answer.note", "answer.status", "answers.export"):
        assert action in actions, actions
    assert actions.count("answers.export") == 2


def test_bulk_review_from_the_inbox_and_the_tag_list(
    app: Flask,
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    sign_in(page, live_server, STAFF_RODEN)
    page.goto(f"{live_server}/responses?status=new")
    expect(page.locator("table.inbox tbody tr")).to_have_count(2)
    page.get_by_label("Vink alle antwoorden op deze pagina aan").check()
    expect(page.locator("input[name=answer]:checked")).to_have_count(2)
    page.get_by_label("Wat wilt u doen").select_option(label="Status: bekeken")
    page.get_by_role("button", name="Uitvoeren").click()
    expect(page.get_by_role("status")).to_contain_text("2 antwoorden zijn nu bekeken.")
    expect(page.locator("table.inbox tbody tr")).to_have_text(["Geen antwoorden voor dit filter."])
    page.get_by_role("button", name="Uitloggen").click()

    sign_in(page, live_server, ADMIN)
    page.get_by_role("link", name="Tags").click()
    page.get_by_label("Naam", exact=True).fill("wifi")
    page.get_by_role("button", name="Tag toevoegen").click()
    expect(page.get_by_role("row", name=re.compile("wifi"))).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "review-tags.png", full_page=True)
