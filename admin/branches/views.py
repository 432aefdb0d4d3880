from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from admin.auth import admin_required
from admin.branches import operations
from admin.extensions import db
from admin.models import Branch, Kiosk, Session

bp = Blueprint("branches", __name__, url_prefix="/branches")


class BranchForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    active = BooleanField(_l("Active"), default=True)


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    query = select(Branch).order_by(Branch.active.desc(), Branch.name)
    if not current_user.is_admin:
        query = query.where(Branch.id.in_(current_user.branch_ids()))
    branches = db.session.scalars(query).all()
    kiosk_counts = dict(
        db.session.execute(select(Kiosk.branch_id, func.count()).group_by(Kiosk.branch_id)).all()
    )
    session_counts = dict(
        db.session.execute(select(Session.branch_id, func.count()).group_by(Session.branch_id)).all()
    )
    return render_template(
        "branches/index.html",
        branches=branches,
        form=BranchForm(),
        kiosk_counts=kiosk_counts,
        session_counts=session_counts,
    )


@bp.post("")
@admin_required
def create() -> ResponseReturnValue:
    form = BranchForm()
    if form.validate_on_submit():
        try:
            branch = operations.create_branch(form.name.data or "")
        except operations.BranchError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("Branch %(name)s added.", name=branch.name), "info")
    else:
        flash(_("A branch needs a name."), "error")
    return redirect(url_for("branches.index"))


@bp.route("/<int:branch_id>", methods=["GET", "POST"])
@admin_required
def edit(branch_id: int) -> ResponseReturnValue:
    branch = db.session.get(Branch, branch_id) or abort(404)
    form = BranchForm(obj=branch)
    if form.validate_on_submit():
        try:
            operations.update_branch(branch, form.name.data or "", form.active.data)
        except operations.BranchError as error:
            form.name.errors = [str(error)]
        else:
            db.session.commit()
            flash(_("Branch %(name)s saved.", name=branch.name), "info")
            return redirect(url_for("branches.index"))
    return render_template("branches/edit.html", form=form, branch=branch)
