"""Library branches and the kiosks that stand in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.models.base import Base, utcnow


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    kiosks: Mapped[list[Kiosk]] = relationship(back_populates="branch")

    def __repr__(self) -> str:
        return f"<Branch {self.name!r}>"


class Kiosk(Base):
    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    # Where it stands when not in the branch's building: a village hall, a market, a school.
    location: Mapped[str | None] = mapped_column(String(120))
    # sha256 of the bearer token; the token itself is shown to the kiosk once and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime | None]
    # What the kiosk said in its last heartbeat (version, outbox depth, disk, camera, microphone).
    status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    branch: Mapped[Branch] = relationship(back_populates="kiosks")

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
