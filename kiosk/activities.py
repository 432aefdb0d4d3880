"""Which questionnaire applies at a moment: the kiosk decides on its own clock, so it switches at
an activity's start and end also when the network is gone.

The server's configuration lists every questionnaire of the kiosk's branch with its period
(``active_from``/``active_to``) and, for an activity, its times in this branch (``schedule``: a
weekday or a date, from ``starts`` to ``ends``, wall-clock time in ``time_zone``) and how many
minutes after the end it still applies (``minutes_after``). An activity without any times
(``timed`` false) applies for its whole period (a week of events, say); one with times in other
branches only, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "Europe/Amsterdam"


def zone_of(synced: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(synced.get("time_zone") or DEFAULT_TIME_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def in_period(questionnaire: dict[str, Any], day: date) -> bool:
    first, last = _day(questionnaire.get("active_from")), _day(questionnaire.get("active_to"))
    return (first is None or first <= day) and (last is None or day <= last)


def runs_at(questionnaire: dict[str, Any], moment: datetime, zone: ZoneInfo) -> bool:
    """True when ``questionnaire`` applies at ``moment`` (aware): in its period and, for an
    activity with times, between a start and its end plus the minutes after."""
    local = moment.astimezone(zone)
    if not in_period(questionnaire, local.date()):
        return False
    schedule = questionnaire.get("schedule") or []
    if not questionnaire.get("activity") or not (schedule or questionnaire.get("timed")):
        return True
    after = timedelta(minutes=int(questionnaire.get("minutes_after") or 0))
    # Yesterday too: an evening activity's time after may run past midnight.
    for day in (local.date(), local.date() - timedelta(days=1)):
        for slot in schedule:
            if slot.get("weekday") is not None and day.weekday() != slot["weekday"]:
                continue
            if slot.get("date") and date.fromisoformat(slot["date"]) != day:
                continue
            start = datetime.combine(day, time.fromisoformat(slot["starts"]), zone)
            end = datetime.combine(day, time.fromisoformat(slot["ends"]), zone) + after
            if start <= local < end:
                return True
    return False


@dataclass(frozen=True)
class Applicable:
    """What the kiosk shows at a moment: one questionnaire, or a choice between several."""

    current: dict[str, Any] | None
    choices: list[dict[str, Any]]  # empty unless the visitor chooses; the general one comes last


def applicable(questionnaires: list[dict[str, Any]], moment: datetime, zone: ZoneInfo) -> Applicable:
    running = [q for q in questionnaires if runs_at(q, moment, zone)]
    activities = [q for q in running if q.get("activity")]
    general = [q for q in running if not q.get("activity")]
    if len(activities) > 1:
        # Until the visitor chooses, the general one (a page that cannot choose still works).
        return Applicable((general or activities)[0], activities + general[:1])
    if activities:
        return Applicable(activities[0], [])
    return Applicable(general[0] if general else None, [])
