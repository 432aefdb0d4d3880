"""A new kiosk in Chromium: it shows its pairing code until staff approve it, then the questions
of its branch, fetched by its own sync service from the admin server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from admin.demo.seed import seed
from admin.extensions import db
from tests.admin.helpers import MEDIA_SET
from tests.support.kiosk_process import StartKiosk

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


def test_the_pairing_code_on_screen_enrolls_the_kiosk(
    app: Flask,
    live_server: str,
    start_kiosk: StartKiosk,
    browser: Browser,
    screenshots: Path,
    assert_accessible: Callable,
) -> None:
    with app.app_context():
        seed(MEDIA_SET, days=1)
        db.session.commit()
    kiosk = start_kiosk(server_url=live_server)
    kiosk.start_sync()
    page = browser.new_page(viewport={"width": 1920, "height": 1080}, reduced_motion="reduce")
    page.goto(kiosk.url)
    code = page.locator("#pairing-code")
    expect(code).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"), timeout=20_000)
    page.screenshot(path=screenshots / "kiosk-0-pairing.png")
    assert_accessible(page)

    result = app.test_cli_runner().invoke(args=["kiosks", "approve", code.inner_text(), "--branch", "Peize"])
    assert result.exit_code == 0, result.output
    # The sync service collects its token, downloads every question file, then the page switches.
    expect(page.locator("body")).to_have_attribute("data-screen", "attract", timeout=60_000)
    show = page.evaluate("fetch('/api/show').then((r) => r.json())")
    assert show["branch"]["name"] == "Peize" and show["status"] == "ready"
    first = show["questionnaire"]["questions"][0]
    assert first["prompts"]["nl"]["video"].startswith("/cache/")
    assert page.evaluate(f"fetch('{first['prompts']['nl']['video']}').then((r) => r.status)") == 200
    page.close()
