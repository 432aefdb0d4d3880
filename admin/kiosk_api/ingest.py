"""Storing one visitor's session sent by a kiosk: all of it, exactly once, or nothing."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Integer, Select, String, bindparam, exists, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from admin.extensions import db
from admin.kiosks.operations import branch_at_clause, location_at_clause
from admin.models import (
    MEMBER_ANSWERS,
    Answer,
    AnswerKind,
    ErasedSession,
    Kiosk,
    Media,
    MediaPurpose,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireVersion,
    Session,
    utcnow,
)
from admin.storage import SHA256_PATTERN

# Which answer kinds fit which question kinds.
ALLOWED = {
    QuestionKind.SCALE: {AnswerKind.SCALE},
    QuestionKind.CHOICE: {AnswerKind.CHOICE},
    QuestionKind.VIDEO: {AnswerKind.VIDEO},
    QuestionKind.VOICE: {AnswerKind.VOICE},
    QuestionKind.OPEN: {AnswerKind.VIDEO, AnswerKind.VOICE},
}


# The devices a kiosk records answers with, as sessions name those that did not work.
DEVICES = ("camera", "microphone")


class Invalid(ValueError):
    """The body is not a session we can store (422)."""


@dataclass
class Outcome:
    status: int  # 201 stored, 200 stored before with the same body, 409 conflict or media missing
    error: str | None = None
    missing: list[str] = field(default_factory=list)


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class QuestionShape:
    """What ingest needs of a question: its kind and the values its options allow."""

    id: int
    kind: QuestionKind
    values: frozenset[str]


@dataclass
class _VersionCache:
    """A questionnaire version that has sessions is frozen (editing makes a new version) and a
    question's options never change, so what ingest needs of it is kept, per app and worker
    process, once a session for it was stored."""

    shapes: dict[int, dict[int, QuestionShape]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kept: int = 256


def _version_cache() -> _VersionCache:
    cache: _VersionCache = current_app.extensions.setdefault("ingest_versions", _VersionCache())
    return cache


def store_session(kiosk: Kiosk, session_uuid: str, body: dict[str, Any]) -> Outcome:
    received_at = utcnow()
    digest = body_hash(body)
    started_at = _time_or_none(body, "started_at")
    prior = _prior(session_uuid, kiosk, started_at)
    if prior.erased:
        # Erased on the visitor's request after it arrived: the kiosk may forget it too.
        return Outcome(200)
    if prior.kiosk_id is not None or prior.body_sha256 is not None:
        return _compare(prior.kiosk_id, prior.body_sha256, kiosk, digest)

    version_id = _int(body, "questionnaire_version_id")
    questions = _questions_of(version_id)
    if questions is None:
        raise Invalid("questionnaire_version_id is not a questionnaire version")
    consent = body.get("consent")
    if not isinstance(consent, bool):
        raise Invalid("consent must be true or false")
    parent_consent = body.get("parent_consent")
    if parent_consent is not None and not isinstance(parent_consent, bool):
        raise Invalid("parent_consent must be true, false or absent")
    missing_devices = _devices(body.get("missing_devices"))
    if started_at is None or prior.branch_id is None:
        raise Invalid("started_at must be an ISO 8601 time with a zone")
    finished_at = _time(body, "finished_at") if _optional(body, "finished_at") else None
    language = _text(body, "language", 5)
    if _optional(body, "activity"):
        _text(body, "activity", 120)
    # What the visitor came for is the questionnaire's activity, as the server knows it: a kiosk's
    # own word could count its answers for an activity they did not belong to.
    activity = _activity_of(version_id)
    member = body.get("member")
    if member is not None and member not in MEMBER_ANSWERS:
        raise Invalid(f"member must be one of {', '.join(MEMBER_ANSWERS)}, or absent")
    raw_answers = body.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        raise Invalid("answers must be a non-empty list")
    # At most one answer per question (checked below); this refuses a huge list before any work.
    if len(raw_answers) > len(questions):
        raise Invalid(f"a session of this questionnaire version has at most {len(questions)} answers")

    branch_id = prior.branch_id
    session = {
        "uuid": session_uuid,
        "kiosk_id": kiosk.id,
        "branch_id": branch_id,
        "questionnaire_version_id": version_id,
        "language": language,
        "consent": consent,
        "parent_consent": parent_consent,
        "missing_devices": missing_devices,
        "activity": activity,
        "member": member,
        "location": prior.location,
        "body_sha256": digest,
        "consent_version": _text(body, "consent_version", 40) if _optional(body, "consent_version") else None,
        "started_at": started_at,
        "finished_at": finished_at,
        "received_at": received_at,
        "clock_suspect": False,
        "kiosk_started_at": None,
    }
    answers: list[dict[str, Any]] = []
    missing: list[str] = []
    seen: set[str] = set()
    answered: set[int] = set()
    for raw in raw_answers:
        if not isinstance(raw, dict):
            raise Invalid("each answer must be an object")
        answer_uuid = _uuid(raw.get("uuid"), "answer uuid")
        if answer_uuid in seen:
            raise Invalid(f"answer {answer_uuid} appears twice")
        seen.add(answer_uuid)
        question = questions.get(_int(raw, "question_id"))
        if question is None:
            raise Invalid(f"answer {answer_uuid}: the question is not in this questionnaire version")
        if question.id in answered:
            raise Invalid(f"answer {answer_uuid}: question {question.id} is answered twice")
        answered.add(question.id)
        try:
            kind = AnswerKind(raw.get("kind"))
        except ValueError as error:
            raise Invalid(f"answer {answer_uuid}: unknown kind") from error
        if kind not in ALLOWED[question.kind]:
            raise Invalid(
                f"answer {answer_uuid}: a {question.kind.value} question has no {kind.value} answer"
            )
        value, media = raw.get("value"), raw.get("media_sha256")
        if kind.is_recording:
            if not consent:
                raise Invalid(f"answer {answer_uuid}: a recording needs the visitor's consent")
            if parent_consent is False:
                raise Invalid(f"answer {answer_uuid}: a parent or carer did not agree to a recording")
            if not isinstance(media, str) or not SHA256_PATTERN.match(media) or value is not None:
                raise Invalid(f"answer {answer_uuid}: a recording has media_sha256 and no value")
            owner = _recording_owner(media)
            if owner is None:
                missing.append(media)
            elif owner != kiosk.id:
                # A question's file, or a recording this kiosk did not upload: never an answer of
                # this session (erasing the session would delete it).
                raise Invalid(f"answer {answer_uuid}: media_sha256 is not a recording this kiosk uploaded")
        else:
            if not isinstance(value, str) or value not in question.values or media is not None:
                raise Invalid(f"answer {answer_uuid}: value is not one of the question's options")
        answers.append(
            {
                "uuid": answer_uuid,
                "session_uuid": session_uuid,
                "question_id": question.id,
                "kind": kind,
                "value": value,
                "media_sha256": media if kind.is_recording else None,
                "branch_id": branch_id,
                "answered_at": _time(raw, "answered_at"),
            }
        )
    if missing:
        return Outcome(409, "media not uploaded yet", sorted(set(missing)))
    claimed = [started_at, *([finished_at] if finished_at else []), *(a["answered_at"] for a in answers)]
    if not _believable(kiosk, claimed, received_at):
        # Where the kiosk stands now, as its branch at the (unknown) time of the visit.
        prior = _prior(session_uuid, kiosk, received_at)
        session |= {
            "started_at": received_at,
            "finished_at": received_at,
            "kiosk_started_at": started_at,
            "clock_suspect": True,
            "branch_id": prior.branch_id,
            "location": prior.location,
        }
        for answer in answers:
            answer |= {"answered_at": received_at, "branch_id": prior.branch_id}
    try:
        # Core inserts into the tables, not ORM objects: when many kiosks come back at once, this
        # is the hot path.
        db.session.execute(insert(Session.__table__), [session])
        db.session.execute(insert(Answer.__table__), answers)
    except IntegrityError:
        # The same session arrived twice at once and the other request stored it first, or an
        # answer uuid belongs to another session: rare, so looked up only now.
        db.session.rollback()
        prior = _prior(session_uuid)
        if prior.kiosk_id is not None or prior.body_sha256 is not None:
            return _compare(prior.kiosk_id, prior.body_sha256, kiosk, digest)
        taken = db.session.scalars(select(Answer.uuid).where(Answer.uuid.in_(seen))).all()
        if taken:
            return Outcome(409, f"answer uuid already used by another session: {', '.join(sorted(taken))}")
        raise
    _remember(version_id, questions)
    return Outcome(201)


@dataclass(frozen=True)
class _Prior:
    kiosk_id: int | None
    body_sha256: str | None
    erased: bool
    branch_id: int | None = None  # where the kiosk stood when the session started
    location: str | None = None  # and where within its branch (a market, a village hall)


def _prior_statement(with_branch: bool) -> Select[tuple[Any, ...]]:
    session_uuid = bindparam("session_uuid", type_=Session.uuid.type)
    kiosk_id = bindparam("kiosk_id", type_=Integer)
    started_at = bindparam("started_at", type_=Session.started_at.type)
    branch = (
        branch_at_clause(kiosk_id, bindparam("branch_id", type_=Integer), started_at)
        if with_branch
        else literal(None)
    )
    location = (
        location_at_clause(kiosk_id, bindparam("location", type_=String), started_at)
        if with_branch
        else literal(None)
    )
    return select(
        select(Session.kiosk_id).where(Session.uuid == session_uuid).scalar_subquery(),
        select(Session.body_sha256).where(Session.uuid == session_uuid).scalar_subquery(),
        exists().where(ErasedSession.uuid == session_uuid),
        branch,
        location,
    )


# Built once: on the hot path, building and keying a statement costs more than running it.
_PRIOR = {with_branch: _prior_statement(with_branch) for with_branch in (True, False)}


def _prior(session_uuid: str, kiosk: Kiosk | None = None, started_at: datetime | None = None) -> _Prior:
    """What is known of this uuid already — a stored session, or an erased one — and the branch
    the session belongs to, in one round trip."""
    with_branch = kiosk is not None and started_at is not None
    parameters: dict[str, Any] = {"session_uuid": session_uuid}
    if kiosk is not None and started_at is not None:
        parameters |= {
            "kiosk_id": kiosk.id,
            "branch_id": kiosk.branch_id,
            "location": kiosk.location,
            "started_at": started_at,
        }
    row = db.session.execute(_PRIOR[with_branch], parameters).one()
    return _Prior(row[0], row[1], bool(row[2]), row[3], row[4])


def _compare(kiosk_id: int | None, body_sha256: str | None, kiosk: Kiosk, digest: str) -> Outcome:
    if kiosk_id == kiosk.id and body_sha256 == digest:
        return Outcome(200)
    return Outcome(409, "another session is stored under this uuid")


def _questions_of(version_id: int) -> dict[int, QuestionShape] | None:
    cache = _version_cache()
    with cache.lock:
        known = cache.shapes.get(version_id)
    if known is not None:
        return known
    # One query for the version with its questions and their options.
    version = db.session.get(
        QuestionnaireVersion,
        version_id,
        options=[
            selectinload(QuestionnaireVersion.items)
            .joinedload(QuestionnaireItem.question)
            .selectinload(Question.options)
        ],
    )
    if version is None:
        return None
    return {
        item.question_id: QuestionShape(
            item.question.id, item.question.kind, frozenset(o.value for o in item.question.options)
        )
        for item in version.items
    }


def _activity_of(version_id: int) -> str | None:
    return db.session.scalar(
        select(Questionnaire.activity)
        .join(QuestionnaireVersion, QuestionnaireVersion.questionnaire_id == Questionnaire.id)
        .where(QuestionnaireVersion.id == version_id)
    )


def _remember(version_id: int, questions: dict[int, QuestionShape]) -> None:
    cache = _version_cache()
    with cache.lock:
        if version_id not in cache.shapes and len(cache.shapes) >= cache.kept:
            cache.shapes.pop(next(iter(cache.shapes)))
        cache.shapes[version_id] = questions


# Kiosk clocks are set over the network and may drift a little; more than this ahead is wrong.
CLOCK_SKEW = timedelta(minutes=5)


def clock_offset(heartbeat: dict[str, Any], now: datetime) -> dict[str, int]:
    """How far the kiosk's clock (its heartbeat's "clock") is ahead of the server's, in seconds,
    for the Kiosks page; nothing when the kiosk did not say or said something that is not a time."""
    clock = _time_or_none(heartbeat, "clock")
    return {} if clock is None else {"clock_offset_seconds": round((clock - now).total_seconds())}


def _believable(kiosk: Kiosk, claimed: list[datetime], now: datetime) -> bool:
    """Whether a session's times fit the server's clock: not ahead of it, and not before the kiosk
    was enrolled (it had no questionnaire before). A 2099 answer would top the inbox and escape
    retention; a 1970 one would be purged at once. Old times after the enrollment are believed: a
    kiosk may be offline for weeks, and an old answer taken as new would outlive the retention its
    visitor was promised."""
    return all(kiosk.created_at - CLOCK_SKEW <= moment <= now + CLOCK_SKEW for moment in claimed)


def _recording_owner(sha256: str) -> int | None:
    """None while no file of this sha256 is stored (the kiosk has yet to upload it); else the kiosk
    whose upload made it a recording, or 0 when it is no kiosk's recording (a question's file)."""
    row = db.session.execute(
        select(Media.purpose, Media.kiosk_id).where(Media.sha256 == sha256)
    ).one_or_none()
    if row is None:
        return None
    return row.kiosk_id if row.purpose == MediaPurpose.RECORDING and row.kiosk_id is not None else 0


def _devices(value: Any) -> str | None:
    """The devices that did not work, stored as "camera,microphone" (in this order) or None."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not all(isinstance(d, str) and d in DEVICES for d in value)
        or len(set(value)) != len(value)
    ):
        raise Invalid(f"missing_devices must list each of {', '.join(DEVICES)} at most once")
    return ",".join(d for d in DEVICES if d in value) or None


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    # Database ids are 32-bit: a larger number names nothing (and PostgreSQL would refuse it).
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise Invalid(f"{key} must be a whole number from 1 to 2147483647")
    return value


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise Invalid(f"{key} must be printable text of at most {limit} characters")
    return value


def _optional(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``body`` when it holds a value for ``key``, else None (for optional fields)."""
    return body if body.get(key) is not None else None


def _time_or_none(body: dict[str, Any], key: str) -> datetime | None:
    try:
        return _time(body, key)
    except Invalid:
        return None


def _time(body: dict[str, Any], key: str) -> datetime:
    value = body.get(key)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise Invalid(f"{key} must be an ISO 8601 time with a zone") from error
    if moment.tzinfo is None:
        raise Invalid(f"{key} must be an ISO 8601 time with a zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01 east of UTC is before the first representable day
        raise Invalid(f"{key} is out of range") from error


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as error:
        raise Invalid(f"{what} must be a UUID") from error
