"""Words for answer kinds and review statuses, in the user's language."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from admin.models import AnswerKind, ReviewStatus

KIND_LABELS = {
    AnswerKind.SCALE.value: _l("scale"),
    AnswerKind.CHOICE.value: _l("choice"),
    AnswerKind.VIDEO.value: _l("video"),
    AnswerKind.VOICE.value: _l("voice"),
    "tap": _l("scale or choice (tap)"),
    "recording": _l("video or voice"),
}

STATUS_LABELS = {
    ReviewStatus.NEW: _l("new"),
    ReviewStatus.REVIEWED: _l("reviewed"),
    ReviewStatus.FLAGGED: _l("flagged"),
}


DEVICE_LABELS = {"camera": _l("camera"), "microphone": _l("microphone")}


def devices_label(stored: str | None) -> str:
    """A session's devices that did not work ("camera,microphone") in words: "camera, microphone"."""
    return ", ".join(str(DEVICE_LABELS.get(d, d)) for d in (stored or "").split(",") if d)


# "Are you a member of the library?" per answer ("none": the kiosk did not ask).
MEMBER_LABELS = {
    "yes": _l("Member"),
    "no": _l("Not a member"),
    "unknown": _l("Does not know"),
    "none": _l("Not asked"),
}


def member_label(member: str | None) -> str:
    return str(MEMBER_LABELS[member or "none"])


def kind_label(kind: AnswerKind | str) -> str:
    return str(KIND_LABELS[str(kind)])


def status_label(status: ReviewStatus) -> str:
    return str(STATUS_LABELS[status])


def localtime(moment: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
    """A time in the organisation's zone (BABEL_DEFAULT_TIMEZONE)."""
    return format_datetime(moment, pattern) if moment else "—"


def minutes_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
