"""Dashboard figures split by "are you a member?" and by activity, and filtered on location:
exact numbers on SQLite and PostgreSQL, the same on the page, in /dashboard.json, in the exports
and in the inbox the numbers link to."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from admin.models import AnswerKind
from tests.admin.dashboard_world import add_session, build_dashboard_world
from tests.admin.helpers import login
from tests.admin.review_world import STAFF_RODEN, World
from tests.admin.test_dashboards import as_json, inbox_count, page_tables

JUNE = "from=2026-06-01&to=2026-06-30&per=month"
MARKET = "Weekmarkt Roden"


@pytest.fixture
def world(app: Flask, make_branch: Callable, make_user: Callable, tmp_path: Path) -> World:
    world = build_dashboard_world(app, make_branch, make_user, tmp_path)
    scale, choice = AnswerKind.SCALE, AnswerKind.CHOICE
    with app.app_context():
        for day, answers, member, activity, location in (
            (2, [("scale", scale, "3"), ("scale", scale, "1")], "yes", "Klik&Tik", None),
            (9, [("scale", scale, "3")], "no", "Klik&Tik", MARKET),
            (9, [("choice", choice, "borrow"), ("choice", choice, "computer")], "unknown", None, MARKET),
            (16, [("scale", scale, "2")], None, None, None),
            (23, [("scale", scale, "3")], "yes", "Taalhuis", None),
        ):
            at = datetime(2026, 6, day, 10, 0, tzinfo=UTC)
            add_session(world, "Roden", at, answers, member=member, activity=activity, location=location)
        db.session.commit()
    return world


def totals(sessions: int, answers: int, scale: int, positive: int) -> dict[str, object]:
    return {
        "sessions": sessions,
        "answers": answers,
        "recordings": 0,
        "scale_answers": scale,
        "positive": positive,
        "positive_share": round(positive / scale, 4) if scale else None,
    }


def test_every_total_split_by_member_and_by_activity(client: FlaskClient, world: World) -> None:
    login(client, STAFF_RODEN)
    query = f"branch={world.branches['Roden']}&{JUNE}"
    data = as_json(client, query)
    assert data["members"] == [
        {"member": "yes", **totals(2, 3, 3, 2)},
        {"member": "no", **totals(1, 1, 1, 1)},
        {"member": "unknown", **totals(1, 2, 0, 0)},
        {"member": "none", **totals(1, 1, 1, 0)},
    ]
    assert data["activities"] == [
        {"activity": None, **totals(2, 3, 1, 0)},
        {"activity": "Klik&Tik", **totals(2, 3, 3, 2)},
        {"activity": "Taalhuis", **totals(1, 1, 1, 1)},
    ]
    assert data["totals"] == totals(5, 7, 5, 3)
    # The groups add up to the whole.
    for split in (data["members"], data["activities"]):
        assert sum(g["answers"] for g in split) == 7 and sum(g["sessions"] for g in split) == 5

    tables = page_tables(client, query)
    assert tables["members"] == [
        ["Lid", "2", "3", "0", "3", "2", "66,7"],
        ["Geen lid", "1", "1", "0", "1", "1", "100"],
        ["Weet het niet", "1", "2", "0", "0", "0", "—"],
        ["Niet gevraagd", "1", "1", "0", "1", "0", "0"],
    ]
    assert [row[:3] for row in tables["activities"]] == [
        ["Algemeen bezoek", "2", "3"],
        ["Klik&Tik", "2", "3"],
        ["Taalhuis", "1", "1"],
    ]
    # Each linked count is what the inbox lists under the same filter.
    page = client.get(f"/dashboard?{query}").get_data(as_text=True)
    for group, answers in (
        ("member=yes", 3),
        ("member=none", 1),
        ("activity=Klik%26Tik", 3),
        ("activity=-", 3),
    ):
        href = (
            f"/responses?from=2026-06-01&amp;to=2026-06-30&amp;branch={world.branches['Roden']}&amp;{group}"
        )
        assert href.replace("&amp;", "&") in page.replace("&amp;", "&"), group
        assert inbox_count(client, href.replace("&amp;", "&")) == answers, group

    with client.get(f"/dashboard.csv?{query}") as response:
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["Klik&Tik", "2", "3", "0", "3", "2", "66,7"] in rows or [
        "Klik&Tik",
        "2",
        "3",
        "0",
        "3",
        "2",
        "66.7",
    ] in rows


def test_filters_on_location_member_and_activity(client: FlaskClient, world: World) -> None:
    login(client, STAFF_RODEN)
    base = f"branch={world.branches['Roden']}&{JUNE}"
    expected = {
        f"location={quote(MARKET)}": totals(2, 3, 1, 1),
        "location=-": totals(3, 4, 4, 2),  # in the branch itself
        "member=yes&activity=Klik%26Tik": totals(1, 2, 2, 1),
        "member=no&location=-": totals(0, 0, 0, 0),
        "activity=-": totals(2, 3, 1, 0),
    }
    for filters, figures in expected.items():
        data = as_json(client, f"{base}&{filters}")
        assert data["totals"] == figures, filters
        # Every figure follows the filter: the sessions over time and the split add up to it.
        assert sum(bucket["sessions"] for bucket in data["activity"]) == figures["sessions"], filters
        assert sum(g["answers"] for g in data["members"]) == figures["answers"], filters
    market = as_json(client, f"{base}&location={quote(MARKET)}")
    assert market["filters"] == {"member": None, "activity": None, "location": MARKET}
    assert [o["count"] for q in market["questions"] for o in q["options"] if q["kind"] == "choice"] == [
        1,
        1,
        0,
    ]
    page = client.get(f"/dashboard?{base}&location={quote(MARKET)}").get_data(as_text=True)
    assert f'<option value="{MARKET}" selected>' in page
    for bad in ("member=maybe", "activity=" + "x" * 121):
        assert client.get(f"/dashboard.json?{base}&{bad}").status_code == 400, bad
