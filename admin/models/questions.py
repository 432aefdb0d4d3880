"""Questions, their per-language prompt videos and answer options, and questionnaires.

A questionnaire's questions live in versions. Once a kiosk has used a version (a session points at
it) the version is frozen: editing the questionnaire makes a new version, so old answers stay tied
to what was really asked.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Column, Enum, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.models.base import Base, utcnow
from admin.models.branches import Branch
from admin.models.media import Media


class QuestionKind(enum.StrEnum):
    SCALE = "scale"  # 3 or 5 faces
    CHOICE = "choice"  # pictogram cards
    VIDEO = "video"
    VOICE = "voice"
    OPEN = "open"  # the visitor chooses video or voice

    @property
    def has_options(self) -> bool:
        return self in (QuestionKind.SCALE, QuestionKind.CHOICE)


LANGUAGES = ("nl", "en", "de", "ar", "tr", "uk", "pl", "ti", "fa", "so")


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[QuestionKind] = mapped_column(
        Enum(QuestionKind, name="question_kind", values_callable=lambda kinds: [k.value for k in kinds])
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived: Mapped[bool] = mapped_column(default=False)

    prompts: Mapped[list[QuestionPrompt]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="QuestionPrompt.language"
    )
    options: Mapped[list[AnswerOption]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="AnswerOption.position"
    )

    def prompt_for(self, language: str) -> QuestionPrompt | None:
        return next((p for p in self.prompts if p.language == language), None)


class QuestionPrompt(Base):
    """The question as asked in one language: a video and its subtitles."""

    __tablename__ = "question_prompts"
    __table_args__ = (UniqueConstraint("question_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(5))
    text: Mapped[str] = mapped_column(String(500), default="")
    video_sha256: Mapped[str] = mapped_column(ForeignKey("media.sha256"))
    subtitles_sha256: Mapped[str] = mapped_column(ForeignKey("media.sha256"))

    question: Mapped[Question] = relationship(back_populates="prompts")
    video: Mapped[Media] = relationship(foreign_keys=[video_sha256])


class AnswerOption(Base):
    __tablename__ = "answer_options"
    __table_args__ = (UniqueConstraint("question_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    position: Mapped[int]
    value: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))  # in the organisation's language, for staff
    pictogram_sha256: Mapped[str] = mapped_column(ForeignKey("media.sha256"))

    question: Mapped[Question] = relationship(back_populates="options")
    translations: Mapped[list[OptionTranslation]] = relationship(
        back_populates="option", cascade="all, delete-orphan", order_by="OptionTranslation.language"
    )


class OptionTranslation(Base):
    """An option's label in one language, and the recording the kiosk speaks when it is touched."""

    __tablename__ = "option_translations"
    __table_args__ = (UniqueConstraint("option_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("answer_options.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(5))
    label: Mapped[str] = mapped_column(String(120))
    audio_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256"))

    option: Mapped[AnswerOption] = relationship(back_populates="translations")


questionnaire_branches = Table(
    "questionnaire_branches",
    Base.metadata,
    Column("questionnaire_id", ForeignKey("questionnaires.id", ondelete="CASCADE"), primary_key=True),
    Column("branch_id", ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True),
)


class Questionnaire(Base):
    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The activity it belongs to, e.g. "Klik&Tik" or "Kleintje Bieb"; empty for the general visit.
    activity: Mapped[str | None] = mapped_column(String(120))
    # How the kiosk's "I came for..." screen shows the activity: a picture and its spoken name.
    activity_pictogram_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256"))
    activity_audio_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256"))
    # Minutes after a scheduled end during which the kiosk still shows the activity's questions:
    # participants answer when the activity is over, not during it.
    minutes_after: Mapped[int] = mapped_column(default=0)
    # The built-in "Are you a member of the library?" question before the first question.
    ask_member: Mapped[bool] = mapped_column(default=False)
    active_from: Mapped[date | None]
    active_to: Mapped[date | None]
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    branches: Mapped[list[Branch]] = relationship(secondary=questionnaire_branches, order_by=Branch.name)
    schedules: Mapped[list[ActivitySchedule]] = relationship(
        back_populates="questionnaire",
        cascade="all, delete-orphan",
        order_by=lambda: [
            ActivitySchedule.branch_id,
            ActivitySchedule.on_date,
            ActivitySchedule.weekday,
            ActivitySchedule.starts,
            ActivitySchedule.id,
        ],
    )
    versions: Mapped[list[QuestionnaireVersion]] = relationship(
        back_populates="questionnaire",
        cascade="all, delete-orphan",
        order_by="QuestionnaireVersion.number",
    )

    @property
    def current_version(self) -> QuestionnaireVersion:
        return self.versions[-1]

    def is_active_on(self, day: date) -> bool:
        return (
            not self.archived
            and (self.active_from is None or self.active_from <= day)
            and (self.active_to is None or day <= self.active_to)
        )

    def starts_after(self, day: date) -> bool:
        return not self.archived and self.active_from is not None and self.active_from > day


class ActivitySchedule(Base):
    """When an activity takes place in one branch: every week on a weekday, or on one date, from
    ``starts`` to ``ends`` (local wall-clock time of the organisation)."""

    __tablename__ = "activity_schedules"
    __table_args__ = (
        CheckConstraint("(weekday IS NULL) <> (on_date IS NULL)", name="weekday_or_date"),
        CheckConstraint("weekday IS NULL OR (weekday >= 0 AND weekday <= 6)", name="weekday"),
        CheckConstraint("starts < ends", name="order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE"), index=True
    )
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    weekday: Mapped[int | None]  # 0 = Monday ... 6 = Sunday
    on_date: Mapped[date | None]
    starts: Mapped[time]
    ends: Mapped[time]

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="schedules")
    branch: Mapped[Branch] = relationship()


class QuestionnaireVersion(Base):
    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("questionnaire_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id", ondelete="CASCADE"))
    number: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="versions")
    items: Mapped[list[QuestionnaireItem]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="QuestionnaireItem.position"
    )

    @property
    def questions(self) -> list[Question]:
        return [item.question for item in self.items]


class QuestionnaireItem(Base):
    __tablename__ = "questionnaire_items"
    __table_args__ = (UniqueConstraint("version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id", ondelete="CASCADE"))
    position: Mapped[int]
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))

    version: Mapped[QuestionnaireVersion] = relationship(back_populates="items")
    question: Mapped[Question] = relationship()
