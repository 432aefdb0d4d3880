"""Kiosks joining, moving and leaving. Called by the Kiosks page, the CLI and the kiosk API."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from admin import audit
from admin.extensions import db
from admin.kiosk_api.auth import hash_secret, new_token
from admin.models import Branch, Enrollment, Kiosk, KioskPlacement, utcnow

# No 0/O, 1/I/L: a pairing code is read off a screen and typed in by a person.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
ENROLLMENT_LIFETIME = timedelta(hours=24)


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


def approve(code: str, branch: Branch, name: str = "") -> Kiosk:
    """Staff typed the code shown on a kiosk and chose its branch: the kiosk gets its token."""
    enrollment = find_waiting(code)
    if enrollment is None:
        raise KioskError(_("No kiosk is waiting with pairing code %(code)s.", code=code.strip().upper()))
    if not branch.active:
        raise KioskError(_("Branch %(name)s is not active.", name=branch.name))
    token = new_token()
    kiosk = Kiosk(
        name=(name or enrollment.name or f"Vertelpaal {branch.name}").strip()[:120],
        branch=branch,
        token_hash=hash_secret(token),
        status={},
    )
    db.session.add(kiosk)
    db.session.flush()
    db.session.add(KioskPlacement(kiosk_id=kiosk.id, branch_id=branch.id))
    enrollment.approved_at = utcnow()
    enrollment.kiosk_id = kiosk.id
    enrollment.pending_token = token
    audit.record("kiosk.approve", f"kiosk:{kiosk.id}", branch=branch.name, name=kiosk.name)
    return kiosk


def collect_token(enrollment: Enrollment) -> str | None:
    """Hand the token out once; later polls get nothing."""
    token = enrollment.pending_token
    if token is not None:
        enrollment.pending_token = None
        enrollment.token_collected_at = utcnow()
    return token


def move(kiosk: Kiosk, branch: Branch) -> None:
    if kiosk.branch_id == branch.id:
        return
    audit.record("kiosk.move", f"kiosk:{kiosk.id}", old=kiosk.branch.name, new=branch.name)
    kiosk.branch = branch
    db.session.add(KioskPlacement(kiosk_id=kiosk.id, branch_id=branch.id))


def revoke(kiosk: Kiosk) -> None:
    if kiosk.revoked_at is None:
        kiosk.revoked_at = utcnow()
        audit.record("kiosk.revoke", f"kiosk:{kiosk.id}", name=kiosk.name)


def branch_at(kiosk: Kiosk, moment: datetime) -> int:
    """The branch the kiosk stood in at ``moment`` (its first branch for anything earlier)."""
    placements = select(KioskPlacement).where(KioskPlacement.kiosk_id == kiosk.id)
    placement = db.session.scalar(
        placements.where(KioskPlacement.since <= moment)
        .order_by(KioskPlacement.since.desc(), KioskPlacement.id.desc())
        .limit(1)
    ) or db.session.scalar(placements.order_by(KioskPlacement.since, KioskPlacement.id).limit(1))
    return placement.branch_id if placement else kiosk.branch_id
