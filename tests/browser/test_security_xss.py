"""Script in names and notes comes out as text: no dialog fires in Chromium, no element is made,
and the literal text shows on the inbox, the answer page, and the tags, questions, kiosks,
branches and dashboard pages. The kiosk reports its own name, through the kiosk API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Dialog, Page, expect

from admin.extensions import db
from admin.models import Branch, Note, Question, Tag
from tests.admin.helpers import browser_sign_in
from tests.admin.review_world import ADMIN, build

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
PAYLOADS = {
    "tag": f"klacht{BREAKOUT}",
    "note": f"Zie {SCRIPT} en {BREAKOUT}",
    "question": f"Wat kan beter?{SCRIPT}",
    "branch": f"Roden{BREAKOUT}",
    "kiosk": f"hal{SCRIPT}",
}
# Where each payload must show as plain text.
PAGES = {
    "/responses": ("tag", "branch", "question"),
    "/tags": ("tag",),
    "/questions": ("question",),
    "/kiosks": ("kiosk", "branch"),
    "/branches": ("branch",),
    "/dashboard": ("branch",),
}


def _hostile_names(app: Flask, world, live_server: str) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.session.get(Tag, world.tags["klacht"]).name = PAYLOADS["tag"]
        db.session.get(Question, world.questions["open"]).name = PAYLOADS["question"]
        db.session.get(Branch, world.branches["Roden"]).name = PAYLOADS["branch"]
        db.session.add(Note(answer_uuid=world.answers["r_video"], body=PAYLOADS["note"]))
        db.session.commit()
    # The kiosk names itself when it asks to join; staff approve it without renaming it.
    client = app.test_client()
    created = client.post("/api/kiosk/v1/enrollments", json={"name": PAYLOADS["kiosk"]}).get_json()
    result = app.test_cli_runner().invoke(
        args=["kiosks", "approve", created["pairing_code"], "--branch", PAYLOADS["branch"]]
    )
    assert result.exit_code == 0, result.output


def _assert_inert(page: Page, *names: str) -> None:
    for name in names:
        expect(page.get_by_text(PAYLOADS[name], exact=False).filter(visible=True).first).to_be_visible()
    assert page.locator("img[src='x']").count() == 0
    assert (
        page.evaluate("() => [...document.scripts].filter(s => s.textContent.includes('alert(1)')).length")
        == 0
    )


def test_names_and_notes_with_script_stay_text(
    app: Flask, live_server: str, page: Page, make_branch: Callable, make_user: Callable, tmp_path: Path
) -> None:
    world = build(app, make_branch, make_user, tmp_path)
    _hostile_names(app, world, live_server)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    browser_sign_in(page, live_server, ADMIN)
    for path, names in PAGES.items():
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        _assert_inert(page, *names)

    response = page.goto(f"{live_server}/responses/{world.answers['r_video']}")
    assert response is not None and response.status == 200
    _assert_inert(page, "note", "tag", "question", "branch")
    assert dialogs == []
