from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import func, select

from admin.auth import branch_filter
from admin.extensions import db
from admin.models import Answer, AnswerKind, Branch, ReviewStatus, utcnow

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Per visible branch: new answers, new recordings, answers this week."""
    week_ago = utcnow() - timedelta(days=7)
    recording = Answer.kind.in_([AnswerKind.VIDEO, AnswerKind.VOICE])
    new = Answer.review_status == ReviewStatus.NEW
    rows = db.session.execute(
        select(
            Branch,
            func.count(Answer.uuid).filter(new),
            func.count(Answer.uuid).filter(new, recording),
            func.count(Answer.uuid).filter(Answer.answered_at >= week_ago),
            func.max(Answer.answered_at),
        )
        .outerjoin(Answer, Answer.branch_id == Branch.id)
        .where(branch_filter(current_user, Branch.id), Branch.active)
        .group_by(Branch.id)
        .order_by(Branch.name)
    ).all()
    return render_template("home/index.html", rows=rows)
