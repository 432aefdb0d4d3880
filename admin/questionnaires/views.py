from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, FieldList, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from admin.auth import admin_required
from admin.extensions import db
from admin.forms import choices
from admin.models import Branch, Question, Questionnaire, questionnaire_branches
from admin.questionnaires import operations

bp = Blueprint("questionnaires", __name__, url_prefix="/questionnaires")

MAX_QUESTIONS = 12


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class QuestionnaireForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    activity = StringField(_l("Activity (optional), e.g. Klik&Tik"), validators=[Optional(), Length(max=120)])
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
    if request.method == "GET" and questionnaire is not None:
        form.branches.data = [b.id for b in questionnaire.branches]
        chosen = [q.id for q in questionnaire.current_version.questions]
        for field, question_id in zip(form.questions, chosen + [0] * MAX_QUESTIONS, strict=False):
            field.data = question_id
    return form


def _plan(form: QuestionnaireForm) -> operations.QuestionnairePlan:
    branch_ids = set(form.branches.data or [])
    question_ids = [field.data for field in form.questions if field.data]
    questions = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(question_ids)))}
    return operations.QuestionnairePlan(
        name=form.name.data or "",
        activity=form.activity.data,
        active_from=form.active_from.data,
        active_to=form.active_to.data,
        branches=list(db.session.scalars(select(Branch).where(Branch.id.in_(branch_ids)))),
        questions=[questions[i] for i in question_ids if i in questions],
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
            questionnaire = operations.create_questionnaire(_plan(form))
        except operations.QuestionnaireError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("Questionnaire %(name)s saved.", name=questionnaire.name), "info")
            return redirect(url_for("questionnaires.detail", questionnaire_id=questionnaire.id))
    return render_template("questionnaires/form.html", form=form, questionnaire=None)


@bp.get("/<int:questionnaire_id>")
@login_required
def detail(questionnaire_id: int) -> ResponseReturnValue:
    questionnaire = _visible(questionnaire_id)
    return render_template("questionnaires/detail.html", questionnaire=questionnaire)


@bp.route("/<int:questionnaire_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(questionnaire_id: int) -> ResponseReturnValue:
    questionnaire = _visible(questionnaire_id)
    form = _form(questionnaire)
    if form.validate_on_submit():
        try:
            new_version = operations.update_questionnaire(questionnaire, _plan(form))
        except operations.QuestionnaireError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
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
