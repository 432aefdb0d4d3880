"""A dashboard as a whole: its arguments from the URL, its figures, and the same numbers as JSON
and as plain tables (the page, the CSV and the XLSX all draw from ``tables``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from admin.dashboards import queries
from admin.dashboards.queries import (
    BranchTotals,
    Bucket,
    Distribution,
    GroupTotals,
    Per,
    Period,
    Scope,
    TagCount,
    Totals,
)
from admin.models import User
from admin.responses.labels import member_label
from admin.responses.queries import GENERAL_VISIT, MEMBER_GROUPS, group_text

PERS: tuple[Per, ...] = ("week", "month")
PER_LABELS = {"week": _l("per week"), "month": _l("per month")}
MAX_DAYS = 3 * 366 + 1  # three years
MAX_WEEK_DAYS = 2 * 366 + 7  # per week: at most about two years of bars
FIRST_YEAR, LAST_YEAR = 2000, 2199


class ArgsError(ValueError):
    """A query argument that cannot be read; the message says which and why (for a 400)."""


@dataclass(frozen=True)
class DashboardArgs:
    """What the URL asks for: ``branch`` (empty: every branch I may see), ``from``, ``to``, ``per``."""

    branch: int | None
    period: Period
    per: Per
    # Only some visitors (as the inbox filters them): MEMBER_GROUPS, an activity's name or
    # GENERAL_VISIT, a location's name or IN_BRANCH.
    member: str | None = None
    activity: str | None = None
    location: str | None = None

    @classmethod
    def default_period(cls, today: date) -> Period:
        """This month and the two before it, up to today."""
        first = today.replace(day=1)
        for _month in range(2):
            first = (first - timedelta(days=1)).replace(day=1)
        return Period(first, today)

    @classmethod
    def from_args(cls, args: Mapping[str, str], today: date) -> DashboardArgs:
        branch_text = args.get("branch") or ""
        branch = None
        if branch_text:
            if not branch_text.isdigit() or not 0 < int(branch_text) < 2**31:
                raise ArgsError(_("The branch must be a branch number."))
            branch = int(branch_text)
        default = cls.default_period(today)
        first = _day(args.get("from"), "from") or default.first
        last = _day(args.get("to"), "to") or (default.last if first <= default.last else first)
        if first > last:
            raise ArgsError(_("The period ends before it starts: choose a 'to' date after the 'from' date."))
        per = args.get("per") or "week"
        if per not in PERS:
            raise ArgsError(_("Show the period per week or per month."))
        period = Period(first, last)
        if period.days > MAX_DAYS:
            raise ArgsError(_("Choose a period of at most three years."))
        if per == "week" and period.days > MAX_WEEK_DAYS:
            raise ArgsError(_("For a period longer than two years, show it per month."))
        member = args.get("member") or None
        if member is not None and member not in MEMBER_GROUPS:
            raise ArgsError(_("Members are yes, no, unknown or none (not asked)."))
        groups = {}
        for name in ("activity", "location"):
            raw = args.get(name) or None
            if raw is not None and group_text(raw) is None:
                raise ArgsError(_("'%(name)s' must be a name of at most 120 characters.", name=name))
            groups[name] = raw
        return cls(branch, period, per, member, **groups)  # type: ignore[arg-type]

    def to_args(self, **changes: Any) -> dict[str, str]:
        """The query string of these arguments (``changes`` override, e.g. another period)."""
        values: dict[str, Any] = {
            "branch": self.branch,
            "from": self.period.first,
            "to": self.period.last,
            "per": self.per,
            "member": self.member,
            "activity": self.activity,
            "location": self.location,
            **changes,
        }
        return {
            k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items() if v is not None
        }


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ArgsError(_("'%(name)s' must be a date like 2026-03-31.", name=name)) from None
    # Far-off years say nothing here, and the period before the year 1 does not exist.
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ArgsError(_("Choose dates between %(first)d and %(last)d.", first=FIRST_YEAR, last=LAST_YEAR))
    return day


@dataclass
class Dashboard:
    args: DashboardArgs
    branch_name: str | None  # None: every branch the user may see
    activity: list[Bucket]
    distributions: list[Distribution]
    tags: list[TagCount]
    totals: Totals
    previous_totals: Totals
    recordings_removed: queries.RecordingsRemoved
    branches: list[BranchTotals] = field(default_factory=list)  # across branches only
    members: list[GroupTotals] = field(default_factory=list)
    activities: list[GroupTotals] = field(default_factory=list)

    @property
    def previous(self) -> Period:
        return self.args.period.previous()


def build(user: User, args: DashboardArgs, branch_name: str | None, zone: ZoneInfo) -> Dashboard:
    """Every figure of one dashboard (the branch in ``args`` is already checked to be visible)."""
    scope = Scope(user, args.branch, args.member, args.activity, args.location)
    period = args.period
    positive = queries.positive_pairs()
    # Branches side by side: only across branches, and only when there are several to compare.
    comparison = queries.branch_comparison(scope, period, zone, positive) if args.branch is None else []
    counts = queries.answer_counts(scope, period, args.per, zone)
    activity = queries.activity(scope, period, args.per, zone, counts)
    return Dashboard(
        args=args,
        branch_name=branch_name,
        activity=activity,
        distributions=queries.distributions(counts),
        tags=queries.tag_frequencies(scope, period, zone),
        totals=queries.counted_totals(counts, sum(bucket.sessions for bucket in activity), positive),
        previous_totals=queries.period_totals(scope, period.previous(), zone, positive),
        recordings_removed=queries.recordings_removed(scope, period, zone),
        branches=comparison if len(comparison) > 1 else [],
        members=queries.by_member(scope, period, zone, positive),
        activities=queries.by_activity(scope, period, zone, positive),
    )


def positive_rule() -> str:
    return _(
        "Positive (green in the charts): the upper half of a scale without its middle point (the top "
        "two of five faces, the top one of three); choice questions show their distribution only."
    )


# --- JSON -------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    """A share as a fraction rounded to four decimals (None when there is nothing to share)."""
    return round(part / whole, 4) if whole else None


def _totals_json(totals: Totals) -> dict[str, Any]:
    return {
        "sessions": totals.sessions,
        "answers": totals.answers,
        "recordings": totals.recordings,
        "scale_answers": totals.scale_answers,
        "positive": totals.positive,
        "positive_share": _share(totals.positive, totals.scale_answers),
    }


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    args, previous = dashboard.args, dashboard.previous
    return {
        "branch": None if args.branch is None else {"id": args.branch, "name": dashboard.branch_name},
        "filters": {"member": args.member, "activity": args.activity, "location": args.location},
        "period": {
            "from": args.period.first.isoformat(),
            "to": args.period.last.isoformat(),
            "per": args.per,
        },
        "previous_period": {"from": previous.first.isoformat(), "to": previous.last.isoformat()},
        "positive_rule": positive_rule(),
        "activity": [
            {"start": b.start.isoformat(), "sessions": b.sessions, "answers": b.answers}
            for b in dashboard.activity
        ],
        "questions": [
            {
                "id": d.question_id,
                "name": d.question,
                "kind": d.kind.value,
                "total": d.total,
                "positive": d.positive,
                "positive_share": None if d.positive is None else _share(d.positive, d.total),
                "options": [
                    {"value": o.value, "label": o.label, "count": o.count, "positive": o.positive}
                    for o in d.options
                ],
            }
            for d in dashboard.distributions
        ],
        "tags": [
            {"id": t.tag_id, "name": t.name, "colour": t.colour, "count": t.count} for t in dashboard.tags
        ],
        "totals": _totals_json(dashboard.totals),
        "previous_totals": _totals_json(dashboard.previous_totals),
        "branches": [
            {"id": b.branch_id, "name": b.name, **_totals_json(b.totals)} for b in dashboard.branches
        ],
        # Every total split by "are you a member?" (none: not asked) and by activity (null: general).
        "members": [{"member": g.key, **_totals_json(g.totals)} for g in dashboard.members],
        "activities": [
            {"activity": None if g.key == GENERAL_VISIT else g.key, **_totals_json(g.totals)}
            for g in dashboard.activities
        ],
        "recordings_removed": dashboard.recordings_removed.count,
        # True: some purges of the period logged one total for every branch, counted in whole.
        "recordings_removed_all_branches": dashboard.recordings_removed.with_all_branches,
    }


# --- tables -----------------------------------------------------------------------------------

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One figure as rows: what the page shows under its chart and what the exports write."""

    key: str  # stable name, e.g. "activity" or "question-12"
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    footer: list[list[Cell]] = field(default_factory=list)
    # How the page charts it: the columns drawn as series (none: no chart), bars across, the first
    # rows only (the rest are in another unit), a colour per row, a link per row (page only).
    series: tuple[int, ...] = ()
    across: bool = False
    charted_rows: int | None = None
    row_colours: list[str | None] = field(default_factory=list)
    row_links: list[str | None] = field(default_factory=list)
    # The inbox listing exactly the answers a number counts, per row and per number column (None:
    # the inbox cannot list it, e.g. sessions).
    cell_links: list[list[str | None]] = field(default_factory=list)
    footer_links: list[list[str | None]] = field(default_factory=list)


POSITIVE_COLOUR = "#1a7f37"
OTHER_COLOUR = "#0b5394"


def inbox_link(args: DashboardArgs, period: Period | None = None, **extra: Any) -> str:
    """The inbox with the answers a figure counts: same branch and days (or ``period``), and
    ``extra`` (inbox filters: question, kind, tag, branch)."""
    days = period or args.period
    query: dict[str, Any] = {"from": days.first.isoformat(), "to": days.last.isoformat()}
    if args.branch is not None:
        query["branch"] = args.branch
    for name in ("member", "activity", "location"):
        if getattr(args, name) is not None:
            query[name] = getattr(args, name)
    return url_for("responses.inbox", **(query | extra))


def _bucket_days(args: DashboardArgs, start: date) -> Period:
    """The days of the bucket starting on ``start`` that lie in the period."""
    end = start + timedelta(days=6) if args.per == "week" else queries.next_month(start) - timedelta(days=1)
    return Period(max(start, args.period.first), min(end, args.period.last))


def percent(part: int, whole: int) -> float | None:
    """A share in percent with one decimal (None when there is nothing to share)."""
    return round(100 * part / whole, 1) if whole else None


def tables(dashboard: Dashboard) -> list[Table]:
    args = dashboard.args
    found = [
        Table(
            "activity",
            _("Sessions and answers per week") if args.per == "week" else _("Sessions and answers per month"),
            [_("Week starting") if args.per == "week" else _("Month"), _("Sessions"), _("Answers")],
            [
                [
                    b.start.isoformat() if args.per == "week" else b.start.strftime("%Y-%m"),
                    b.sessions,
                    b.answers,
                ]
                for b in dashboard.activity
            ],
            series=(1, 2),
            cell_links=[[None, inbox_link(args, _bucket_days(args, b.start))] for b in dashboard.activity],
        )
    ]
    found.append(_comparison_with_previous(dashboard))
    if dashboard.branches:
        found.append(
            Table(
                "branches",
                _("Branches side by side"),
                _totals_columns(_("Branch")),
                [[b.name, *_totals_row(b.totals)] for b in dashboard.branches],
                series=(1, 2),
                across=True,
                row_links=[
                    url_for("dashboards.dashboard", **args.to_args(branch=b.branch_id))
                    for b in dashboard.branches
                ],
                cell_links=[
                    [
                        None,
                        inbox_link(args, branch=b.branch_id),
                        inbox_link(args, branch=b.branch_id, kind="recording"),
                        inbox_link(args, branch=b.branch_id, kind="scale"),
                    ]
                    for b in dashboard.branches
                ],
            )
        )
    found.append(
        _group_table(dashboard, "members", _("Members and non-members"), dashboard.members, "member")
    )
    found.append(_group_table(dashboard, "activities", _("Activities"), dashboard.activities, "activity"))
    for d in dashboard.distributions:
        footer: list[list[Cell]] = [[_("Total"), d.total, percent(d.total, d.total)]]
        if d.positive is not None:
            footer.append([_("Positive"), d.positive, percent(d.positive, d.total)])
        question_link = inbox_link(args, question=d.question_id, kind="tap")
        found.append(
            Table(
                f"question-{d.question_id}",
                d.question,
                [_("Answer"), _("Answers"), _("Share (%)")],
                [[o.label, o.count, percent(o.count, d.total)] for o in d.options],
                footer,
                series=(1,),
                across=True,
                row_colours=[POSITIVE_COLOUR if o.positive else OTHER_COLOUR for o in d.options],
                cell_links=[
                    [inbox_link(args, question=d.question_id, kind="tap", value=o.value)] for o in d.options
                ],
                footer_links=[[question_link]],
            )
        )
    found.append(
        Table(
            "tags",
            _("Tags"),
            [_("Tag"), _("Answers")],
            [[t.name, t.count] for t in dashboard.tags],
            series=(1,),
            across=True,
            row_colours=[t.colour for t in dashboard.tags],
            row_links=[inbox_link(args, tag=t.tag_id) for t in dashboard.tags],
            cell_links=[[inbox_link(args, tag=t.tag_id)] for t in dashboard.tags],
        )
    )
    return found


def group_label(key: str, dimension: str) -> str:
    if dimension == "member":
        return member_label(key)
    return str(_("General visit")) if key == GENERAL_VISIT else key


def _totals_columns(first: str) -> list[str]:
    """The columns of a table of period totals side by side, after the column that names each row."""
    return [
        first,
        _("Sessions"),
        _("Answers"),
        _("Recordings"),
        _("Scale answers"),
        _("Positive"),
        _("Positive (%)"),
    ]


def _totals_row(totals: Totals) -> list[Cell]:
    return [
        totals.sessions,
        totals.answers,
        totals.recordings,
        totals.scale_answers,
        totals.positive,
        percent(totals.positive, totals.scale_answers),
    ]


def _group_table(
    dashboard: Dashboard, key: str, title: str, groups: list[GroupTotals], dimension: str
) -> Table:
    """The period's totals per member answer or per activity, side by side."""
    args = dashboard.args
    return Table(
        key,
        title,
        _totals_columns(_("Member?") if dimension == "member" else _("Activity")),
        [[group_label(g.key, dimension), *_totals_row(g.totals)] for g in groups],
        series=(1, 2),
        across=True,
        row_links=[url_for("dashboards.dashboard", **args.to_args(**{dimension: g.key})) for g in groups],
        cell_links=[
            [
                None,
                inbox_link(args, **{dimension: g.key}),
                inbox_link(args, kind="recording", **{dimension: g.key}),
                inbox_link(args, kind="scale", **{dimension: g.key}),
            ]
            for g in groups
        ],
    )


def _comparison_with_previous(dashboard: Dashboard) -> Table:
    now, before = dashboard.totals, dashboard.previous_totals
    rows: list[list[Cell]] = [
        [label, a, b, a - b]
        for label, a, b in (
            (_("Sessions"), now.sessions, before.sessions),
            (_("Answers"), now.answers, before.answers),
            (_("Recordings"), now.recordings, before.recordings),
            (_("Scale answers"), now.scale_answers, before.scale_answers),
            (_("Positive"), now.positive, before.positive),
        )
    ]
    share_now, share_before = (
        percent(now.positive, now.scale_answers),
        percent(before.positive, before.scale_answers),
    )
    change = None if share_now is None or share_before is None else round(share_now - share_before, 1)
    rows.append([_("Positive (%)"), share_now, share_before, change])
    args = dashboard.args
    period, previous = args.period, dashboard.previous

    def both(**extra: Any) -> list[str | None]:
        return [inbox_link(args, period, **extra), inbox_link(args, previous, **extra)]

    return Table(
        "previous",
        _("This period and the one before"),
        [
            _("Measure"),
            f"{period.first.isoformat()} – {period.last.isoformat()}",
            f"{previous.first.isoformat()} – {previous.last.isoformat()}",
            _("Change"),
        ],
        rows,
        series=(1, 2),
        charted_rows=3,  # sessions, answers, recordings: the rest would dwarf or mix units
        # Sessions and positive answers are no inbox filter; answers, recordings and scale answers are.
        cell_links=[[], both(), both(kind="recording"), both(kind="scale")],
    )
