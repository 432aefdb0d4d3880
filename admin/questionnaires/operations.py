from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import exists, select

from admin import audit
from admin.extensions import db
from admin.models import (
    Branch,
    Question,
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireVersion,
    Session,
)


class QuestionnaireError(ValueError):
    pass


@dataclass(frozen=True)
class QuestionnairePlan:
    name: str
    activity: str | None
    active_from: date | None
    active_to: date | None
    branches: list[Branch]
    questions: list[Question]

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


def _new_version(number: int, questions: list[Question]) -> QuestionnaireVersion:
    return QuestionnaireVersion(number=number, items=_items(questions))


def _items(questions: list[Question]) -> list[QuestionnaireItem]:
    return [QuestionnaireItem(position=i, question=q) for i, q in enumerate(questions)]
