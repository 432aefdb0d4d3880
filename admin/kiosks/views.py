from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from admin.auth import admin_required, branch_filter
from admin.extensions import db, limiter
from admin.forms import choices
from admin.kiosk_api.ingest import CLOCK_SKEW
from admin.kiosks import operations
from admin.models import Branch, Kiosk, utcnow

bp = Blueprint("kiosks", __name__, url_prefix="/kiosks")

# A kiosk sends a heartbeat every few minutes; after this long without one it is marked silent.
SILENT_AFTER = timedelta(minutes=15)


class ApproveForm(FlaskForm):
    code = StringField(_l("Pairing code shown on the kiosk"), validators=[DataRequired(), Length(max=20)])
    branch = SelectField(_l("Branch"), coerce=int)
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=120)])
    location = StringField(
        _l("Location outside the branch (optional), e.g. Weekmarkt Roden"),
        validators=[Optional(), Length(max=120)],
    )


class MoveForm(FlaskForm):
    branch = SelectField(_l("Move to branch"), coerce=int)
    location = StringField(_l("Location (optional)"), validators=[Optional(), Length(max=120)])


def _branch_choices() -> list:
    branches = db.session.scalars(select(Branch).where(Branch.active).order_by(Branch.name)).all()
    return choices((b.id, b.name) for b in branches)


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    kiosks = db.session.scalars(
        select(Kiosk)
        .where(branch_filter(current_user, Kiosk.branch_id))
        .order_by(Kiosk.revoked_at.is_not(None), Kiosk.name)
    ).all()
    approve_form = ApproveForm()
    approve_form.branch.choices = _branch_choices()
    move_form = MoveForm()
    move_form.branch.choices = approve_form.branch.choices
    return render_template(
        "kiosks/index.html",
        kiosks=kiosks,
        approve_form=approve_form,
        move_form=move_form,
        silent_before=utcnow() - SILENT_AFTER,
        clock_skew_seconds=int(CLOCK_SKEW.total_seconds()),
    )


@bp.post("/approve")
@admin_required
@limiter.limit("120 per hour")  # besides the limit on wrong codes per account and address
def approve() -> ResponseReturnValue:
    form = ApproveForm()
    form.branch.choices = _branch_choices()
    if form.validate_on_submit():
        branch = db.session.get(Branch, form.branch.data) or abort(404)
        try:
            kiosk = operations.approve(
                form.code.data or "",
                branch,
                form.name.data or "",
                address=request.remote_addr or "unknown",
                location=form.location.data,
            )
        except operations.KioskError as error:
            db.session.commit()  # a wrong code is audited: the next attempts count it
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "Kiosk %(name)s is enrolled in %(branch)s. It starts within a minute.",
                    name=kiosk.name,
                    branch=branch.name,
                ),
                "info",
            )
    else:
        flash(_("Type the pairing code and choose a branch."), "error")
    return redirect(url_for("kiosks.index"))


def _kiosk(kiosk_id: int) -> Kiosk:
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        abort(404)
    return kiosk


@bp.post("/<int:kiosk_id>/move")
@admin_required
def move(kiosk_id: int) -> ResponseReturnValue:
    kiosk = _kiosk(kiosk_id)
    form = MoveForm()
    form.branch.choices = _branch_choices()
    if form.validate_on_submit():
        branch = db.session.get(Branch, form.branch.data) or abort(404)
        operations.move(kiosk, branch, form.location.data)
        db.session.commit()
        flash(
            _(
                "%(name)s now stands in %(branch)s; its earlier answers keep their branch and location.",
                name=kiosk.name,
                branch=f"{branch.name}, {kiosk.location}" if kiosk.location else branch.name,
            ),
            "info",
        )
    return redirect(url_for("kiosks.index"))


@bp.post("/<int:kiosk_id>/revoke")
@admin_required
def revoke(kiosk_id: int) -> ResponseReturnValue:
    kiosk = _kiosk(kiosk_id)
    form = FlaskForm()
    if form.validate_on_submit():
        operations.revoke(kiosk)
        db.session.commit()
        flash(_("%(name)s can no longer send or fetch anything.", name=kiosk.name), "info")
    return redirect(url_for("kiosks.index"))
