"""A kiosk without a microphone, end to end: the page, the session on the server, the heartbeat
and the Kiosks page.

Real processes on 127.0.0.1: the admin server under gunicorn (SQLite is enough here), the kiosk
service and its sync service as ``python -m kiosk run|sync``, with a PulseAudio server that has no
source at all (a computer without a sound card) and the sample video as camera; Chromium for the
visitor and for the library's staff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from kiosk.hardware.pulse import PulseNullSink
from tests.admin.helpers import browser_sign_in
from tests.e2e.stack import AdminServer, admin_env, flask, tail, wait_until
from tests.support.kiosk_process import Kiosk
from tests.support.net import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.audio]

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "media" / "sample" / "camera.mp4"
STAFF = "roden@vertelpaal.example"  # the demo's staff account for Roden (no two-step sign-in)
DEMO_PASSWORD = "vertelpaal-demo"


@pytest.fixture
def soundless() -> Iterator[PulseNullSink]:
    with PulseNullSink("soundless") as sink:
        sink.unplug()
        yield sink


def enrolled_kiosk(
    folder: Path, server: AdminServer, env: dict[str, str], sink: PulseNullSink
) -> tuple[Kiosk, int]:
    """A kiosk service and its sync service, paired with Roden through the pairing code."""
    port = free_port()
    folder.mkdir()
    config = folder / "kiosk.toml"
    config.write_text(
        f'data_dir = "{folder / "data"}"\nport = {port}\nlanguages = ["nl", "en"]\n'
        f'server_url = "{server.url}"\n'
        f'[camera]\nsource = "{CAMERA}"\n[microphone]\ndevice = "default"\n'
        '[recorder]\nprofile = "720p-veryfast"\n'
        "[sync]\ninterval_seconds = 1\nmax_backoff_seconds = 2\n",
        "utf-8",
    )
    kiosk_env = {**env, **sink.client_env}
    kiosk = Kiosk(f"http://127.0.0.1:{port}/", port, folder / "data", config, kiosk_env, folder / "kiosk.log")
    kiosk.start()
    sync = kiosk.start_sync()
    sync_log = kiosk.log.with_name("sync.log")
    enrollment = kiosk.data_dir / "sync" / "enrollment.json"
    wait_until(lambda: enrollment.is_file() or sync.poll() is not None, "the pairing code", 60, log=sync_log)
    assert sync.poll() is None, tail(sync_log)
    code = json.loads(enrollment.read_text())["pairing_code"]
    approved = flask(env, "kiosks", "approve", code, "--branch", "Roden")
    kiosk_id = int(approved.split()[1])  # "Kiosk 7 (…) enrolled in Roden."
    synced = kiosk.data_dir / "sync" / "config.json"
    wait_until(synced.is_file, "the kiosk's questions", 120, log=sync_log)
    return kiosk, kiosk_id


def server_facts(
    env: dict[str, str], kiosk_id: int
) -> tuple[list[tuple[str, str | None]], dict[str, object], str]:
    """(session uuid, missing_devices) of the kiosk's sessions, its last heartbeat, an answer uuid."""
    from admin import create_app
    from admin.extensions import db
    from admin.models import Answer, Kiosk, Session

    app = create_app({"ENVIRON": {k: env[k] for k in ("VERTELPAAL_ENV", "DATABASE_URL", "MEDIA_ROOT")}})
    with app.app_context():
        try:
            kiosk = db.session.get_one(Kiosk, kiosk_id)
            sessions = db.session.execute(
                select(Session.uuid, Session.missing_devices).where(Session.kiosk_id == kiosk.id)
            ).all()
            answer = db.session.scalar(
                select(Answer.uuid).where(Answer.session_uuid.in_([s.uuid for s in sessions])).limit(1)
            )
            return [(s.uuid, s.missing_devices) for s in sessions], dict(kiosk.status or {}), answer or ""
        finally:
            db.session.remove()
            db.engine.dispose()


def visitor_taps_through(page: Page, kiosk: Kiosk) -> int:
    """A visitor at the kiosk; returns how many questions were asked."""
    page.goto(kiosk.url)
    expect(page.locator("body")).to_have_attribute("data-screen", "attract", timeout=30_000)
    page.locator("#attract-video").click()
    page.get_by_role("button", name="Verder in deze taal", exact=True).click()
    # The demo questionnaire asks the member question first (when it is on).
    expect(page.locator("body")).not_to_have_attribute("data-screen", "language")
    if page.locator("body").get_attribute("data-screen") == "member":
        page.get_by_role("button", name="Nee, ik ben geen lid", exact=True).click()
    asked, total = 0, None
    while asked != total:
        # Without a microphone nothing can be recorded: no consent screen, only tap questions.
        expect(page.locator("body")).to_have_attribute("data-screen", "question")
        expect(page.locator("#question")).to_have_attribute("data-phase", "tap")
        asked += 1
        title = page.locator("#question-title")
        expect(title).to_contain_text(f"Vraag {asked} van ")
        found = re.search(r"Vraag \d+ van (\d+)", title.text_content() or "")
        assert found is not None
        total = int(found.group(1))
        page.locator("#options .option").first.click()
    expect(page.locator("body")).to_have_attribute("data-screen", "thanks")
    return asked


def test_a_kiosk_without_a_microphone_says_so_to_the_server_and_its_staff(
    tmp_path: Path, browser: Browser, soundless: PulseNullSink, screenshots: Path
) -> None:
    env = admin_env(f"sqlite:///{tmp_path / 'admin.sqlite3'}", tmp_path / "media")
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed", "--days", "1")
    server = AdminServer(free_port(), env, tmp_path / "gunicorn.log").start()
    kiosk: Kiosk | None = None
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="nl-NL", reduced_motion="reduce"
    )
    try:
        kiosk, kiosk_id = enrolled_kiosk(tmp_path / "kiosk", server, env, soundless)
        visitor = context.new_page()
        # "Bezoekers 2026" asks three tap questions and an open one, which needs the microphone.
        assert visitor_taps_through(visitor, kiosk) == 3
        # The page finishes the session after the thanks screen appears: not closed before that.
        kiosk.wait_for(lambda: all(s.finished_at for s in kiosk.sessions()), "the session to finish")
        visitor.close()

        def arrived() -> tuple[list[tuple[str, str | None]], dict[str, object], str] | None:
            facts = server_facts(env, kiosk_id)
            return facts if facts[0] and not kiosk.sessions() else None

        facts = wait_until(
            arrived, "the session on the server", 60, poll=0.5, log=kiosk.log.with_name("sync.log")
        )
        sessions, status, answer = facts
        assert [missing for _, missing in sessions] == ["microphone"]
        assert status["microphone_ok"] is False and "microphone" in str(status["microphone_message"])
        assert status["camera_ok"] is True

        staff = context.new_page()
        browser_sign_in(staff, server.url, STAFF, DEMO_PASSWORD)
        staff.goto(f"{server.url}/kiosks")
        row = staff.get_by_role("row").filter(has=staff.get_by_text("Microfoon ontbreekt"))
        expect(row).to_have_count(1)
        expect(row.get_by_text("Camera ontbreekt")).to_have_count(0)
        expect(row.locator(".device-message")).to_contain_text("microphone")
        staff.screenshot(path=screenshots / "kiosks-page-microphone-missing.png", full_page=True)

        staff.goto(f"{server.url}/responses/{answer}")
        expect(staff.locator("dd.missing-devices")).to_contain_text("microfoon")
        expect(staff.get_by_text("Werkte niet", exact=True)).to_be_visible()
        staff.screenshot(path=screenshots / "answer-page-microphone-missing.png", full_page=True)
    finally:
        context.close()
        if kiosk is not None:
            kiosk.stop()
        server.stop()
