"""Dashboards in Chromium: a staff member's review work shows up in the tag figures and the
answers export; charts are drawn beside their tables; axe finds nothing on the per-branch,
across-branches and period-before dashboards."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.admin.dashboard_world import build_dashboard_world
from tests.admin.review_world import ADMIN, STAFF_RODEN, World
from tests.browser.test_admin_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


@pytest.fixture
def world(app: Flask, make_branch: Callable, make_user: Callable, tmp_path: Path) -> World:
    return build_dashboard_world(app, make_branch, make_user, tmp_path)


def watch_for_errors(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def table_rows(page: Page, key: str) -> list[list[str]]:
    """A figure table's body rows as cell texts."""
    return page.locator(f"#t-{key} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )


def assert_drawn(canvas: Locator) -> None:
    """Chart.js drew on the canvas: it says so, and the canvas has coloured pixels."""
    expect(canvas).to_have_attribute("data-drawn", "true")
    coloured = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0) n++; } return n; }"""
    )
    assert coloured > 500, coloured


def choose_march(page: Page, branch: str | None) -> None:
    if branch:
        page.locator("#branch").select_option(label=branch)
    page.locator("#from").fill("2026-03-01")
    page.locator("#to").fill("2026-03-31")
    page.locator("#per").select_option("week")
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_load_state()


def test_review_work_shows_in_the_branch_dashboard_and_the_export(
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
    tmp_path: Path,
) -> None:
    problems = watch_for_errors(page)
    sign_in(page, live_server, STAFF_RODEN)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    roden = world.branches["Roden"]
    choose_march(page, "Roden")
    expect(page).to_have_url(
        # The member, activity and location filters left at "everyone": empty.
        re.compile(
            rf"/dashboard\?branch={roden}&from=2026-03-01&to=2026-03-31&per=week&member=&activity=&location=$"
        )
    )
    page.wait_for_load_state()  # the URL changes before the new page is read
    assert table_rows(page, "tags") == [["compliment", "1"], ["klacht", "1"]]
    assert table_rows(page, "activity")[:3] == [
        ["2026-02-23", "1", "2"],
        ["2026-03-02", "2", "2"],
        ["2026-03-09", "1", "3"],
    ]
    canvases = page.locator("canvas[data-chart-for]")
    # activity, members and non-members, activities, two questions, tags, the period before (one
    # branch: no side-by-side figure)
    expect(canvases).to_have_count(7)
    for number in range(7):
        assert_drawn(canvases.nth(number))
    expect(page.locator("#retention")).to_contain_text("4")
    assert_accessible(page)
    page.screenshot(path=screenshots / "dashboard-branch.png", full_page=True)
    dashboard_url = page.url

    # Tag the happy tap answer and mark it reviewed on its answer page.
    page.goto(f"{live_server}/responses/{world.answers['r_scale']}")
    page.keyboard.press("t")
    page.keyboard.type("computers")
    page.keyboard.press("Enter")
    expect(page.locator("#tags .chip", has_text="computers")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    expect(page.locator("#review strong")).to_have_text("bekeken")

    # The dashboard counts the new tag; its tag row leads to the tagged answers in the inbox.
    page.goto(dashboard_url)
    assert table_rows(page, "tags") == [["compliment", "1"], ["computers", "1"], ["klacht", "1"]]
    assert_drawn(page.locator("canvas[data-chart-for=t-tags]"))
    page.locator("#t-tags").get_by_role("link", name="computers").click()
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Hoe was uw bezoek?")

    # The answers export of the same days says so too.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    path = tmp_path / "answers.csv"
    download.value.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
    assert [(row["Tags"], row["Status"]) for row in exported] == [("computers", "bekeken")]

    # And the dashboard's own CSV carries the tag table as the page shows it.
    page.goto(dashboard_url)
    with page.expect_download() as download:
        page.locator(".exports").get_by_role("link", name="CSV").click()
    figures = tmp_path / "dashboard.csv"
    download.value.save_as(figures)
    lines = list(csv.reader(io.StringIO(figures.read_text("utf-8-sig"))))
    assert ["computers", "1"] in lines and ["klacht", "1"] in lines
    assert problems == []


def test_across_branches_and_the_period_before(
    live_server: str,
    page: Page,
    world: World,
    screenshots: Path,
    assert_accessible: Callable[[Page], None],
) -> None:
    problems = watch_for_errors(page)
    sign_in(page, live_server, ADMIN)
    page.goto(f"{live_server}/dashboard")
    choose_march(page, None)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
    assert table_rows(page, "branches") == [
        ["Borger", "1", "2", "1", "1", "0", "0"],
        ["Roden", "4", "7", "2", "2", "1", "50"],
    ]
    assert_drawn(page.locator("canvas[data-chart-for=t-branches]"))
    assert_drawn(page.locator("canvas[data-chart-for=t-activity]"))
    assert_accessible(page)
    page.screenshot(path=screenshots / "dashboard-across.png", full_page=True)

    # The period before: February's 31 days, reached by one link and kept in the URL.
    page.locator("form[role=search]").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"from=2026-01-29&to=2026-02-28"))
    page.wait_for_load_state()  # the URL changes before the new page is read
    assert [row[2] for row in table_rows(page, "branches")] == ["0", "2"]
    assert_accessible(page)
    page.screenshot(path=screenshots / "dashboard-previous.png", full_page=True)

    # A branch's row opens that branch's dashboard for the same period.
    page.locator("#t-branches").get_by_role("link", name="Roden").click()
    expect(page).to_have_url(re.compile(rf"branch={world.branches['Roden']}&"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Roden")
    assert problems == []
