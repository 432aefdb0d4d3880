"""The admin server's data, as SQLAlchemy 2 typed models (schema changes go through migrations)."""

from admin.models.accounts import Role, User, user_branches
from admin.models.audit import AuditEvent
from admin.models.base import Base, utcnow
from admin.models.branches import Branch, Kiosk
from admin.models.kiosks import Enrollment, KioskPlacement, Upload
from admin.models.media import Media, MediaPurpose
from admin.models.privacy import ErasedSession, PrivacySettings
from admin.models.questions import (
    LANGUAGES,
    ActivitySchedule,
    AnswerOption,
    OptionTranslation,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireVersion,
    QuestionPrompt,
    questionnaire_branches,
)
from admin.models.responses import (
    MEMBER_ANSWERS,
    Answer,
    AnswerKind,
    AnswerTag,
    Note,
    ReviewStatus,
    Session,
    Tag,
)

__all__ = [
    "LANGUAGES",
    "MEMBER_ANSWERS",
    "ActivitySchedule",
    "Answer",
    "AnswerKind",
    "AnswerOption",
    "AnswerTag",
    "AuditEvent",
    "Base",
    "Branch",
    "Enrollment",
    "ErasedSession",
    "Kiosk",
    "KioskPlacement",
    "Media",
    "MediaPurpose",
    "Note",
    "OptionTranslation",
    "PrivacySettings",
    "Question",
    "QuestionKind",
    "QuestionPrompt",
    "Questionnaire",
    "QuestionnaireItem",
    "QuestionnaireVersion",
    "ReviewStatus",
    "Role",
    "Session",
    "Tag",
    "Upload",
    "User",
    "questionnaire_branches",
    "user_branches",
    "utcnow",
]
