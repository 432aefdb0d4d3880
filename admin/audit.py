"""Recording who did what. Events are only ever added, in the same commit as the act itself."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from admin.extensions import db
from admin.models import AuditEvent, User


def record(action: str, target: str, actor: User | None = None, **details: Any) -> AuditEvent:
    if actor is None and current_user and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    event = AuditEvent(
        user_id=actor.id if actor else None,
        actor=actor.email if actor else "system",
        action=action,
        target=target,
        details=details,
    )
    db.session.add(event)
    return event
