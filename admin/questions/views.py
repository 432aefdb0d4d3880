from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from admin.auth import admin_required
from admin.extensions import db
from admin.mediacheck import BadMedia
from admin.mediafiles.operations import Expect, Staging
from admin.models import Question, QuestionKind
from admin.questions import operations
from admin.questions.forms import PromptForm, QuestionForm

bp = Blueprint("questions", __name__, url_prefix="/questions")

KIND_LABELS = {
    QuestionKind.SCALE: _l("scale"),
    QuestionKind.CHOICE: _l("choice"),
    QuestionKind.VIDEO: _l("video"),
    QuestionKind.VOICE: _l("voice"),
    QuestionKind.OPEN: _l("video or voice"),
}


def kind_label(kind: QuestionKind) -> str:
    return str(KIND_LABELS[kind])


@bp.get("")
@admin_required
def index() -> ResponseReturnValue:
    questions = db.session.scalars(select(Question).order_by(Question.archived, Question.name)).all()
    return render_template("questions/index.html", questions=questions)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create() -> ResponseReturnValue:
    form = QuestionForm()
    if form.validate_on_submit():
        kind = QuestionKind(form.kind.data)
        filled = [entry.form for entry in form.options if entry.form.value.data or entry.form.label.data]
        with Staging() as staging:
            try:
                video = staging.add(form.video.data.stream, Expect.VIDEO)
                subtitles = staging.add(form.subtitles.data.stream, Expect.SUBTITLES)
                operations.check_options(kind, [(o.value.data or "").strip() for o in filled])
                pictograms = []
                for option in filled:
                    if not (option.value.data and option.label.data and option.pictogram.data):
                        raise operations.QuestionError(
                            _("Every answer option needs a value, a label and a pictogram.")
                        )
                    pictograms.append(staging.add(option.pictogram.data.stream, Expect.PICTOGRAM))
                options = [
                    operations.OptionInput(o.value.data.strip(), o.label.data.strip(), staging.store(p))
                    for o, p in zip(filled, pictograms, strict=True)
                ]
                question = operations.create_question(
                    form.name.data or "",
                    kind,
                    form.language.data or "nl",
                    form.text.data or "",
                    staging.store(video),
                    staging.store(subtitles),
                    options,
                )
            except (BadMedia, operations.QuestionError) as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                staging.commit()
                flash(_("Question %(name)s saved.", name=question.name), "info")
                return redirect(url_for("questions.detail", question_id=question.id))
    return render_template("questions/form.html", form=form)


@bp.route("/<int:question_id>", methods=["GET", "POST"])
@admin_required
def detail(question_id: int) -> ResponseReturnValue:
    question = db.session.get(Question, question_id) or abort(404)
    form = PromptForm()
    if form.validate_on_submit():
        with Staging() as staging:
            try:
                video = staging.add(form.video.data.stream, Expect.VIDEO)
                subtitles = staging.add(form.subtitles.data.stream, Expect.SUBTITLES)
                operations.set_prompt(
                    question,
                    form.language.data or "nl",
                    form.text.data or "",
                    staging.store(video),
                    staging.store(subtitles),
                )
            except BadMedia as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                staging.commit()
                flash(_("Video saved."), "info")
                return redirect(url_for("questions.detail", question_id=question.id))
    return render_template("questions/detail.html", question=question, form=form)
