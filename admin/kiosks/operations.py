"""Kiosks joining, moving and leaving. Called by the Kiosks page, the CLI and the kiosk API."""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import ColumnElement, Select, case, exists, func, select

from admin import audit
from admin.extensions import db
from admin.kiosks.tokens import hash_secret, new_token
from admin.models import AuditEvent, Branch, Enrollment, Kiosk, KioskPlacement, utcnow

# No 0/O, 1/I/L: a pairing code is read off a screen and typed in by a person.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# A code on a kiosk's screen is good for a short while; the kiosk then asks for a new one itself.
ENROLLMENT_LIFETIME = timedelta(minutes=15)


class KioskError(ValueError):
    pass


@dataclass(frozen=True)
class NewEnrollment:
    enrollment: Enrollment
    secret: str  # given to the asking kiosk only, never stored


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_code(typed: str) -> str:
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def request_enrollment(name: str = "", now: datetime | None = None) -> NewEnrollment:
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    enrollment = Enrollment(
        id=str(uuid.uuid4()),
        secret_hash=hash_secret(secret),
        pairing_code="".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
        name=name.strip()[:120],
        created_at=now,
        expires_at=now + ENROLLMENT_LIFETIME,
    )
    db.session.add(enrollment)
    return NewEnrollment(enrollment, secret)


def find_waiting(code: str, now: datetime | None = None) -> Enrollment | None:
    now = now or utcnow()
    return db.session.scalar(
        select(Enrollment).where(
            Enrollment.pairing_code == normalise_code(code),
            Enrollment.approved_at.is_(None),
            Enrollment.expires_at > now,
        )
    )


def approve(
    code: str, branch: Branch, name: str = "", address: str = "cli", location: str | None = None
) -> Kiosk:
    """Staff typed the code shown on a kiosk and chose its branch: the kiosk gets its token.

    A wrong code is audited (the caller commits it too); after too many in an hour, from one
    account or one address, typing waits, so pairing codes cannot be found by trying.
    """
    _check_wrong_codes(address)
    enrollment = find_waiting(code)
    if enrollment is None:
        audit.record(WRONG_CODE, "enrollments", address=address)
        raise KioskError(_("No kiosk is waiting with pairing code %(code)s.", code=code.strip().upper()))
    if not branch.active:
        raise KioskError(_("Branch %(name)s is not active.", name=branch.name))
    token = new_token()
    kiosk = Kiosk(
        name=(name or enrollment.name or f"Vertelpaal {branch.name}").strip()[:120],
        branch=branch,
        token_hash=hash_secret(token),
        status={},
        location=clean_location(location),
    )
    db.session.add(kiosk)
    db.session.flush()
    db.session.add(KioskPlacement(kiosk_id=kiosk.id, branch_id=branch.id, location=kiosk.location))
    enrollment.approved_at = utcnow()
    enrollment.kiosk_id = kiosk.id
    enrollment.pending_token = token
    audit.record("kiosk.approve", f"kiosk:{kiosk.id}", branch=branch.name, name=kiosk.name)
    return kiosk


WRONG_CODE = "kiosk.pairing_code_wrong"
WRONG_CODES_PER_ACCOUNT = 10  # an hour; typos happen, a search through 31^8 codes does not fit
WRONG_CODES_PER_ADDRESS = 20
WRONG_CODE_WINDOW = timedelta(hours=1)


def _check_wrong_codes(address: str, now: datetime | None = None) -> None:
    """Counted in the audit log, so every worker and every CLI run sees the same count."""
    now = now or utcnow()
    recent = select(AuditEvent.at).where(
        AuditEvent.action == WRONG_CODE, AuditEvent.at > now - WRONG_CODE_WINDOW
    )
    actor = current_user._get_current_object() if current_user and current_user.is_authenticated else None
    by_account = recent.where(
        AuditEvent.user_id == actor.id if actor is not None else AuditEvent.actor == "system"
    )
    by_address = recent.where(AuditEvent.details["address"].as_string() == address)
    for query, allowed in ((by_account, WRONG_CODES_PER_ACCOUNT), (by_address, WRONG_CODES_PER_ADDRESS)):
        times = db.session.scalars(query.order_by(AuditEvent.at.desc()).limit(allowed)).all()
        if len(times) >= allowed:
            minutes = math.ceil((times[-1] + WRONG_CODE_WINDOW - now).total_seconds() / 60)
            message = _("Too many wrong pairing codes. Try again in %(n)d minutes.", n=max(minutes, 1))
            raise KioskError(message)


def collect_token(enrollment: Enrollment) -> str | None:
    """Hand the token out once; later polls get nothing."""
    token = enrollment.pending_token
    if token is not None:
        enrollment.pending_token = None
        enrollment.token_collected_at = utcnow()
    return token


def clean_location(location: str | None) -> str | None:
    """A location as stored: trimmed, at most 120 characters, None for none (the branch itself)."""
    return (location or "").strip()[:120] or None


def move(kiosk: Kiosk, branch: Branch, location: str | None = None) -> None:
    """Put a kiosk in ``branch`` at ``location`` (None: in the branch's own building). Sessions
    made before keep where they were made."""
    location = clean_location(location)
    if kiosk.branch_id == branch.id and kiosk.location == location:
        return
    audit.record(
        "kiosk.move",
        f"kiosk:{kiosk.id}",
        old=kiosk.branch.name,
        new=branch.name,
        old_location=kiosk.location,
        new_location=location,
    )
    kiosk.branch = branch
    kiosk.location = location
    db.session.add(KioskPlacement(kiosk_id=kiosk.id, branch_id=branch.id, location=location))


def revoke(kiosk: Kiosk) -> None:
    if kiosk.revoked_at is None:
        kiosk.revoked_at = utcnow()
        audit.record("kiosk.revoke", f"kiosk:{kiosk.id}", name=kiosk.name)


def branch_at_clause(
    kiosk_id: ColumnElement[int], fallback_branch_id: ColumnElement[int], moment: ColumnElement[datetime]
) -> ColumnElement[int]:
    """SQL for the branch a kiosk stood in at ``moment``: its placement then, its first
    placement for anything earlier, and ``fallback_branch_id`` (its branch) when it was never
    placed (made before placements were kept). Bound parameters in, so a statement built once
    serves every kiosk."""
    placements = select(KioskPlacement.branch_id).where(KioskPlacement.kiosk_id == kiosk_id).limit(1)
    return func.coalesce(
        _placement_then(placements, moment),
        placements.order_by(KioskPlacement.since, KioskPlacement.id).scalar_subquery(),
        fallback_branch_id,
    )


def location_at_clause(
    kiosk_id: ColumnElement[int], fallback_location: ColumnElement[str], moment: ColumnElement[datetime]
) -> ColumnElement[str]:
    """SQL for where within its branch a kiosk stood at ``moment`` (None: in the branch itself),
    as ``branch_at_clause`` finds the branch: its placement then, its first placement for anything
    earlier, ``fallback_location`` (its location now) when it was never placed."""
    placements = select(KioskPlacement.location).where(KioskPlacement.kiosk_id == kiosk_id).limit(1)
    ever = select(KioskPlacement.id).where(KioskPlacement.kiosk_id == kiosk_id)
    # CASE, not COALESCE: a placement's location may be NULL (in the branch itself).
    return case(
        (exists(ever.where(KioskPlacement.since <= moment)), _placement_then(placements, moment)),
        (exists(ever), placements.order_by(KioskPlacement.since, KioskPlacement.id).scalar_subquery()),
        else_=fallback_location,
    )


def _placement_then(placements: Select[Any], moment: ColumnElement[datetime]) -> ColumnElement[Any]:
    return (
        placements.where(KioskPlacement.since <= moment)
        .order_by(KioskPlacement.since.desc(), KioskPlacement.id.desc())
        .scalar_subquery()
    )
