from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from admin.auth import admin_required
from admin.extensions import db
from admin.forms import choices
from admin.mediacheck import BadMedia
from admin.mediafiles.operations import Expect, Staging
from admin.models import Branch, Media, Question, Questionnaire, questionnaire_branches
from admin.questionnaires import operations

bp = Blueprint("questionnaires", __name__, url_prefix="/questionnaires")

MAX_QUESTIONS = 12
SCHEDULE_ROWS = 6  # times of an activity on the form; empty rows are left out
ON_A_DATE = "date"
WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ScheduleRowForm(Form):
    """One time of the activity: a branch, every week on a weekday or on one date, from and until."""

    branch = SelectField(_l("Branch"), coerce=int, validate_choice=False)
    day = SelectField(_l("Day"), validate_choice=False)
    on_date = DateField(_l("Date"), validators=[Optional()])
    starts = TimeField(_l("From"), validators=[Optional()])
    ends = TimeField(_l("Until"), validators=[Optional()])


class QuestionnaireForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    activity = StringField(_l("Activity (optional), e.g. Klik&Tik"), validators=[Optional(), Length(max=120)])
    activity_pictogram = FileField(_l("Picture of the activity (SVG, PNG, JPEG or WebP)"))
    activity_audio = FileField(_l("The activity, spoken (M4A or MP3)"))
    minutes_after = IntegerField(
        _l("Minutes after the activity that kiosks still show it"),
        default=0,
        validators=[Optional()],  # the range is checked with the plan, with its own message
    )
    ask_member = BooleanField(_l('First ask "Are you a member of the library?"'))
    schedule = FieldList(FormField(ScheduleRowForm), min_entries=SCHEDULE_ROWS, max_entries=SCHEDULE_ROWS)
    active_from = DateField(_l("Active from"), validators=[Optional()])
    active_to = DateField(_l("Active until"), validators=[Optional()])
    branches = CheckboxesField(_l("Branches"), coerce=int)
    # Empty rows are fine; chosen ids are looked up again in _plan.
    questions = FieldList(SelectField(coerce=int, validate_choice=False), min_entries=MAX_QUESTIONS)


def _visible(questionnaire_id: int) -> Questionnaire:
    questionnaire = db.session.get(Questionnaire, questionnaire_id)
    if questionnaire is None:
        abort(404)
    if not current_user.is_admin and not ({b.id for b in questionnaire.branches} & current_user.branch_ids()):
        abort(404)
    return questionnaire


def _form(questionnaire: Questionnaire | None) -> QuestionnaireForm:
    form = QuestionnaireForm(obj=questionnaire)
    branches = db.session.scalars(select(Branch).where(Branch.active).order_by(Branch.name)).all()
    questions = db.session.scalars(select(Question).where(~Question.archived).order_by(Question.name)).all()
    form.branches.choices = choices((b.id, b.name) for b in branches)
    question_choices = choices([(0, "—"), *((q.id, q.name) for q in questions)])
    for field in form.questions:
        field.choices = question_choices
    day_choices = [
        ("", "—"),
        *((str(n), str(name)) for n, name in enumerate(WEEKDAYS)),
        (ON_A_DATE, _("On a date")),
    ]
    for row in form.schedule:
        row.form.branch.choices = choices([(0, "—"), *((b.id, b.name) for b in branches)])
        row.form.day.choices = day_choices
    if request.method == "GET" and questionnaire is not None:
        form.branches.data = [b.id for b in questionnaire.branches]
        chosen = [q.id for q in questionnaire.current_version.questions]
        for field, question_id in zip(form.questions, chosen + [0] * MAX_QUESTIONS, strict=False):
            field.data = question_id
        for row, slot in zip(form.schedule, questionnaire.schedules, strict=False):
            row.form.branch.data = slot.branch_id
            row.form.day.data = ON_A_DATE if slot.on_date else str(slot.weekday)
            row.form.on_date.data, row.form.starts.data, row.form.ends.data = (
                slot.on_date,
                slot.starts,
                slot.ends,
            )
    return form


def _schedule(form: QuestionnaireForm, branches: dict[int, Branch]) -> list[operations.ScheduleSlot]:
    """The filled rows as times of the activity; a half-filled row says what it misses."""
    slots = []
    for entry in form.schedule:
        row = entry.form
        number = int(entry.name.rsplit("-", 1)[1]) + 1  # as the form numbers its rows
        filled = [row.branch.data, row.day.data, row.on_date.data, row.starts.data, row.ends.data]
        if not any(filled):
            continue
        branch = branches.get(row.branch.data or 0)
        if branch is None:
            raise operations.QuestionnaireError(_("Time %(n)d: choose a branch.", n=number))
        if not row.day.data:
            raise operations.QuestionnaireError(_("Time %(n)d: choose a weekday or 'On a date'.", n=number))
        if row.day.data == ON_A_DATE and row.on_date.data is None:
            raise operations.QuestionnaireError(_("Time %(n)d: give the date.", n=number))
        if row.starts.data is None or row.ends.data is None:
            raise operations.QuestionnaireError(_("Time %(n)d: give the start and end time.", n=number))
        on_date = row.on_date.data if row.day.data == ON_A_DATE else None
        weekday = None if on_date else int(row.day.data) if row.day.data.isdigit() else -1
        slots.append(operations.ScheduleSlot(branch, weekday, on_date, row.starts.data, row.ends.data))
    return slots


def _activity_media(form: QuestionnaireForm, staging: Staging) -> dict[str, Media]:
    """The uploaded picture and spoken name, checked and stored (none uploaded: none changed)."""
    media = {}
    for field, expect in ((form.activity_pictogram, Expect.PICTOGRAM), (form.activity_audio, Expect.AUDIO)):
        if field.data and getattr(field.data, "filename", ""):
            media[field.name] = staging.store(staging.add(field.data.stream, expect))
    return media


def _plan(form: QuestionnaireForm, staging: Staging) -> operations.QuestionnairePlan:
    branch_ids = set(form.branches.data or [])
    question_ids = [field.data for field in form.questions if field.data]
    questions = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(question_ids)))}
    every_branch = {b.id: b for b in db.session.scalars(select(Branch))}
    return operations.QuestionnairePlan(
        name=form.name.data or "",
        activity=form.activity.data,
        active_from=form.active_from.data,
        active_to=form.active_to.data,
        branches=[every_branch[i] for i in sorted(branch_ids) if i in every_branch],
        questions=[questions[i] for i in question_ids if i in questions],
        schedule=_schedule(form, every_branch),
        minutes_after=form.minutes_after.data or 0,
        ask_member=bool(form.ask_member.data),
        **_activity_media(form, staging),
    )


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    query = select(Questionnaire).order_by(Questionnaire.archived, Questionnaire.name)
    if not current_user.is_admin:
        query = query.where(
            Questionnaire.id.in_(
                select(questionnaire_branches.c.questionnaire_id).where(
                    questionnaire_branches.c.branch_id.in_(current_user.branch_ids())
                )
            )
        )
    return render_template("questionnaires/index.html", questionnaires=db.session.scalars(query).all())


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create() -> ResponseReturnValue:
    form = _form(None)
    if form.validate_on_submit():
        try:
            with Staging() as staging:
                questionnaire = operations.create_questionnaire(_plan(form, staging))
                staging.commit()
        except (operations.QuestionnaireError, BadMedia) as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(_("Questionnaire %(name)s saved.", name=questionnaire.name), "info")
            return redirect(url_for("questionnaires.detail", questionnaire_id=questionnaire.id))
    return render_template("questionnaires/form.html", form=form, questionnaire=None)


@bp.get("/<int:questionnaire_id>")
@login_required
def detail(questionnaire_id: int) -> ResponseReturnValue:
    questionnaire = _visible(questionnaire_id)
    return render_template("questionnaires/detail.html", questionnaire=questionnaire, weekdays=WEEKDAYS)


@bp.route("/<int:questionnaire_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(questionnaire_id: int) -> ResponseReturnValue:
    questionnaire = _visible(questionnaire_id)
    form = _form(questionnaire)
    if form.validate_on_submit():
        try:
            with Staging() as staging:
                new_version = operations.update_questionnaire(questionnaire, _plan(form, staging))
                staging.commit()
        except (operations.QuestionnaireError, BadMedia) as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            if new_version:
                flash(
                    _(
                        "Kiosks already used the old questions, so this is now version %(n)d. "
                        "Old answers stay with the old version.",
                        n=questionnaire.current_version.number,
                    ),
                    "info",
                )
            else:
                flash(_("Questionnaire %(name)s saved.", name=questionnaire.name), "info")
            return redirect(url_for("questionnaires.detail", questionnaire_id=questionnaire.id))
    return render_template("questionnaires/form.html", form=form, questionnaire=questionnaire)
