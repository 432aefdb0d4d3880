"""In Chromium: a new admin sets up two-step sign-in, signs out, and signs in with password and code."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from admin.models import Role
from tests.admin.helpers import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


def _password(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()


def test_admin_sets_up_two_step_sign_in_then_signs_in_with_a_code(
    live_server: str, page: Page, make_user: Callable, screenshots: Path, assert_accessible: Callable
) -> None:
    make_user("new-admin@bieb.example", Role.ADMIN, totp_secret=None)
    _password(page, live_server, "new-admin@bieb.example")
    expect(page).to_have_url(f"{live_server}/account/two-step")
    # Nothing else is reachable before the set-up is done.
    page.goto(f"{live_server}/users")
    expect(page).to_have_url(f"{live_server}/account/two-step")
    expect(page.get_by_role("img", name="QR")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "two-step-setup.png", full_page=True)

    secret = page.locator("#two-step-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    code_field = page.locator("input[name=code]")
    code_field.fill("000000")
    page.get_by_role("button", name="Inloggen in twee stappen aanzetten").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/account/two-step")
    assert page.locator("#two-step-secret").inner_text().replace(" ", "") == secret

    used = totp.now()
    page.locator("input[name=code]").fill(used)
    page.get_by_role("button", name="Inloggen in twee stappen aanzetten").click()
    expect(page.get_by_role("heading", name="Nieuw voor mij")).to_be_visible()
    page.goto(f"{live_server}/account/two-step")
    expect(page).to_have_url(f"{live_server}/account")  # the secret is not shown again
    expect(page.locator("#two-step-secret")).to_have_count(0)
    page.get_by_role("button", name="Uitloggen").click()

    # Signing in again: the code just used is refused, and so is a wrong one.
    _password(page, live_server, "new-admin@bieb.example")
    expect(page).to_have_url(f"{live_server}/login/code")
    assert_accessible(page)
    page.screenshot(path=screenshots / "two-step-code.png", full_page=True)
    for refused in (used, "999999" if used != "999999" else "111111"):
        page.locator("input[name=code]").fill(refused)
        page.get_by_role("button", name="Inloggen").click()
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page).to_have_url(f"{live_server}/login/code")
    page.goto(f"{live_server}/users")
    expect(page).to_have_url(f"{live_server}/login?next=%2Fusers")

    # A fresh code (the next time step: the current one is used) signs in.
    _password(page, live_server, "new-admin@bieb.example")
    page.locator("input[name=code]").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_role("heading", name="Nieuw voor mij")).to_be_visible()
    page.goto(f"{live_server}/users")
    expect(page.get_by_role("heading", name="Gebruikers")).to_be_visible()
