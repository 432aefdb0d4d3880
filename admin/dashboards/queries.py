"""The dashboard's figures: one query per figure, over the answers a user may see; the answers over
time, the distributions and the period's totals add up from one count of the period's answers
(``answer_counts``), so a heavy branch's year is read once, not three times.

Every figure is read for a *scope* (one branch, or every branch the user may see) and a *period*
of whole days in the organisation's time zone, so the numbers match what the inbox lists under the
same branch and days. Week and month buckets start at local midnight (Monday, or the 1st): their
bounds are worked out here in Python and compared in SQL, which runs the same on SQLite and
PostgreSQL (neither needs to know the time zone).

"Positive" on a scale question means the upper half of its faces without the middle one: the top
two of five, the top one of three (options are ordered by ``position``, happiest last). Choice
questions have no natural positive option, so they get their distribution only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, select, tuple_
from sqlalchemy.orm import aliased, selectinload

from admin.auth import branch_filter
from admin.extensions import db
from admin.models import (
    Answer,
    AnswerKind,
    AnswerTag,
    AuditEvent,
    Branch,
    Question,
    QuestionKind,
    Session,
    Tag,
    User,
)
from admin.responses.queries import GENERAL_VISIT, MEMBER_GROUPS, NOT_ASKED, session_group_clauses

Per = Literal["week", "month"]
RECORDING_KINDS = (AnswerKind.VIDEO, AnswerKind.VOICE)
TAP_KINDS = (AnswerKind.SCALE, AnswerKind.CHOICE)


@dataclass(frozen=True)
class Period:
    """Whole days from ``first`` to ``last`` (both included), in the organisation's time zone."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as UTC instants: [start, end)."""
        return local_midnight(self.first, zone), local_midnight(self.last + timedelta(days=1), zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


@dataclass(frozen=True)
class Scope:
    """Whose answers: one branch (already checked to be visible) or every branch ``user`` may see;
    optionally only members or non-members, one activity, one location (as the inbox filters them)."""

    user: User
    branch_id: int | None = None
    member: str | None = None
    activity: str | None = None
    location: str | None = None

    def on(self, column: ColumnElement[int]) -> list[ColumnElement[bool]]:
        clauses = [branch_filter(self.user, column)]
        if self.branch_id is not None:
            clauses.append(column == self.branch_id)
        return clauses

    def groups(self) -> list[ColumnElement[bool]]:
        """Clauses on ``sessions`` for the member, activity and location filters."""
        return session_group_clauses(self.member, self.activity, self.location)


def _answers_in(scope: Scope, period: Period, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    start, end = period.bounds(zone)
    clauses = [*scope.on(Answer.branch_id), Answer.answered_at >= start, Answer.answered_at < end]
    groups = scope.groups()
    if groups:
        clauses.append(exists().where(Session.uuid == Answer.session_uuid, *groups))
    return clauses


def _sessions_in(scope: Scope, period: Period, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    start, end = period.bounds(zone)
    return [
        *scope.on(Session.branch_id),
        Session.started_at >= start,
        Session.started_at < end,
        *scope.groups(),
    ]


# --- sessions and answers over time ------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    start: date  # local: a Monday, or the 1st of a month (may lie before the period's first day)
    sessions: int
    answers: int


def bucket_starts(period: Period, per: Per) -> list[date]:
    """The first local day of every week (Monday) or month that overlaps the period."""
    if per == "week":
        day = period.first - timedelta(days=period.first.weekday())
    else:
        day = period.first.replace(day=1)
    starts = []
    while day <= period.last:
        starts.append(day)
        day = day + timedelta(days=7) if per == "week" else next_month(day)
    return starts


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _bucket_number(period: Period, per: Per, zone: ZoneInfo, moment: Any) -> ColumnElement[int]:
    """The number of the bucket ``moment`` falls in (0 for the first), for rows within the period.

    A CASE over the buckets' UTC starts, so one range scan numbers every row; a join against a
    table of bounds made PostgreSQL start parallel workers that cost more than the counting."""
    edges = [local_midnight(first, zone) for first in bucket_starts(period, per)[1:]]
    if not edges:
        return literal(0)
    return case(*((moment < edge, n) for n, edge in enumerate(edges)), else_=len(edges))


def _sessions_per_bucket(scope: Scope, period: Period, per: Per, zone: ZoneInfo) -> dict[int, int]:
    """Sessions per bucket, by their start."""
    number = _bucket_number(period, per, zone, Session.started_at)
    numbered = select(number.label("n")).where(*_sessions_in(scope, period, zone)).subquery()
    rows = db.session.execute(select(numbered.c.n, func.count()).group_by(numbered.c.n)).all()
    return {n: count for n, count in rows}


@dataclass(frozen=True)
class AnswerCount:
    bucket: int  # the number of its week or month in ``bucket_starts``
    question_id: int
    kind: AnswerKind
    value: str | None
    count: int


def answer_counts(scope: Scope, period: Period, per: Per, zone: ZoneInfo) -> list[AnswerCount]:
    """The period's answers counted by bucket, question, kind and value: the answers over time, the
    distributions and the totals all add up from these rows, so the period's answers are read once
    (three reads of a heavy branch's year were most of its dashboard's time)."""
    number = _bucket_number(period, per, zone, Answer.answered_at)
    numbered = (
        select(number.label("n"), Answer.question_id, Answer.kind, Answer.value)
        .where(*_answers_in(scope, period, zone))
        .subquery()
    )
    columns = (numbered.c.n, numbered.c.question_id, numbered.c.kind, numbered.c.value)
    rows = db.session.execute(select(*columns, func.count()).group_by(*columns)).all()
    return [AnswerCount(*row) for row in rows]


def activity(
    scope: Scope, period: Period, per: Per, zone: ZoneInfo, counts: Sequence[AnswerCount]
) -> list[Bucket]:
    """Sessions (by their start) and answers (from ``answer_counts``) per week or month of the period."""
    answers: dict[int, int] = defaultdict(int)
    for row in counts:
        answers[row.bucket] += row.count
    sessions = _sessions_per_bucket(scope, period, per, zone)
    return [
        Bucket(first, sessions.get(n, 0), answers.get(n, 0))
        for n, first in enumerate(bucket_starts(period, per))
    ]


# --- distributions of scale and choice answers ---------------------------------------------


def positive_values(question: Question) -> set[str]:
    """The values that count as positive: the top half of a scale without its middle point."""
    if question.kind is not QuestionKind.SCALE:
        return set()
    ordered = sorted(question.options, key=lambda option: option.position)
    return {option.value for option in ordered[len(ordered) - len(ordered) // 2 :]}


@dataclass(frozen=True)
class OptionCount:
    value: str
    label: str
    count: int
    positive: bool


@dataclass(frozen=True)
class Distribution:
    question_id: int
    question: str
    kind: QuestionKind
    options: list[OptionCount]

    @property
    def total(self) -> int:
        return sum(option.count for option in self.options)

    @property
    def positive(self) -> int | None:
        """Positive answers, or None for a question without a positive side (choice)."""
        if self.kind is not QuestionKind.SCALE:
            return None
        return sum(option.count for option in self.options if option.positive)


def distributions(counts: Sequence[AnswerCount]) -> list[Distribution]:
    """For every scale and choice question answered in the period (``answer_counts``): how often
    each option was chosen."""
    by_question: dict[int, dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    for row in counts:
        if row.kind in TAP_KINDS:
            by_question[row.question_id][row.value] += row.count
    questions = db.session.scalars(
        select(Question)
        .where(Question.id.in_(list(by_question)))
        .options(selectinload(Question.options))
        .order_by(Question.name, Question.id)
    ).all()
    figures = []
    for question in questions:
        chosen = by_question[question.id]
        positive = positive_values(question)
        options = [
            OptionCount(o.value, o.label, chosen.pop(o.value, 0), o.value in positive)
            for o in sorted(question.options, key=lambda option: option.position)
        ]
        # A value no option has (any more) is still counted, under its own name.
        options += [OptionCount(v or "", v or "—", n, False) for v, n in sorted(chosen.items(), key=str)]
        figures.append(Distribution(question.id, question.name, question.kind, options))
    return figures


# --- tags ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagCount:
    tag_id: int
    name: str
    colour: str
    count: int


def tag_frequencies(scope: Scope, period: Period, zone: ZoneInfo) -> list[TagCount]:
    """How many answers of the period carry each tag, most used first."""
    count = func.count(AnswerTag.answer_uuid)
    rows = db.session.execute(
        select(Tag.id, Tag.name, Tag.colour, count)
        .join(AnswerTag, AnswerTag.tag_id == Tag.id)
        .join(Answer, Answer.uuid == AnswerTag.answer_uuid)
        .where(*_answers_in(scope, period, zone))
        .group_by(Tag.id, Tag.name, Tag.colour)
        .order_by(count.desc(), Tag.name)
    ).all()
    return [TagCount(*row) for row in rows]


# --- totals, per period and per branch -------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    sessions: int = 0
    answers: int = 0
    recordings: int = 0
    scale_answers: int = 0
    positive: int = 0

    @property
    def positive_share(self) -> float | None:
        return self.positive / self.scale_answers if self.scale_answers else None


def positive_pairs() -> list[tuple[int, str]]:
    """(question id, value) of every positive scale option: read once per dashboard, passed to
    the totals below."""
    questions = db.session.scalars(
        select(Question).where(Question.kind == QuestionKind.SCALE).options(selectinload(Question.options))
    ).all()
    return [(q.id, value) for q in questions for value in sorted(positive_values(q))]


def _answer_sums(pairs: Sequence[tuple[int, str]]) -> tuple[Any, ...]:
    scale = Answer.kind == AnswerKind.SCALE
    positive = and_(scale, tuple_(Answer.question_id, Answer.value).in_(pairs)) if pairs else literal(False)
    return (
        func.count(),
        func.count().filter(Answer.kind.in_(RECORDING_KINDS)),
        func.count().filter(scale),
        func.count().filter(positive),
    )


def counted_totals(
    counts: Sequence[AnswerCount], sessions: int, positive_pairs: Sequence[tuple[int, str]]
) -> Totals:
    """The totals of the answers in ``answer_counts`` (and ``sessions``, counted elsewhere)."""
    positive = set(positive_pairs)
    scale = [row for row in counts if row.kind is AnswerKind.SCALE]
    return Totals(
        sessions,
        sum(row.count for row in counts),
        sum(row.count for row in counts if row.kind in RECORDING_KINDS),
        sum(row.count for row in scale),
        sum(row.count for row in scale if (row.question_id, row.value) in positive),
    )


def period_totals(
    scope: Scope, period: Period, zone: ZoneInfo, positive_pairs: Sequence[tuple[int, str]]
) -> Totals:
    """Sessions, answers, recordings and positive scale answers of the period."""
    answers, recordings, scale, positive = db.session.execute(
        select(*_answer_sums(positive_pairs)).where(*_answers_in(scope, period, zone))
    ).one()
    sessions = db.session.scalar(select(func.count()).where(*_sessions_in(scope, period, zone))) or 0
    return Totals(sessions, answers, recordings, scale, positive)


@dataclass(frozen=True)
class BranchTotals:
    branch_id: int
    name: str
    totals: Totals = field(default_factory=Totals)


def branch_comparison(
    scope: Scope, period: Period, zone: ZoneInfo, positive_pairs: Sequence[tuple[int, str]]
) -> list[BranchTotals]:
    """The totals of every branch in the scope, side by side (branches without answers too)."""
    branches = db.session.execute(
        select(Branch.id, Branch.name).where(*scope.on(Branch.id)).order_by(Branch.name)
    ).all()
    answer_rows = db.session.execute(
        select(Answer.branch_id, *_answer_sums(positive_pairs))
        .where(*_answers_in(scope, period, zone))
        .group_by(Answer.branch_id)
    ).all()
    session_rows = db.session.execute(
        select(Session.branch_id, func.count())
        .where(*_sessions_in(scope, period, zone))
        .group_by(Session.branch_id)
    ).all()
    answers = {row[0]: row[1:] for row in answer_rows}
    sessions = dict(session_rows)
    return [
        BranchTotals(
            branch_id, name, Totals(sessions.get(branch_id, 0), *answers.get(branch_id, (0, 0, 0, 0)))
        )
        for branch_id, name in branches
    ]


# --- members and non-members, activities ------------------------------------------------------


@dataclass(frozen=True)
class GroupTotals:
    key: str  # a member answer (MEMBER_GROUPS), or an activity's name (GENERAL_VISIT: none)
    totals: Totals = field(default_factory=Totals)


def _split(
    name: str, scope: Scope, period: Period, zone: ZoneInfo, positive_pairs: Sequence[tuple[int, str]]
) -> dict[str | None, Totals]:
    """The totals per value of the session column ``name`` (None included), in one query for the
    answers and one for the sessions."""
    # Its own alias: the scope's filters on sessions are a subquery of their own, not this join.
    grouped = aliased(Session)
    column = getattr(grouped, name)
    answer_rows = db.session.execute(
        select(column, *_answer_sums(positive_pairs))
        .join(grouped, grouped.uuid == Answer.session_uuid)
        .where(*_answers_in(scope, period, zone))
        .group_by(column)
    ).all()
    session_column = getattr(Session, name)
    session_rows = db.session.execute(
        select(session_column, func.count())
        .where(*_sessions_in(scope, period, zone))
        .group_by(session_column)
    ).all()
    answers = {row[0]: row[1:] for row in answer_rows}
    sessions = dict(session_rows)
    return {
        key: Totals(sessions.get(key, 0), *answers.get(key, (0, 0, 0, 0))) for key in {*answers, *sessions}
    }


def by_member(
    scope: Scope, period: Period, zone: ZoneInfo, positive_pairs: Sequence[tuple[int, str]]
) -> list[GroupTotals]:
    """Members, non-members, those who did not know, and those not asked: every group, always,
    so that the table keeps its rows from one period to the next."""
    found = _split("member", scope, period, zone, positive_pairs)
    return [
        GroupTotals(group, found.get(None if group == NOT_ASKED else group, Totals()))
        for group in MEMBER_GROUPS
    ]


def by_activity(
    scope: Scope, period: Period, zone: ZoneInfo, positive_pairs: Sequence[tuple[int, str]]
) -> list[GroupTotals]:
    """General visits first, then every activity with sessions in the period, by name."""
    found = _split("activity", scope, period, zone, positive_pairs)
    general = GroupTotals(GENERAL_VISIT, found.pop(None, Totals()))
    return [general, *(GroupTotals(name, totals) for name, totals in sorted(found.items()))]  # type: ignore[arg-type]


def known_activities_and_locations(user: User) -> tuple[list[str], list[str]]:
    """The activities and locations of the sessions ``user`` may see: what the filters offer."""
    visible = branch_filter(user, Session.branch_id)
    activities = db.session.scalars(
        select(Session.activity)
        .where(visible, Session.activity.is_not(None))
        .distinct()
        .order_by(Session.activity)
    ).all()
    locations = db.session.scalars(
        select(Session.location)
        .where(visible, Session.location.is_not(None))
        .distinct()
        .order_by(Session.location)
    ).all()
    return [a for a in activities if a], [loc for loc in locations if loc]


# --- retention -------------------------------------------------------------------------------

PURGE_ACTION = "retention.purge"


@dataclass(frozen=True)
class RecordingsRemoved:
    count: int
    # Purges logged before they counted per branch give only their total over every branch; when
    # one of the period did, ``count`` includes such totals and the page says so.
    with_all_branches: bool


def recordings_removed(scope: Scope, period: Period, zone: ZoneInfo) -> RecordingsRemoved:
    """Recordings deleted by the retention rules during the period, in the scope's branches (a
    purge runs for all branches at once; its audit event counts per branch since it carries
    ``recordings_by_branch``)."""
    start, end = period.bounds(zone)
    details: Iterable[Any] = db.session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == PURGE_ACTION, AuditEvent.at >= start, AuditEvent.at < end
        )
    )
    in_scope = db.session.scalars(select(Branch.id).where(*scope.on(Branch.id)))
    branches = {str(branch_id) for branch_id in in_scope}
    count, with_all_branches = 0, False
    for event in details:
        if not isinstance(event, dict):
            continue
        by_branch = event.get("recordings_by_branch")
        if isinstance(by_branch, dict):
            count += sum(_count(n) for branch, n in by_branch.items() if branch in branches)
        elif total := _count(event.get("recordings")):
            count += total
            with_all_branches = True
    return RecordingsRemoved(count, with_all_branches)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def visible_branches(user: User) -> Select[tuple[int, str]]:
    return select(Branch.id, Branch.name).where(branch_filter(user, Branch.id)).order_by(Branch.name)
