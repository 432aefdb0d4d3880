from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from admin.auth import admin_required, branch_filter, user_sees_branch
from admin.extensions import db
from admin.forms import choices
from admin.mediafiles.operations import remove_files
from admin.models import AuditEvent, Branch, Kiosk, Session
from admin.privacy import operations, queries
from admin.privacy.forms import EraseForm, FindSessionForm, SettingsForm
from admin.privacy.speech import SpeechError
from admin.responses.queries import local_zone

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

AUDIT_PAGE = 100


def _editor_required() -> None:
    if not current_user.can_edit:
        abort(404)


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings() -> ResponseReturnValue:
    current = queries.privacy_settings()
    form = SettingsForm(
        data={
            "video_days": current.video_days,
            "voice_days": current.voice_days,
            "tap_days": current.tap_days,
            "parent_step": current.parent_step,
            "parent_text_nl": current.parent_texts.get("nl", ""),
            "parent_text_en": current.parent_texts.get("en", ""),
        }
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            operations.save_settings(
                video_days=form.video_days.data,
                voice_days=form.voice_days.data,
                tap_days=form.tap_days.data,
                parent_step=form.parent_step.data,
                parent_texts={"nl": form.parent_text_nl.data or "", "en": form.parent_text_en.data or ""},
            )
        except SpeechError:
            db.session.rollback()
            flash(_("The question could not be turned into speech; nothing was changed."), "error")
        else:
            db.session.commit()
            flash(_("Privacy settings saved. Kiosks pick them up at their next sync."), "success")
            return redirect(url_for("privacy.settings"))
    return render_template("privacy/settings.html", form=form, current=current)


@bp.get("/erase")
@login_required
def find_session() -> ResponseReturnValue:
    _editor_required()
    branches = db.session.scalars(
        select(Branch).where(branch_filter(current_user, Branch.id)).order_by(Branch.name)
    ).all()
    form = FindSessionForm(request.args)
    form.branch.choices = choices((b.id, b.name) for b in branches)
    kiosks = db.session.scalars(
        select(Kiosk).where(branch_filter(current_user, Kiosk.branch_id)).order_by(Kiosk.name)
    ).all()
    form.kiosk.choices = choices([("", _("any kiosk")), *((k.id, k.name) for k in kiosks)])
    sessions = None
    if request.args and form.validate():
        if not user_sees_branch(current_user, form.branch.data):
            abort(404)
        zone = local_zone()
        start = datetime.combine(form.day.data, form.start.data, zone)
        end = datetime.combine(form.day.data, form.end.data, zone)
        if end <= start:
            end += timedelta(days=1)
        kiosk_id = int(form.kiosk.data) if (form.kiosk.data or "").isdigit() else None
        sessions = queries.sessions_between(current_user, form.branch.data, start, end, kiosk_id)
    return render_template("privacy/find.html", form=form, sessions=sessions)


@bp.route("/erase/<session_uuid>", methods=["GET", "POST"])
@login_required
def erase(session_uuid: str) -> ResponseReturnValue:
    _editor_required()
    session = db.session.get(Session, session_uuid)
    if session is None or not user_sees_branch(current_user, session.branch_id):
        abort(404)
    form = EraseForm()
    if form.validate_on_submit():
        count = len(session.answers)
        files = operations.erase_session(session)
        db.session.commit()
        remove_files(files)
        flash(_("The session and its %(num)d answers are deleted.", num=count), "success")
        return redirect(url_for("privacy.find_session"))
    return render_template("privacy/erase.html", form=form, session=session)


@bp.get("/audit")
@admin_required
def audit_log() -> ResponseReturnValue:
    """Newest first, a page of 100 before the id in ``before``; filter by action or person."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE + 1)
    # No longer than the columns: a longer filter matches nothing (and SQLite refuses huge LIKEs).
    action = request.args.get("action", "").strip()[:60]
    actor = request.args.get("actor", "").strip()[:254]
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**63:
        before = None
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEvent.actor.contains(actor, autoescape=True))
    if before:
        query = query.where(AuditEvent.id < before)
    events = db.session.scalars(query).all()
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    return render_template(
        "privacy/audit.html",
        events=events,
        action=action,
        actor=actor,
        next_before=events[-1].id if more else None,
    )
