"""Dashboards: each figure's exact numbers on a hand-made data set, on the page (its tables), in
the JSON endpoint and in the exports; branch scoping; bad arguments."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.dashboards.queries import Period, bucket_starts, positive_values
from admin.dashboards.report import ArgsError, DashboardArgs
from admin.extensions import db
from admin.models import AnswerOption, AuditEvent, Question, QuestionKind
from tests.admin.dashboard_world import build_dashboard_world
from tests.admin.helpers import login
from tests.admin.review_world import ADMIN, STAFF_BORGER, STAFF_RODEN, VIEWER_RODEN, World

MARCH = "from=2026-03-01&to=2026-03-31"


@pytest.fixture
def world(app: Flask, make_branch: Callable, make_user: Callable, tmp_path: Path) -> World:
    return build_dashboard_world(app, make_branch, make_user, tmp_path)


class _Tables(HTMLParser):
    """The page's figure tables by id: every row (body and footer) as the texts of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id", "").startswith("t-"):
            self._table = str(dict(attrs)["id"])[2:]
            self.tables[self._table] = []
        elif self._table and tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif self._table and tag == "tr" and self._section != "thead":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(client: FlaskClient, query: str) -> dict[str, list[list[str]]]:
    response = client.get(f"/dashboard?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    return parser.tables


def numbers(rows: list[list[str]]) -> list[list[str]]:
    """The rows without their first cell (a label that the Dutch catalog may translate)."""
    return [row[1:] for row in rows]


def as_json(client: FlaskClient, query: str) -> dict[str, Any]:
    response = client.get(f"/dashboard.json?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- the arguments -----------------------------------------------------------------------------


def test_arguments_read_from_the_url_and_refuse_what_cannot_be_read() -> None:
    today = date(2026, 5, 20)
    args = DashboardArgs.from_args(
        {"branch": "3", "from": "2026-01-01", "to": "2026-03-31", "per": "month"}, today
    )
    assert args == DashboardArgs(3, Period(date(2026, 1, 1), date(2026, 3, 31)), "month")
    assert args.to_args() == {"branch": "3", "from": "2026-01-01", "to": "2026-03-31", "per": "month"}
    # Without dates: this month and the two before it, per week.
    assert DashboardArgs.from_args({}, today) == DashboardArgs(None, Period(date(2026, 3, 1), today), "week")
    assert args.period.previous() == Period(date(2025, 10, 3), date(2025, 12, 31))
    for bad in (
        {"branch": "abc"},
        {"branch": "0"},
        {"from": "2026-02-30"},
        {"to": "yesterday"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"per": "day"},
        {"from": "2020-01-01", "to": "2026-01-01", "per": "month"},
        {"from": "2023-01-01", "to": "2026-01-01", "per": "week"},
        {"branch": "9" * 12},
        {"from": "0001-01-01", "to": "0001-01-02"},
        {"from": "9999-12-30", "to": "9999-12-31"},
    ):
        with pytest.raises(ArgsError):
            DashboardArgs.from_args(bad, today)


def test_positive_is_the_top_of_a_scale_without_its_middle() -> None:
    def scale(points: int, kind: QuestionKind = QuestionKind.SCALE) -> Question:
        # Positions out of order on purpose: the rule goes by position, not by list order.
        options = [AnswerOption(position=n, value=f"v{n}") for n in reversed(range(points))]
        return Question(kind=kind, options=options)

    assert positive_values(scale(5)) == {"v3", "v4"}
    assert positive_values(scale(4)) == {"v2", "v3"}
    assert positive_values(scale(3)) == {"v2"}
    assert positive_values(scale(1)) == set()
    assert positive_values(scale(4, QuestionKind.CHOICE)) == set()


def test_buckets_start_on_local_mondays_and_first_days() -> None:
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    assert bucket_starts(period, "week") == [
        date(2026, 2, 23),
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 23),
        date(2026, 3, 30),
    ]
    assert bucket_starts(Period(date(2025, 11, 15), date(2026, 2, 1)), "month") == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


# --- the figures of one branch -------------------------------------------------------------------


def test_branch_dashboard_shows_the_exact_figures(client: FlaskClient, world: World) -> None:
    login(client, STAFF_RODEN)
    roden = world.branches["Roden"]
    query = f"branch={roden}&{MARCH}&per=week"
    tables = page_tables(client, query)
    data = as_json(client, query)

    # Weeks in Amsterdam time: the course answer at 23:30 UTC on Sunday 1 March is Monday 00:30.
    assert tables["activity"] == [
        ["2026-02-23", "1", "2"],
        ["2026-03-02", "2", "2"],
        ["2026-03-09", "1", "3"],
        ["2026-03-16", "0", "0"],
        ["2026-03-23", "0", "0"],
        ["2026-03-30", "0", "0"],
    ]
    assert data["activity"] == [
        {"start": "2026-02-23", "sessions": 1, "answers": 2},
        {"start": "2026-03-02", "sessions": 2, "answers": 2},
        {"start": "2026-03-09", "sessions": 1, "answers": 3},
        {"start": "2026-03-16", "sessions": 0, "answers": 0},
        {"start": "2026-03-23", "sessions": 0, "answers": 0},
        {"start": "2026-03-30", "sessions": 0, "answers": 0},
    ]

    # The three-face scale: one happy (positive), one unhappy; the choice question has no positive side.
    scale, choice = world.questions["scale"], world.questions["choice"]
    assert numbers(tables[f"question-{scale}"]) == [
        ["1", "50"],
        ["0", "0"],
        ["1", "50"],
        ["2", "100"],  # total
        ["1", "50"],  # positive
    ]
    assert [row[0] for row in tables[f"question-{scale}"][:3]] == ["Niet blij", "Gewoon", "Blij"]
    assert numbers(tables[f"question-{choice}"]) == [["2", "66,7"], ["1", "33,3"], ["0", "0"], ["3", "100"]]
    assert [row[0] for row in tables[f"question-{choice}"][:3]] == ["Boeken lenen", "Computer", "Activiteit"]
    by_id = {q["id"]: q for q in data["questions"]}
    assert set(by_id) == {scale, choice}
    assert (
        by_id[scale]["total"] == 2 and by_id[scale]["positive"] == 1 and by_id[scale]["positive_share"] == 0.5
    )
    assert [(o["value"], o["count"], o["positive"]) for o in by_id[scale]["options"]] == [
        ("1", 1, False),
        ("2", 0, False),
        ("3", 1, True),
    ]
    assert by_id[choice]["positive"] is None and by_id[choice]["positive_share"] is None
    assert [(o["value"], o["count"]) for o in by_id[choice]["options"]] == [
        ("borrow", 2),
        ("computer", 1),
        ("activity", 0),
    ]

    # Tags on Roden's March answers, most used first (ties by name).
    assert tables["tags"] == [["compliment", "1"], ["klacht", "1"]]
    assert [(t["name"], t["count"]) for t in data["tags"]] == [("compliment", 1), ("klacht", 1)]

    # March beside the 31 days before it (29 January to 28 February).
    assert numbers(tables["previous"]) == [
        ["4", "1", "3"],
        ["7", "2", "5"],
        ["2", "0", "2"],
        ["2", "2", "0"],
        ["1", "1", "0"],
        ["50", "50", "0"],
    ]
    assert data["previous_period"] == {"from": "2026-01-29", "to": "2026-02-28"}
    assert data["totals"] == {
        "sessions": 4,
        "answers": 7,
        "recordings": 2,
        "scale_answers": 2,
        "positive": 1,
        "positive_share": 0.5,
    }
    assert data["previous_totals"]["answers"] == 2 and data["previous_totals"]["positive"] == 1

    # One branch: no side-by-side table; the retention purges of March are counted.
    assert "branches" not in tables and data["branches"] == []
    assert data["recordings_removed"] == 4
    assert data["branch"] == {"id": roden, "name": "Roden"}


def test_months_and_the_page_text(client: FlaskClient, world: World) -> None:
    login(client, VIEWER_RODEN)  # viewers look at their branches too
    roden = world.branches["Roden"]
    query = f"branch={roden}&from=2026-02-01&to=2026-03-31&per=month"
    assert page_tables(client, query)["activity"] == [["2026-02", "1", "2"], ["2026-03", "4", "7"]]
    page = client.get(f"/dashboard?{query}").get_data(as_text=True)
    # February's purge counts too (4 + 9), in English or, once translated, in Dutch.
    assert "13 recordings removed (retention period)" in page or "13 opnames verwijderd" in page
    assert as_json(client, query)["recordings_removed"] == 13
    # The rule for "positive" is on the page.
    assert 'id="positive-rule"' in page
    # The figures link to the inbox of the same branch and days.
    assert f'href="/responses?from=2026-02-01&amp;to=2026-03-31&amp;branch={roden}"' in page


# --- across branches and scoping ---------------------------------------------------------------


def test_across_branches_side_by_side_for_an_admin(client: FlaskClient, world: World) -> None:
    assert login(client, ADMIN) == 302
    tables = page_tables(client, f"{MARCH}&per=month")
    assert tables["activity"] == [["2026-03", "5", "9"]]
    assert tables["branches"] == [
        ["Borger", "1", "2", "1", "1", "0", "0"],
        ["Roden", "4", "7", "2", "2", "1", "50"],
    ]
    assert tables["tags"] == [["klacht", "2"], ["compliment", "1"]]
    data = as_json(client, f"{MARCH}&per=month")
    assert data["branch"] is None
    assert [(b["name"], b["answers"], b["positive"], b["positive_share"]) for b in data["branches"]] == [
        ("Borger", 2, 0, 0.0),
        ("Roden", 7, 1, 0.5),
    ]
    assert data["totals"]["answers"] == 9 and data["totals"]["scale_answers"] == 3
    scale = next(q for q in data["questions"] if q["id"] == world.questions["scale"])
    assert [o["count"] for o in scale["options"]] == [1, 1, 1]


def test_staff_see_only_their_branches(client: FlaskClient, world: World) -> None:
    login(client, STAFF_BORGER)
    roden, borger = world.branches["Roden"], world.branches["Borger"]
    for path in ("/dashboard", "/dashboard.json", "/dashboard.csv", "/dashboard.xlsx"):
        assert client.get(f"{path}?branch={roden}").status_code == 404, path
        assert client.get(f"{path}?branch=99999").status_code == 404, path
    # Across "all my branches" is only Borger's.
    data = as_json(client, f"{MARCH}&per=month")
    assert data["totals"]["answers"] == 2 and data["activity"][0]["answers"] == 2
    assert [t["name"] for t in data["tags"]] == ["klacht"]
    assert data == as_json(client, f"branch={borger}&{MARCH}&per=month") | {"branch": None}
    page = client.get("/dashboard").get_data(as_text=True)
    assert ">Roden<" not in page and ">Borger<" in page


def test_signed_out_and_bad_arguments(client: FlaskClient, world: World) -> None:
    assert client.get("/dashboard.json").status_code == 401
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.location
    assert client.get("/dashboard.csv").status_code == 302
    login(client, STAFF_RODEN)
    for query in (
        "from=2026-02-30",
        "per=day",
        "branch=abc",
        "from=2026-03-02&to=2026-03-01",
        "from=0001-01-01&to=0001-01-02",
    ):
        assert client.get(f"/dashboard?{query}").status_code == 400, query
        response = client.get(f"/dashboard.json?{query}")
        assert response.status_code == 400 and response.get_json()["error"], query
        assert client.get(f"/dashboard.csv?{query}").status_code == 400, query


# --- exports -------------------------------------------------------------------------------------


def test_exports_hold_the_page_tables_and_are_audited(app: Flask, client: FlaskClient, world: World) -> None:
    login(client, STAFF_RODEN)
    roden = world.branches["Roden"]
    query = f"branch={roden}&{MARCH}&per=week"
    tables = page_tables(client, query)

    with client.get(f"/dashboard.csv?{query}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        text = response.get_data().decode("utf-8-sig")
    blocks = [block.splitlines() for block in text.replace("\r\n", "\n").strip().split("\n\n")]
    in_csv = {block[0]: list(csv.reader(block[2:])) for block in blocks}
    assert in_csv["Waarvoor kwam u?"] == [
        ["Boeken lenen", "2", "66.7"],
        ["Computer", "1", "33.3"],
        ["Activiteit", "0", "0.0"],
        [in_csv["Waarvoor kwam u?"][3][0], "3", "100.0"],
    ]
    activity = next(rows for title, rows in in_csv.items() if rows and rows[0][0] == "2026-02-23")
    assert activity == tables["activity"]
    assert len(blocks) == len(tables)

    with client.get(f"/dashboard.xlsx?{query}") as response:
        assert response.status_code == 200
        book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    sheets = {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets
    }
    book.close()
    assert len(sheets) == len(tables)
    assert sheets["Waarvoor kwam u"][2:5] == [
        ["Boeken lenen", 2, 66.7],
        ["Computer", 1, 33.3],
        ["Activiteit", 0, 0],
    ]
    assert ["compliment", 1] in sheets["Tags"] and ["klacht", 1] in sheets["Tags"]

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dashboard.export").order_by(AuditEvent.id)
        ).all()
        assert [(e.actor, e.target, e.details["format"]) for e in events] == [
            (STAFF_RODEN, f"branch:{roden}", "csv"),
            (STAFF_RODEN, f"branch:{roden}", "xlsx"),
        ]
        assert events[0].details["filter"] == {
            "branch": str(roden),
            "from": "2026-03-01",
            "to": "2026-03-31",
            "per": "week",
        }
