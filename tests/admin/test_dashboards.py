"""Dashboards: each figure's exact numbers on a hand-made data set, on the page (its tables), in
the JSON endpoint and in the exports; branch scoping; bad arguments."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from html import unescape
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
from admin.models import AnswerKind, AnswerOption, AuditEvent, Branch, Kiosk, Question, QuestionKind
from admin.retention.operations import Rules, purge
from tests.admin.dashboard_world import add_session, build_dashboard_world
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


INBOX_ROW = re.compile(r'<tr class="row-')
NEXT_PAGE = re.compile(r'rel="next" href="([^"]+)"')


def inbox_count(client: FlaskClient, href: str) -> int:
    """How many answers the inbox lists at ``href``, every page of it."""
    found = 0
    while True:
        response = client.get(unescape(href))
        assert response.status_code == 200, href
        body = response.get_data(as_text=True)
        found += len(INBOX_ROW.findall(body))
        more = NEXT_PAGE.search(body)
        if more is None:
            return found
        href = more.group(1)


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
    assert data["recordings_removed_all_branches"] is True  # the world's purges predate per-branch counts
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


# --- every count links to the inbox --------------------------------------------------------------

LINKED_COUNT = re.compile(r'data-value="(\d+)"><a href="(/responses\?[^"]+)"')


@pytest.mark.parametrize("email", [ADMIN, STAFF_RODEN])
def test_each_linked_count_is_what_the_inbox_lists(client: FlaskClient, world: World, email: str) -> None:
    """Per bucket, per branch, per question, per tag, this period and the one before: each linked
    count lists exactly as many answers in the inbox (staff see one branch, across it too)."""
    login(client, email)
    roden = world.branches["Roden"]
    cut = f"branch={roden}&from=2026-02-04&to=2026-03-12&per=week"  # weeks cut at both ends
    for query in (f"{MARCH}&per=week", "from=2026-02-01&to=2026-03-31&per=month", cut):
        page = client.get(f"/dashboard?{query}").get_data(as_text=True)
        links = LINKED_COUNT.findall(page)
        # Activity buckets, both periods (answers, recordings, scale answers), questions and their
        # options, tags.
        assert len(links) >= 12, (query, links)
        assert any(int(count) > 0 for count, _href in links)
        for count, href in links:
            assert inbox_count(client, href) == int(count), (query, unescape(href))
    # The links say what they filter on: a bucket's days within the period, a question's taps, a tag.
    page = client.get(f"/dashboard?branch={roden}&from=2026-02-04&to=2026-03-12&per=week").get_data(
        as_text=True
    )
    hrefs = {unescape(href) for _count, href in LINKED_COUNT.findall(page)}
    assert f"/responses?from=2026-02-04&to=2026-02-08&branch={roden}" in hrefs  # the first week, cut
    assert f"/responses?from=2026-03-09&to=2026-03-12&branch={roden}" in hrefs  # the last week, cut
    scale = world.questions["scale"]
    assert f"/responses?from=2026-02-04&to=2026-03-12&branch={roden}&question={scale}&kind=tap" in hrefs
    # Each option's count: its question and value ("Blij", 3).
    blij = f"/responses?from=2026-02-04&to=2026-03-12&branch={roden}&question={scale}&kind=tap&value=3"
    assert blij in hrefs
    assert f"/responses?from=2026-02-04&to=2026-03-12&branch={roden}&tag={world.tags['klacht']}" in hrefs
    # The period before (37 days: 29 December to 3 February), by kind.
    assert f"/responses?from=2025-12-29&to=2026-02-03&branch={roden}&kind=recording" in hrefs


# --- local time across the summer-time switches -------------------------------------------------

# One answer (in its own session) at each moment, to the second around the 2026 switches of
# Europe/Amsterdam (29 March 01:00 UTC: 02:00 CET becomes 03:00 CEST; 25 October 01:00 UTC: 03:00
# CEST becomes 02:00 CET) and around the local midnights that end a day, a week or a month.
SWITCH_MOMENTS = {
    "A": datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC),  # Sat 28 Feb 23:59:59 CET
    "B": datetime(2026, 2, 28, 23, 0, 0, tzinfo=UTC),  # Sun 1 Mar 00:00 CET
    "C": datetime(2026, 3, 28, 22, 59, 59, tzinfo=UTC),  # Sat 28 Mar 23:59:59 CET
    "D": datetime(2026, 3, 28, 23, 0, 0, tzinfo=UTC),  # Sun 29 Mar 00:00 CET
    "E": datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # Sun 29 Mar 01:59:59 CET, last winter second
    "F": datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),  # Sun 29 Mar 03:00 CEST, first summer second
    "G": datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC),  # Sun 29 Mar 23:59:59 CEST
    "H": datetime(2026, 3, 29, 22, 0, 0, tzinfo=UTC),  # Mon 30 Mar 00:00 CEST
    "I": datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC),  # Tue 31 Mar 23:59:59 CEST
    "J": datetime(2026, 3, 31, 22, 0, 0, tzinfo=UTC),  # Wed 1 Apr 00:00 CEST
    "K": datetime(2026, 10, 24, 21, 59, 59, tzinfo=UTC),  # Sat 24 Oct 23:59:59 CEST
    "L": datetime(2026, 10, 24, 22, 0, 0, tzinfo=UTC),  # Sun 25 Oct 00:00 CEST
    "M": datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC),  # Sun 25 Oct 02:59:59 CEST, last summer second
    "N": datetime(2026, 10, 25, 1, 0, 0, tzinfo=UTC),  # Sun 25 Oct 02:00 CET, first winter second
    "O": datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),  # Sun 25 Oct 23:59:59 CET
    "P": datetime(2026, 10, 25, 23, 0, 0, tzinfo=UTC),  # Mon 26 Oct 00:00 CET
    "Q": datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC),  # Sat 31 Oct 23:59:59 CET
    "R": datetime(2026, 10, 31, 23, 0, 0, tzinfo=UTC),  # Sun 1 Nov 00:00 CET
}


def test_days_weeks_and_months_are_local_across_both_summer_time_switches(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        peize = Branch(name="Peize")
        db.session.add(peize)
        db.session.flush()
        kiosk = Kiosk(name="Vertelpaal Peize", branch=peize)
        db.session.add(kiosk)
        db.session.flush()
        world.branches["Peize"], world.kiosks["Peize"] = peize.id, kiosk.id
        for moment in SWITCH_MOMENTS.values():
            add_session(world, "Peize", moment, [("scale", AnswerKind.SCALE, "3")], gap=timedelta(0))
        db.session.commit()
    login(client, ADMIN)
    branch = f"branch={world.branches['Peize']}"

    def counts(query: str) -> list[tuple[str, int, int]]:
        return [(b["start"], b["sessions"], b["answers"]) for b in as_json(client, query)["activity"]]

    # Months: A in February, B to I in March, J in April; K to Q in October, R in November.
    months = counts(f"{branch}&from=2026-02-01&to=2026-11-30&per=month")
    assert [(start[:7], n) for start, n, answers in months if n] == [
        ("2026-02", 1),
        ("2026-03", 8),
        ("2026-04", 1),
        ("2026-10", 7),
        ("2026-11", 1),
    ]
    assert all(n == answers for _start, n, answers in months)
    # Weeks from local Monday midnight: the Sunday of each switch ends its week at 23:59:59.
    assert counts(f"{branch}&from=2026-03-23&to=2026-04-05&per=week") == [
        ("2026-03-23", 5, 5),  # C D E F G
        ("2026-03-30", 3, 3),  # H I J
    ]
    assert counts(f"{branch}&from=2026-10-19&to=2026-11-01&per=week") == [
        ("2026-10-19", 5, 5),  # K L M N O
        ("2026-10-26", 3, 3),  # P Q R
    ]
    # Single days: a 23-hour and a 25-hour Sunday, and the days on either side of each.
    for day, expected in (
        ("2026-03-28", 1),  # C
        ("2026-03-29", 4),  # D E F G
        ("2026-03-30", 1),  # H
        ("2026-10-24", 1),  # K
        ("2026-10-25", 4),  # L M N O
        ("2026-10-26", 1),  # P
    ):
        totals = as_json(client, f"{branch}&from={day}&to={day}")["totals"]
        assert (totals["sessions"], totals["answers"]) == (expected, expected), day
        assert inbox_count(client, f"/responses?{branch}&from={day}&to={day}") == expected, day


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


# --- retention, per branch ----------------------------------------------------------------------


def test_recordings_removed_count_per_branch_once_purges_log_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    roden, borger = world.branches["Roden"], world.branches["Borger"]
    with app.app_context():
        # Every recording of March (Roden 2, Borger 1) is older than a day on 1 April.
        report = purge(Rules(video_days=1, voice_days=1, tap_days=None), now=datetime(2026, 4, 1, tzinfo=UTC))
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purge").order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None and report.recordings_removed == 3
        assert event.details["recordings"] == 3
        assert event.details["recordings_by_branch"] == {str(roden): 2, str(borger): 1}
        # The log is append-only: the same details again, logged as if that purge ran on 20 April
        # (the real one stands at today's date, after the periods asked for below).
        db.session.add(
            AuditEvent(
                at=datetime(2026, 4, 20, 3, 0, tzinfo=UTC),
                actor="system",
                action=event.action,
                target=event.target,
                details=event.details,
            )
        )
        db.session.commit()

    april = "from=2026-04-01&to=2026-04-30&per=month"
    login(client, STAFF_RODEN)
    for query, expected in ((f"branch={roden}&{april}", 2), (april, 2)):  # across "my branches" too
        data = as_json(client, query)
        assert (data["recordings_removed"], data["recordings_removed_all_branches"]) == (expected, False)
    page = client.get(f"/dashboard?branch={roden}&{april}").get_data(as_text=True)
    assert "2 opnames verwijderd (bewaartermijn)" in page
    assert "2026-04-01 tot en met 2026-04-30, Roden" in page

    client = app.test_client()  # another user
    assert login(client, ADMIN) == 302
    assert as_json(client, f"branch={borger}&{april}")["recordings_removed"] == 1
    assert as_json(client, april)["recordings_removed"] == 3
    # With March's older purge (4, logged for every branch together): Borger gets that total, and
    # the page says it includes all-branch counts.
    data = as_json(client, f"branch={borger}&from=2026-03-01&to=2026-04-30&per=month")
    assert (data["recordings_removed"], data["recordings_removed_all_branches"]) == (1 + 4, True)
    page = client.get(f"/dashboard?branch={borger}&from=2026-03-01&to=2026-04-30&per=month")
    assert "voor alle vestigingen samen zijn geteld" in page.get_data(as_text=True)


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
