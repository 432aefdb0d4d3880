"""What visitors said: sessions (one pass at a kiosk), their answers, and staff work on them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.models.accounts import User
from admin.models.base import Base, utcnow
from admin.models.branches import Branch, Kiosk
from admin.models.media import Media
from admin.models.questions import Question, QuestionnaireVersion


class AnswerKind(enum.StrEnum):
    SCALE = "scale"
    CHOICE = "choice"
    VIDEO = "video"
    VOICE = "voice"

    @property
    def is_recording(self) -> bool:
        return self in (AnswerKind.VIDEO, AnswerKind.VOICE)


class ReviewStatus(enum.StrEnum):
    NEW = "new"
    REVIEWED = "reviewed"
    FLAGGED = "flagged"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members])


class Session(Base):
    """One visitor's pass through a questionnaire. The uuid is made on the kiosk."""

    __tablename__ = "sessions"
    # Dashboards count sessions per branch and week or month by their start.
    __table_args__ = (
        Index("ix_sessions_branch_started", "branch_id", "started_at"),
        Index("ix_sessions_started", "started_at"),
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"))
    # The kiosk's branch when the session was made: moving a kiosk does not rewrite history.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    language: Mapped[str] = mapped_column(String(5))
    consent: Mapped[bool]
    consent_version: Mapped[str | None] = mapped_column(String(40))
    # The answer to the parent-or-carer step: None when the kiosk did not ask it.
    parent_consent: Mapped[bool | None]
    # Devices that did not work for this visitor, "camera,microphone" or one of them; None when
    # both worked. Why no video or voice answer was offered, or why one ended early.
    missing_devices: Mapped[str | None] = mapped_column(String(40))
    # The activity the visitor came for (its name when the session was made); None: a general visit.
    activity: Mapped[str | None] = mapped_column(String(120))
    # "Are you a member of the library?": yes / no / unknown (don't know); None when not asked.
    member: Mapped[str | None] = mapped_column(String(8))
    # Where the kiosk stood within its branch (a village hall, a market), as branch_id: at the time.
    location: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The kiosk's clock was not believable (ahead of the server, before the kiosk's enrollment or
    # older than the retention period): the session's and answers' times are the server's receive
    # time, and what the kiosk claimed for the start is kept here only to show staff.
    clock_suspect: Mapped[bool] = mapped_column(default=False, server_default=false())
    kiosk_started_at: Mapped[datetime | None]
    # sha256 of the body the kiosk sent: the same body again is fine, another one is a conflict.
    body_sha256: Mapped[str | None] = mapped_column(String(64))

    kiosk: Mapped[Kiosk | None] = relationship()
    branch: Mapped[Branch] = relationship()
    questionnaire_version: Mapped[QuestionnaireVersion] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="Answer.answered_at"
    )


MEMBER_ANSWERS = ("yes", "no", "unknown")


class Answer(Base):
    __tablename__ = "answers"
    # The inbox lists answers newest first within branches; these indexes carry it.
    __table_args__ = (
        # On PostgreSQL they also carry what filters and dashboards count (kind, question, value,
        # status), so counting a period's answers reads only the index.
        Index(
            "ix_answers_branch_answered",
            "branch_id",
            "answered_at",
            "uuid",
            postgresql_include=["kind", "question_id", "value", "review_status"],
        ),
        Index(
            "ix_answers_answered",
            "answered_at",
            "uuid",
            postgresql_include=["branch_id", "kind", "question_id", "value", "review_status"],
        ),
        # The media check (who may watch a recording) looks answers up by their file.
        Index("ix_answers_media_sha256", "media_sha256"),
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_uuid: Mapped[str] = mapped_column(ForeignKey("sessions.uuid", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    kind: Mapped[AnswerKind] = mapped_column(_enum(AnswerKind, "answer_kind"))
    value: Mapped[str | None] = mapped_column(String(40))
    media_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256", ondelete="SET NULL"))
    # Copied from the session so the inbox can filter and sort without a join.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    answered_at: Mapped[datetime]
    review_status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, "review_status"), default=ReviewStatus.NEW
    )

    session: Mapped[Session] = relationship(back_populates="answers")
    branch: Mapped[Branch] = relationship()
    question: Mapped[Question] = relationship()
    media: Mapped[Media | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary="answer_tags", order_by="Tag.name")
    notes: Mapped[list[Note]] = relationship(
        back_populates="answer", cascade="all, delete-orphan", order_by="Note.created_at"
    )


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    colour: Mapped[str] = mapped_column(String(7), default="#1f6feb")


class AnswerTag(Base):
    __tablename__ = "answer_tags"
    # The inbox's tag filter and removing a tag everywhere look answers up by their tag.
    __table_args__ = (Index("ix_answer_tags_tag_answer", "tag_id", "answer_uuid"),)

    answer_uuid: Mapped[str] = mapped_column(ForeignKey("answers.uuid", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_uuid: Mapped[str] = mapped_column(ForeignKey("answers.uuid", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    answer: Mapped[Answer] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()
