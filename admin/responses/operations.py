"""Changes staff make to answers (tags, notes, review status, in bulk too) and the tag list.

Every change is recorded in the audit log in the same transaction; the view commits once.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, delete, exists, func, insert, literal, select, update

from admin import audit
from admin.extensions import db
from admin.models import Answer, AnswerTag, Note, ReviewStatus, Tag, User, utcnow
from admin.models.base import UTCDateTime

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_NOTE = 5000


class ReviewError(ValueError):
    """A change that cannot be made; the message says why, in the user's language."""


def _target(answer: Answer) -> str:
    return f"answer:{answer.uuid}"


def delete_answers(which: Select[tuple[str]]) -> int:
    """Delete the answers whose uuids ``which`` selects, with their tags and notes (retention,
    erasure); how many answers went. Their recordings are the caller's (``release_recordings``)."""
    quietly = {"synchronize_session": False}  # the callers expire what they hold
    db.session.execute(delete(AnswerTag).where(AnswerTag.answer_uuid.in_(which)), execution_options=quietly)
    db.session.execute(delete(Note).where(Note.answer_uuid.in_(which)), execution_options=quietly)
    deleted = db.session.execute(delete(Answer).where(Answer.uuid.in_(which)), execution_options=quietly)
    return int(deleted.rowcount)  # type: ignore[attr-defined]


# --- one answer --------------------------------------------------------------------------------


def record_watch(answer: Answer) -> None:
    """Opening the page of a recording counts as watching (or hearing) it."""
    if answer.kind.is_recording:
        audit.record("answer.watch", _target(answer), media=answer.media_sha256)


def record_download(answer: Answer) -> None:
    audit.record("answer.download", _target(answer), media=answer.media_sha256)


def add_tag(answer: Answer, tag: Tag, user: User) -> bool:
    """Put ``tag`` on ``answer``; False when it was there already."""
    if any(existing.id == tag.id for existing in answer.tags):
        return False
    db.session.add(AnswerTag(answer_uuid=answer.uuid, tag_id=tag.id, created_by_id=user.id))
    db.session.flush()
    db.session.expire(answer, ["tags"])
    audit.record("answer.tag", _target(answer), tag=tag.name)
    return True


def remove_tag(answer: Answer, tag: Tag) -> bool:
    removed = db.session.execute(
        delete(AnswerTag).where(AnswerTag.answer_uuid == answer.uuid, AnswerTag.tag_id == tag.id)
    )
    db.session.expire(answer, ["tags"])
    if not removed.rowcount:  # type: ignore[attr-defined]
        return False
    audit.record("answer.untag", _target(answer), tag=tag.name)
    return True


def set_status(answer: Answer, status: ReviewStatus) -> bool:
    if answer.review_status is status:
        return False
    audit.record("answer.status", _target(answer), before=answer.review_status.value, after=status.value)
    answer.review_status = status
    return True


def add_note(answer: Answer, body: str, user: User) -> Note:
    text = body.strip()
    if not text:
        raise ReviewError(_("A note cannot be empty."))
    if len(text) > MAX_NOTE:
        raise ReviewError(_("A note holds at most %(n)d characters.", n=MAX_NOTE))
    note = Note(answer_uuid=answer.uuid, author_id=user.id, body=text)
    db.session.add(note)
    db.session.flush()
    db.session.expire(answer, ["notes"])
    audit.record("answer.note", _target(answer), note=note.id)
    return note


def tag_by_name(name: str) -> Tag:
    tag = db.session.scalar(select(Tag).where(Tag.name == name.strip()))
    if tag is None:
        raise ReviewError(_("There is no tag %(name)s. An admin keeps the list of tags.", name=name.strip()))
    return tag


# --- many answers at once ----------------------------------------------------------------------


def bulk_status(selection: Select[tuple[str]], status: ReviewStatus, **details: Any) -> int:
    """Give every answer in ``selection`` (a select of uuids) the status; returns how many changed."""
    result = db.session.execute(
        update(Answer)
        .where(Answer.uuid.in_(selection.scalar_subquery()), Answer.review_status != status)
        .values(review_status=status)
        .execution_options(synchronize_session=False)
    )
    changed: int = result.rowcount  # type: ignore[attr-defined]
    db.session.expire_all()
    audit.record("answers.status", "answers", after=status.value, changed=changed, **details)
    return changed


def bulk_add_tag(selection: Select[tuple[str]], tag: Tag, user: User, **details: Any) -> int:
    untagged = select(
        Answer.uuid,
        literal(tag.id, Integer()),
        literal(utcnow(), UTCDateTime()),
        literal(user.id, Integer()),
    ).where(
        Answer.uuid.in_(selection.scalar_subquery()),
        ~exists().where(AnswerTag.answer_uuid == Answer.uuid, AnswerTag.tag_id == tag.id),
    )
    # Counted first: not every driver reports the row count of an INSERT … SELECT.
    changed = db.session.scalar(select(func.count()).select_from(untagged.subquery())) or 0
    db.session.execute(
        insert(AnswerTag).from_select(["answer_uuid", "tag_id", "created_at", "created_by_id"], untagged)
    )
    db.session.expire_all()
    audit.record("answers.tag", "answers", tag=tag.name, changed=changed, **details)
    return changed


def bulk_remove_tag(selection: Select[tuple[str]], tag: Tag, **details: Any) -> int:
    result = db.session.execute(
        delete(AnswerTag).where(
            AnswerTag.tag_id == tag.id, AnswerTag.answer_uuid.in_(selection.scalar_subquery())
        )
    )
    changed: int = result.rowcount  # type: ignore[attr-defined]
    db.session.expire_all()
    audit.record("answers.untag", "answers", tag=tag.name, changed=changed, **details)
    return changed


# --- the tag list (admins) ---------------------------------------------------------------------


def _check_tag(name: str, colour: str, tag: Tag | None = None) -> str:
    name = name.strip()
    if not name:
        raise ReviewError(_("A tag needs a name."))
    if not COLOUR.match(colour):
        raise ReviewError(_("A colour is written like #1a7f37."))
    same = db.session.scalar(select(Tag).where(Tag.name == name))
    if same is not None and same is not tag:
        raise ReviewError(_("There is already a tag %(name)s.", name=name))
    return name


def create_tag(name: str, colour: str) -> Tag:
    tag = Tag(name=_check_tag(name, colour), colour=colour.lower())
    db.session.add(tag)
    db.session.flush()
    audit.record("tag.create", f"tag:{tag.id}", name=tag.name, colour=tag.colour)
    return tag


def update_tag(tag: Tag, name: str, colour: str) -> None:
    tag.name, tag.colour = _check_tag(name, colour, tag), colour.lower()
    audit.record("tag.update", f"tag:{tag.id}", name=tag.name, colour=tag.colour)


def delete_tag(tag: Tag) -> int:
    """Remove the tag from every answer and from the list; returns on how many answers it was."""
    removed = db.session.execute(delete(AnswerTag).where(AnswerTag.tag_id == tag.id))
    count: int = removed.rowcount  # type: ignore[attr-defined]
    audit.record("tag.delete", f"tag:{tag.id}", name=tag.name, answers=count)
    db.session.delete(tag)
    db.session.flush()
    return count
