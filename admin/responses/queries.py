"""Which answers a user sees under a filter, a page at a time (keyset), and in batches for exports.

``AnswerFilter`` is the inbox filter as it stands in the URL. Its ``conditions(user)`` are plain
WHERE clauses on ``answers`` (branch scoping included), so a dashboard or an export can run its
own query over exactly the answers the inbox shows.

Pages are cut on the key (answered_at, uuid), newest first: a cursor says where a page ends, and
the next page starts right after it through the index, so page 500 costs what page 1 costs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, exists, literal, select, tuple_
from sqlalchemy.orm import aliased, selectinload

from admin.auth import branch_filter
from admin.extensions import db
from admin.models import (
    Answer,
    AnswerKind,
    AnswerOption,
    AnswerTag,
    Branch,
    Kiosk,
    Note,
    Question,
    Questionnaire,
    QuestionnaireVersion,
    ReviewStatus,
    Session,
    Tag,
    User,
)
from admin.models.base import UTCDateTime

PAGE_SIZE = 50

#: Kinds that stand for several answer kinds in the filter.
KIND_GROUPS: dict[str, tuple[AnswerKind, ...]] = {
    "tap": (AnswerKind.SCALE, AnswerKind.CHOICE),
    "recording": (AnswerKind.VIDEO, AnswerKind.VOICE),
}
KIND_VALUES = (*(k.value for k in AnswerKind), *KIND_GROUPS)


def local_zone() -> ZoneInfo:
    """The organisation's time zone: days in the filter and times on the pages are in it."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


# Who answered, from their session: the member answer ("none": not asked), the activity
# ("-": a general visit) and the location (IN_BRANCH: in the branch's own building).
MEMBER_GROUPS = ("yes", "no", "unknown", "none")
NOT_ASKED = "none"
GENERAL_VISIT = "-"
IN_BRANCH = "-"


def session_group_clauses(
    member: str | None, activity: str | None, location: str | None
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``sessions`` for the member, activity and location filters that are set."""
    clauses: list[ColumnElement[bool]] = []
    if member is not None:
        clauses.append(Session.member.is_(None) if member == NOT_ASKED else Session.member == member)
    if activity is not None:
        general = activity == GENERAL_VISIT
        clauses.append(Session.activity.is_(None) if general else Session.activity == activity)
    if location is not None:
        clauses.append(Session.location.is_(None) if location == IN_BRANCH else Session.location == location)
    return clauses


def group_text(raw: str | None) -> str | None:
    """An activity or location name from a URL, or None when there is none or it is unreadable."""
    return raw if raw and len(raw) <= 120 and raw.isprintable() else None


@dataclass(frozen=True)
class AnswerFilter:
    """The inbox filter; every field is optional and they combine with AND."""

    branch: int | None = None
    questionnaire: int | None = None
    question: int | None = None
    value: str | None = None  # a tap answer's value (one option of the question); from dashboards
    kind: str | None = None  # an AnswerKind value, or a KIND_GROUPS key
    date_from: date | None = None  # inclusive, in the organisation's time zone
    date_to: date | None = None  # inclusive
    tag: int | None = None
    status: ReviewStatus | None = None
    member: str | None = None  # MEMBER_GROUPS
    activity: str | None = None  # a name, or GENERAL_VISIT
    location: str | None = None  # a name, or IN_BRANCH

    #: URL query names of the fields (``from`` and ``to`` read better than the attribute names).
    ARGS = {"date_from": "from", "date_to": "to"}

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> AnswerFilter:
        """The filter in a query string; a value that cannot be read is left out."""
        values: dict[str, Any] = {}
        for name in ("branch", "questionnaire", "question", "tag"):
            values[name] = _positive_int(args.get(name))
        kind = args.get("kind") or None
        values["kind"] = kind if kind in KIND_VALUES else None
        value = args.get("value") or None
        values["value"] = value if value and len(value) <= 40 and value.isprintable() else None
        for name in ("date_from", "date_to"):
            values[name] = _date(args.get(cls.ARGS[name]))
        status = args.get("status") or None
        values["status"] = ReviewStatus(status) if status in {s.value for s in ReviewStatus} else None
        values["member"] = args.get("member") if args.get("member") in MEMBER_GROUPS else None
        values["activity"] = group_text(args.get("activity"))
        values["location"] = group_text(args.get("location"))
        return cls(**values)

    def to_args(self) -> dict[str, str]:
        """The query string of this filter: only the fields that are set."""
        args: dict[str, str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                key = self.ARGS.get(field.name, field.name)
                args[key] = value.isoformat() if isinstance(value, date) else str(value)
        return args

    @property
    def is_empty(self) -> bool:
        return not self.to_args()

    def conditions(self, user: User) -> list[ColumnElement[bool]]:
        """WHERE clauses on ``answers`` for this filter, within the branches ``user`` may see."""
        clauses: list[ColumnElement[bool]] = [branch_filter(user, Answer.branch_id)]
        if self.branch is not None:
            clauses.append(Answer.branch_id == self.branch)
        if self.question is not None:
            clauses.append(Answer.question_id == self.question)
        if self.value is not None:
            clauses.append(Answer.value == self.value)
        if self.kind is not None:
            kinds = KIND_GROUPS.get(self.kind) or (AnswerKind(self.kind),)
            clauses.append(Answer.kind.in_(kinds) if len(kinds) > 1 else Answer.kind == kinds[0])
        if self.status is not None:
            clauses.append(Answer.review_status == self.status)
        zone = local_zone()
        if self.date_from is not None:
            clauses.append(Answer.answered_at >= _start_of(self.date_from, zone))
        if self.date_to is not None:
            clauses.append(Answer.answered_at < _start_of(self.date_to + timedelta(days=1), zone))
        if self.questionnaire is not None:
            versions = select(QuestionnaireVersion.id).where(
                QuestionnaireVersion.questionnaire_id == self.questionnaire
            )
            clauses.append(
                exists().where(
                    Session.uuid == Answer.session_uuid,
                    Session.questionnaire_version_id.in_(versions.scalar_subquery()),
                )
            )
        if self.tag is not None:
            clauses.append(exists().where(AnswerTag.answer_uuid == Answer.uuid, AnswerTag.tag_id == self.tag))
        groups = session_group_clauses(self.member, self.activity, self.location)
        if groups:
            clauses.append(exists().where(Session.uuid == Answer.session_uuid, *groups))
        return clauses

    def select_uuids(self, user: User) -> Select[tuple[str]]:
        """The uuids of every answer under this filter (for bulk changes and aggregates)."""
        return select(Answer.uuid).where(*self.conditions(user))


def _positive_int(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit():
        return None
    number = int(raw)
    return number if 0 < number < 2**31 else None


# Days a filter can name; beyond them the day's start in UTC (or the day after) does not exist.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _date(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


# --- keyset pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A place in the newest-first order: the key of one answer."""

    answered_at: datetime
    uuid: str

    def encode(self) -> str:
        moment = self.answered_at.astimezone(UTC)
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return f"{micros}_{self.uuid}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        micros, _, uuid = text.partition("_")
        if not micros.isdigit() or not 0 < len(uuid) <= 36:
            return None
        try:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
        except OverflowError:
            return None
        return cls(moment, uuid)

    @classmethod
    def of(cls, answer: Answer) -> Cursor:
        return cls(answer.answered_at, answer.uuid)


def _answer_key() -> ColumnElement[Any]:
    return tuple_(Answer.answered_at, Answer.uuid)


def _key(cursor: Cursor) -> ColumnElement[Any]:
    return tuple_(literal(cursor.answered_at, UTCDateTime()), literal(cursor.uuid))


def _older_than(cursor: Cursor) -> ColumnElement[bool]:
    return _answer_key() < _key(cursor)


def _newer_than(cursor: Cursor) -> ColumnElement[bool]:
    return _answer_key() > _key(cursor)


NEWEST_FIRST = (Answer.answered_at.desc(), Answer.uuid.desc())
OLDEST_FIRST = (Answer.answered_at.asc(), Answer.uuid.asc())


@dataclass(frozen=True)
class Page:
    answers: list[Answer]
    older: Cursor | None  # pass as ``before`` for the next, older page
    newer: Cursor | None  # pass as ``after`` for the previous, newer page


def page(
    user: User,
    answer_filter: AnswerFilter,
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of answers, newest first: the ones just older than ``before``, or just newer than
    ``after``, or the newest ones. Answers come with their question, options, tags and media."""
    conditions = answer_filter.conditions(user)
    keys = select(Answer.uuid, Answer.answered_at).where(*conditions)
    if after is not None and before is None:
        newer = keys.where(_newer_than(after)).order_by(*OLDEST_FIRST).limit(size + 1)
        rows = db.session.execute(newer).all()
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
    else:
        if before is not None:
            keys = keys.where(_older_than(before))
        rows = db.session.execute(keys.order_by(*NEWEST_FIRST).limit(size + 1)).all()
        more_older = len(rows) > size
        rows = rows[:size]
    if not rows:
        return Page([], None, None)
    first, last = Cursor(rows[0].answered_at, rows[0].uuid), Cursor(rows[-1].answered_at, rows[-1].uuid)
    # Whether there is more on the other side: looked up from the page's edge outwards, so it stops
    # at the first match (the page we came from); the newest page has nothing newer by definition.
    if after is not None and before is None:
        more_older = _any(conditions, _older_than(last), NEWEST_FIRST)
    elif before is not None:
        more_newer = _any(conditions, _newer_than(first), OLDEST_FIRST)
    else:
        more_newer = False
    answers = load_answers([row.uuid for row in rows])
    return Page(answers, last if more_older else None, first if more_newer else None)


def _any(
    conditions: Sequence[ColumnElement[bool]], extra: ColumnElement[bool], order: tuple[Any, ...]
) -> bool:
    found = db.session.scalar(select(Answer.uuid).where(*conditions, extra).order_by(*order).limit(1))
    return found is not None


def load_answers(uuids: Sequence[str]) -> list[Answer]:
    """The answers with these uuids, in this order, with what a list or an export shows of them."""
    if not uuids:
        return []
    loaded = db.session.scalars(
        select(Answer)
        .where(Answer.uuid.in_(uuids))
        .options(
            selectinload(Answer.question).selectinload(Question.options),
            selectinload(Answer.tags),
            selectinload(Answer.media),
            selectinload(Answer.branch),
        )
    ).all()
    by_uuid = {answer.uuid: answer for answer in loaded}
    return [by_uuid[uuid] for uuid in uuids if uuid in by_uuid]


def neighbours(user: User, answer_filter: AnswerFilter, answer: Answer) -> tuple[str | None, str | None]:
    """The uuids of the answers just newer and just older than ``answer`` under the filter
    (``answer`` itself need not match it any more, e.g. after it was marked reviewed)."""
    conditions = answer_filter.conditions(user)
    here = Cursor.of(answer)
    newer = db.session.scalar(
        select(Answer.uuid).where(*conditions, _newer_than(here)).order_by(*OLDEST_FIRST).limit(1)
    )
    older = db.session.scalar(
        select(Answer.uuid).where(*conditions, _older_than(here)).order_by(*NEWEST_FIRST).limit(1)
    )
    return newer, older


@dataclass(frozen=True)
class ExportNote:
    author: str | None  # the email, None once the account is gone
    created_at: datetime
    body: str


@dataclass
class ExportRow:
    """One answer as an export shows it, read as plain rows (building ORM objects and loading
    their relations took most of an export's time)."""

    uuid: str
    answered_at: datetime
    branch: str
    kiosk: str | None
    questionnaire: str
    version: int
    question: str
    kind: AnswerKind
    value: str | None
    label: str | None  # of the option with this value, if the question has one
    language: str
    location: str | None
    activity: str | None
    member: str | None
    status: ReviewStatus
    tags: list[str] = dataclasses.field(default_factory=list)  # by name
    notes: list[ExportNote] = dataclasses.field(default_factory=list)  # oldest first


def _export_rows() -> Select[Any]:
    # Sessions under another name: the inbox's questionnaire filter has a correlated EXISTS on
    # ``sessions`` of its own.
    session = aliased(Session)
    return (
        select(
            Answer.uuid,
            Answer.answered_at,
            Branch.name,
            Kiosk.name,
            Questionnaire.name,
            QuestionnaireVersion.number,
            Question.name,
            Answer.kind,
            Answer.value,
            AnswerOption.label,
            session.language,
            session.location,
            session.activity,
            session.member,
            Answer.review_status,
        )
        .join(Branch, Branch.id == Answer.branch_id)
        .join(session, session.uuid == Answer.session_uuid)
        .outerjoin(Kiosk, Kiosk.id == session.kiosk_id)
        .join(QuestionnaireVersion, QuestionnaireVersion.id == session.questionnaire_version_id)
        .join(Questionnaire, Questionnaire.id == QuestionnaireVersion.questionnaire_id)
        .join(Question, Question.id == Answer.question_id)
        .outerjoin(
            AnswerOption,
            and_(AnswerOption.question_id == Answer.question_id, AnswerOption.value == Answer.value),
        )
    )


def batches(conditions: Sequence[ColumnElement[bool]], size: int = 500) -> Iterator[list[ExportRow]]:
    """Every answer under ``conditions`` (see ``AnswerFilter.conditions``) as export rows, newest
    first, a batch at a time (keyset, so memory stays flat however many there are): one query for
    the batch's rows, one for their tags and one for their notes."""
    cursor: Cursor | None = None
    while True:
        query = _export_rows().where(*conditions)
        if cursor is not None:
            query = query.where(_older_than(cursor))
        rows = [ExportRow(*row) for row in db.session.execute(query.order_by(*NEWEST_FIRST).limit(size))]
        if not rows:
            return
        by_uuid = {row.uuid: row for row in rows}
        tags = (
            select(AnswerTag.answer_uuid, Tag.name)
            .join(Tag, Tag.id == AnswerTag.tag_id)
            .where(AnswerTag.answer_uuid.in_(list(by_uuid)))
            .order_by(Tag.name)
        )
        for uuid, name in db.session.execute(tags):
            by_uuid[uuid].tags.append(name)
        notes = (
            select(Note.answer_uuid, User.email, Note.created_at, Note.body)
            .outerjoin(User, User.id == Note.author_id)
            .where(Note.answer_uuid.in_(list(by_uuid)))
            .order_by(Note.created_at, Note.id)
        )
        for uuid, email, created_at, body in db.session.execute(notes):
            by_uuid[uuid].notes.append(ExportNote(email, created_at, body))
        yield rows
        if len(rows) < size:
            return
        cursor = Cursor(rows[-1].answered_at, rows[-1].uuid)
