"""Helpers for admin tests: signing in through the real login form (and its two-step code)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import select

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The fuzzers draw the same cases on every run, so a CI run fails only for what the next one can
# reproduce. VERTELPAAL_FUZZ_EXAMPLES=N draws N new cases per target on every run: a long hunt.
FUZZ_EXAMPLES = int(os.environ.get("VERTELPAAL_FUZZ_EXAMPLES", "20"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize="VERTELPAAL_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

MEDIA_SET = Path(__file__).resolve().parents[2] / "media"
PASSWORD = "correct horse battery"
# Admins made by the test factories (and the demo admin) have this two-step secret.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if response.status_code == 302 and response.location.endswith("/login/code"):
        token = csrf_token(client, "/login/code")
        code = next_code(client.application, email)
        response = client.post("/login/code", data={"code": code, "csrf_token": token})
    return response.status_code


def next_code(app: Flask, email: str, at: float | None = None) -> str:
    """A two-step code the account has not used yet, valid for at least one more 30 s step.

    The step before the current one is accepted too, but it expires at the next step boundary,
    perhaps before the browser submits it; so only the current and the next step are handed out,
    waiting for a new step when both are used."""
    from admin.accounts import two_step
    from admin.extensions import db
    from admin.models import User

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
        assert user is not None and user.totp_secret, f"{email} has no two-step sign-in"
        secret, last = user.totp_secret, user.totp_last_step
        db.session.remove()
    totp = pyotp.TOTP(secret)
    while True:
        moment = time.time() if at is None else at
        current = totp.timecode(moment)
        for step in range(current, current + two_step.DRIFT_STEPS + 1):
            if last is None or step > last:
                return totp.generate_otp(step)
        assert at is None, f"{email} has used every code of {at}"
        time.sleep(totp.interval - moment % totp.interval + 0.05)


# Base URL of each running live server → its app, so a browser sign-in can find a fresh code.
LIVE_APPS: dict[str, Flask] = {}


def browser_sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login page in Chromium, typing the two-step code when one is asked."""
    page.goto(f"{base}/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
    if page.url.endswith("/login/code"):
        page.locator("input[name=code]").fill(next_code(LIVE_APPS[base], email))
        page.get_by_role("button", name="Inloggen").click()
        page.wait_for_load_state()


class KeptOpen(io.FileIO):
    """The recording for tuspy, which this test closes (with ``contextlib.closing``).

    tuspy leaks the files it opens itself from ``file_path`` (a ResourceWarning), and closes a
    given ``file_stream`` with ``with`` after fingerprinting it, though it reads it again later.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")

    def __exit__(self, *exc: object) -> None:
        return None


def new_kiosk(app: Flask, branch_id: int) -> str:
    """An enrolled kiosk in the branch; its bearer token."""
    from admin.extensions import db
    from admin.kiosks.tokens import hash_secret, new_token
    from admin.models import Kiosk

    token = new_token()
    with app.app_context():
        db.session.add(Kiosk(name=f"Kiosk {token[:6]}", branch_id=branch_id, token_hash=hash_secret(token)))
        db.session.commit()
    return token


def tuspy_uploader(
    endpoint: str, token: str, recording: KeptOpen, chunk: int, urls: Any, **options: Any
) -> Any:
    """A tuspy uploader of a kiosk recording (video/mp4 unless ``metadata`` says otherwise), which
    keeps its URL in ``urls`` so that a new uploader of the same file resumes it."""
    from tusclient.client import TusClient

    recording.seek(0)
    metadata = {"filetype": "video/mp4", "sha256": hashlib.sha256(recording.read()).hexdigest()}
    recording.seek(0)
    client = TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
    metadata.update(options.pop("metadata", {}))
    return client.uploader(
        file_stream=recording,
        chunk_size=chunk,
        metadata=metadata,
        store_url=True,
        url_storage=urls,
        **options,
    )
