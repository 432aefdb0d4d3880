"""No third-party requests from the staff pages: Chromium, signed in as admin on demo data (answers
with video and voice, dashboards), visits every staff page and records every request it makes;
all go to the page's own origin. (The kiosk's visitor page: tests/kiosk/test_security_third_party.py.)"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, Request
from sqlalchemy import select

from admin.extensions import db
from admin.models import Answer, AnswerKind
from tests.admin.helpers import MEDIA_SET, browser_sign_in
from tests.admin.test_security_headers import staff_get_paths

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


RESOURCE_URLS = """() => [...document.querySelectorAll('[src], link[href], video[poster], [srcset]')]
    .flatMap(e => [e.src, e.tagName === 'LINK' ? e.href : '', e.poster, e.srcset])
    .filter(url => url)"""


def own_origin_only(requests: list[str], base: str) -> list[str]:
    """The requests that left the page's own origin (data: and blob: stay in the page)."""
    origin = urlsplit(base)
    return [
        url
        for url in requests
        if urlsplit(url).scheme not in ("data", "blob")
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
    ]


def test_staff_pages_make_no_third_party_requests(app: Flask, live_server: str, page: Page) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--media", str(MEDIA_SET), "--days", "6"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        recorded = {
            kind: db.session.scalars(select(Answer.uuid).where(Answer.kind == kind).limit(1)).one()
            for kind in (AnswerKind.VIDEO, AnswerKind.VOICE)
        }
        db.session.remove()
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    browser_sign_in(page, live_server, "admin@vertelpaal.example", "vertelpaal-demo")
    # Every page (files and downloads are fetched by the pages themselves, or are not pages).
    paths = [
        p
        for p in staff_get_paths(app)
        if not p.startswith(("/login", "/account/two-step", "/media/"))
        and not p.endswith((".csv", ".xlsx", ".json", "/download"))
    ]
    paths += [f"/responses/{uuid}" for uuid in recorded.values()]
    resources: list[str] = []  # also what CSP would block before it became a request
    for path in paths:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        resources += page.evaluate(RESOURCE_URLS)
    # The answer page really loaded its recording (the check sees media requests too).
    page.goto(f"{live_server}/responses/{recorded[AnswerKind.VIDEO]}")
    page.locator("video").first.evaluate("video => video.play().catch(() => null)")
    page.wait_for_load_state("networkidle")
    assert any("/media/" in url for url in requests)
    assert any(url.endswith(".js") for url in requests)
    assert len(requests) > 2 * len(paths)
    assert own_origin_only(requests, live_server) == []
    assert len(resources) > len(paths) and own_origin_only(resources, live_server) == []
