from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from flask_babel import gettext as _
from sqlalchemy import exists, select

from admin import audit
from admin.extensions import db
from admin.models import (
    ActivitySchedule,
    Branch,
    Media,
    Question,
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireVersion,
    Session,
)


class QuestionnaireError(ValueError):
    pass


MAX_MINUTES_AFTER = 24 * 60


@dataclass(frozen=True)
class ScheduleSlot:
    """An activity's time in one branch: every week on ``weekday`` (0 = Monday) or on ``on_date``."""

    branch: Branch
    weekday: int | None
    on_date: date | None
    starts: time
    ends: time

    def check(self, branches: list[Branch]) -> None:
        if (self.weekday is None) == (self.on_date is None):
            raise QuestionnaireError(_("Give each time of the activity a weekday or a date, not both."))
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise QuestionnaireError(_("Choose a weekday from Monday to Sunday."))
        if self.ends <= self.starts:
            raise QuestionnaireError(
                _("The activity in %(branch)s ends before it starts.", branch=self.branch.name)
            )
        if self.branch.id not in {b.id for b in branches}:
            raise QuestionnaireError(
                _(
                    "%(branch)s has a time for the activity but is not one of the questionnaire's branches.",
                    branch=self.branch.name,
                )
            )


@dataclass(frozen=True)
class QuestionnairePlan:
    name: str
    activity: str | None
    active_from: date | None
    active_to: date | None
    branches: list[Branch]
    questions: list[Question]
    schedule: list[ScheduleSlot] = field(default_factory=list)
    minutes_after: int = 0
    ask_member: bool = False
    # None keeps what the questionnaire has (a form that uploads no new file changes nothing).
    activity_pictogram: Media | None = None
    activity_audio: Media | None = None

    def check(self) -> None:
        if not self.name.strip():
            raise QuestionnaireError(_("A questionnaire needs a name."))
        if not self.questions:
            raise QuestionnaireError(_("Choose at least one question."))
        if len({q.id for q in self.questions}) != len(self.questions):
            raise QuestionnaireError(_("A question can be asked only once in a questionnaire."))
        if not self.branches:
            raise QuestionnaireError(_("Choose at least one branch."))
        if self.active_from and self.active_to and self.active_to < self.active_from:
            raise QuestionnaireError(_("The end date is before the start date."))
        if not 0 <= self.minutes_after <= MAX_MINUTES_AFTER:
            raise QuestionnaireError(_("The time after the activity is 0 to 1440 minutes."))
        if self.schedule and not (self.activity or "").strip():
            raise QuestionnaireError(_("Times belong to an activity: give the activity's name too."))
        for slot in self.schedule:
            slot.check(self.branches)


def version_in_use(version: QuestionnaireVersion) -> bool:
    """A version is frozen once any session answered it."""
    return bool(db.session.scalar(select(exists().where(Session.questionnaire_version_id == version.id))))


def create_questionnaire(plan: QuestionnairePlan) -> Questionnaire:
    plan.check()
    questionnaire = Questionnaire()
    _apply_details(questionnaire, plan)
    questionnaire.versions.append(_new_version(1, plan.questions))
    db.session.add(questionnaire)
    db.session.flush()
    audit.record("questionnaire.create", f"questionnaire:{questionnaire.id}", name=questionnaire.name)
    return questionnaire


def update_questionnaire(questionnaire: Questionnaire, plan: QuestionnairePlan) -> bool:
    """Apply ``plan``; returns True when a new version was made for a changed question list."""
    plan.check()
    _apply_details(questionnaire, plan)
    current = questionnaire.current_version
    new_version = False
    if [q.id for q in current.questions] != [q.id for q in plan.questions]:
        if version_in_use(current):
            questionnaire.versions.append(_new_version(current.number + 1, plan.questions))
            new_version = True
        else:
            current.items.clear()
            db.session.flush()  # the old positions must be gone before new ones take them
            current.items.extend(_items(plan.questions))
    audit.record(
        "questionnaire.update",
        f"questionnaire:{questionnaire.id}",
        version=questionnaire.current_version.number,
    )
    return new_version


def _apply_details(questionnaire: Questionnaire, plan: QuestionnairePlan) -> None:
    questionnaire.name = plan.name.strip()
    questionnaire.activity = (plan.activity or "").strip() or None
    questionnaire.active_from, questionnaire.active_to = plan.active_from, plan.active_to
    questionnaire.branches = list(plan.branches)
    questionnaire.minutes_after = plan.minutes_after
    questionnaire.ask_member = plan.ask_member
    if plan.activity_pictogram is not None:
        questionnaire.activity_pictogram_sha256 = plan.activity_pictogram.sha256
    if plan.activity_audio is not None:
        questionnaire.activity_audio_sha256 = plan.activity_audio.sha256
    # Kiosks read the times from their configuration; old times go, the plan's are the times now.
    questionnaire.schedules = [
        ActivitySchedule(
            branch_id=slot.branch.id,
            weekday=slot.weekday,
            on_date=slot.on_date,
            starts=slot.starts,
            ends=slot.ends,
        )
        for slot in plan.schedule
    ]


def _new_version(number: int, questions: list[Question]) -> QuestionnaireVersion:
    return QuestionnaireVersion(number=number, items=_items(questions))


def _items(questions: list[Question]) -> list[QuestionnaireItem]:
    return [QuestionnaireItem(position=i, question=q) for i, q in enumerate(questions)]
