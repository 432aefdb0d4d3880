"""The inbox, the answer page, in-place tagging, notes and review status, bulk changes, exports.

Views are thin: they read the filter from the URL, call ``queries`` to read and ``operations`` to
change, and commit once. In-place actions answer htmx with the changed part of the page and
everything else with a redirect, so the page also works without JavaScript.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import func, select

from admin import audit
from admin.auth import branch_filter, roles_required, user_sees_branch
from admin.extensions import db
from admin.forms import choices
from admin.mediafiles.views import send_media
from admin.models import (
    Answer,
    AnswerTag,
    Branch,
    Question,
    Questionnaire,
    ReviewStatus,
    Role,
    Tag,
    questionnaire_branches,
)
from admin.responses import exports, operations, queries
from admin.responses.forms import (
    ANY,
    BulkForm,
    FilterForm,
    NoteForm,
    StatusForm,
    TagAnswerForm,
    TagForm,
)
from admin.responses.labels import STATUS_LABELS
from admin.responses.queries import AnswerFilter, Cursor, ExportRow
from admin.storage import media_store

bp = Blueprint("responses", __name__, url_prefix="/responses")

editors_only = roles_required(Role.ADMIN, Role.STAFF)


# --- the inbox ---------------------------------------------------------------------------------


@bp.get("")
@login_required
def inbox() -> ResponseReturnValue:
    answer_filter = AnswerFilter.from_args(request.args)
    page = queries.page(
        current_user,
        answer_filter,
        before=Cursor.decode(request.args.get("before")),
        after=Cursor.decode(request.args.get("after")),
    )
    tags = _all_tags()
    bulk = BulkForm()
    bulk.action.choices = _bulk_choices(tags)
    return render_template(
        "responses/inbox.html",
        page=page,
        form=_filter_form(answer_filter, tags),
        bulk=bulk,
        args=answer_filter.to_args(),
        query=_page_args(answer_filter),
    )


def _page_args(answer_filter: AnswerFilter) -> dict[str, str]:
    """The filter and the page's cursor, as read (never other query arguments: they go into URLs)."""
    args = answer_filter.to_args()
    for name in ("before", "after"):
        cursor = Cursor.decode(request.args.get(name))
        if cursor is not None:
            args[name] = cursor.encode()
    return args


def _filter_form(answer_filter: AnswerFilter, tags: list[Tag]) -> FilterForm:
    user = current_user
    branches = db.session.scalars(
        select(Branch).where(branch_filter(user, Branch.id)).order_by(Branch.name)
    ).all()
    plans = select(Questionnaire).order_by(Questionnaire.name)
    if not user.is_admin:
        plans = plans.where(
            Questionnaire.id.in_(
                select(questionnaire_branches.c.questionnaire_id).where(
                    questionnaire_branches.c.branch_id.in_(user.branch_ids())
                )
            )
        )
    questions = db.session.scalars(select(Question).order_by(Question.archived, Question.name)).all()
    args = answer_filter.to_args()
    form = FilterForm(formdata=None, data={**args, "date_from": answer_filter.date_from})
    form.date_to.data = answer_filter.date_to
    form.branch.choices = choices([ANY, *((b.id, b.name) for b in branches)])
    form.questionnaire.choices = choices([ANY, *((q.id, q.name) for q in db.session.scalars(plans))])
    form.question.choices = choices([ANY, *((q.id, q.name) for q in questions)])
    form.tag.choices = choices([ANY, *((t.id, t.name) for t in tags)])
    return form


def _all_tags() -> list[Tag]:
    return list(db.session.scalars(select(Tag).order_by(Tag.name)))


def _bulk_choices(tags: list[Tag]) -> list[Any]:
    pairs: list[tuple[str, str]] = [
        (f"status:{status.value}", _("Set status: %(status)s", status=label))
        for status, label in STATUS_LABELS.items()
    ]
    pairs += [(f"tag:{tag.id}", _("Add tag: %(name)s", name=tag.name)) for tag in tags]
    pairs += [(f"untag:{tag.id}", _("Remove tag: %(name)s", name=tag.name)) for tag in tags]
    return choices([("", _("choose…")), *pairs])


@bp.post("/bulk")
@editors_only
def bulk() -> ResponseReturnValue:
    """Change the ticked answers, or every answer under the filter, at once."""
    answer_filter = AnswerFilter.from_args(request.args)
    back = redirect(url_for("responses.inbox", **_page_args(answer_filter)))
    form = BulkForm()
    form.action.choices = _bulk_choices(_all_tags())
    if not form.validate_on_submit():
        flash(_("Choose what to do with the answers."), "error")
        return back
    if form.scope.data == "filter":
        selection = answer_filter.select_uuids(current_user)
        details: dict[str, Any] = {"filter": answer_filter.to_args()}
    else:
        ticked = request.form.getlist("answer")[: queries.PAGE_SIZE * 2]
        if not ticked:
            flash(_("Tick the answers to change first."), "error")
            return back
        selection = select(Answer.uuid).where(
            branch_filter(current_user, Answer.branch_id), Answer.uuid.in_(ticked)
        )
        details = {"answers": ticked}
    kind, _sep, value = (form.action.data or "").partition(":")
    if kind == "status" and value in {s.value for s in ReviewStatus}:
        status = ReviewStatus(value)
        changed = operations.bulk_status(selection, status, **details)
        message = ngettext(
            "%(num)d answer is now %(status)s.",
            "%(num)d answers are now %(status)s.",
            changed,
            status=STATUS_LABELS[status],
        )
    elif kind in ("tag", "untag") and value.isdigit() and (tag := db.session.get(Tag, int(value))):
        if kind == "tag":
            changed = operations.bulk_add_tag(selection, tag, current_user, **details)
            message = ngettext(
                "Tag %(tag)s added to %(num)d answer.",
                "Tag %(tag)s added to %(num)d answers.",
                changed,
                tag=tag.name,
            )
        else:
            changed = operations.bulk_remove_tag(selection, tag, **details)
            message = ngettext(
                "Tag %(tag)s removed from %(num)d answer.",
                "Tag %(tag)s removed from %(num)d answers.",
                changed,
                tag=tag.name,
            )
    else:
        flash(_("Choose what to do with the answers."), "error")
        return back
    db.session.commit()
    flash(message, "info")
    return back


# --- exports -----------------------------------------------------------------------------------


def _link(answer: Answer | ExportRow) -> str:
    return url_for("responses.detail", answer_uuid=answer.uuid, _external=True)


def _export_name(extension: str) -> str:
    today = datetime.now(queries.local_zone()).date()
    what = _("answers")
    return f"vertelpaal-{what}-{today.isoformat()}.{extension}"


@bp.get("/export.csv")
@login_required
def export_csv() -> ResponseReturnValue:
    answer_filter = AnswerFilter.from_args(request.args)
    audit.record("answers.export", "answers", format="csv", filter=answer_filter.to_args())
    db.session.commit()
    lines = exports.csv_lines(answer_filter.conditions(current_user), _link)
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_export_name("csv")}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/export.xlsx")
@login_required
def export_xlsx() -> ResponseReturnValue:
    answer_filter = AnswerFilter.from_args(request.args)
    workbook = exports.xlsx_file(answer_filter.conditions(current_user), _link)
    audit.record("answers.export", "answers", format="xlsx", filter=answer_filter.to_args())
    db.session.commit()
    response = send_file(
        workbook,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=_export_name("xlsx"),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- one answer --------------------------------------------------------------------------------


def _visible(answer_uuid: str) -> Answer:
    answer = db.session.get(Answer, answer_uuid)
    if answer is None or not user_sees_branch(current_user, answer.branch_id):
        abort(404)
    return answer


def _page_parts(answer: Answer, **extra: Any) -> dict[str, Any]:
    """What the in-place parts of the answer page (review, tags, notes) need to be drawn."""
    return {
        "answer": answer,
        "args": AnswerFilter.from_args(request.args).to_args(),
        "all_tags": _all_tags(),
        "status_form": StatusForm(formdata=None),
        "tag_form": TagAnswerForm(formdata=None),
        "note_form": NoteForm(formdata=None),
        **extra,
    }


@bp.get("/<answer_uuid>")
@login_required
def detail(answer_uuid: str) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    answer_filter = AnswerFilter.from_args(request.args)
    newer, older = queries.neighbours(current_user, answer_filter, answer)
    session = answer.session
    question = answer.question
    prompt = question.prompt_for(session.language) or question.prompt_for("nl")
    if prompt is None and question.prompts:
        prompt = question.prompts[0]
    operations.record_watch(answer)
    page = render_template(
        "responses/detail.html",
        newer=newer,
        older=older,
        prompt=prompt,
        option=next((o for o in question.options if o.value == answer.value), None),
        others=[other for other in session.answers if other.uuid != answer.uuid],
        **_page_parts(answer),
    )
    db.session.commit()
    return page


@bp.get("/<answer_uuid>/download")
@login_required
def download(answer_uuid: str) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    media = answer.media
    if media is None or not media_store().exists(media.sha256):
        abort(404)
    operations.record_download(answer)
    db.session.commit()
    response = send_media(media, recording=True)
    extension = "m4a" if media.content_type.startswith("audio/") else media.content_type.split("/")[-1]
    response.headers["Content-Disposition"] = f'attachment; filename="{answer.uuid}.{extension}"'
    return response


def _changed(answer: Answer, part: str, error: str | None = None) -> ResponseReturnValue:
    """htmx gets the redrawn part; a plain form post goes back to the answer page."""
    if request.headers.get("HX-Request") == "true":
        return render_template(f"responses/_{part}.html", **_page_parts(answer, error=error))
    if error:
        flash(error, "error")
    args = AnswerFilter.from_args(request.args).to_args()
    return redirect(url_for("responses.detail", answer_uuid=answer.uuid, **args))


def _form_error(form: Any) -> str:
    return next((str(e) for errors in form.errors.values() for e in errors), _("Something is missing."))


@bp.post("/<answer_uuid>/tags")
@editors_only
def add_tag(answer_uuid: str) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    form = TagAnswerForm()
    if not form.validate_on_submit():
        return _changed(answer, "tags", _form_error(form))
    try:
        operations.add_tag(answer, operations.tag_by_name(form.tag.data or ""), current_user)
    except operations.ReviewError as error:
        return _changed(answer, "tags", str(error))
    db.session.commit()
    return _changed(answer, "tags")


@bp.post("/<answer_uuid>/tags/<int:tag_id>/remove")
@editors_only
def remove_tag(answer_uuid: str, tag_id: int) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    tag = db.session.get(Tag, tag_id) or abort(404)  # CSRFProtect has checked the token already
    operations.remove_tag(answer, tag)
    db.session.commit()
    return _changed(answer, "tags")


@bp.post("/<answer_uuid>/status")
@editors_only
def set_status(answer_uuid: str) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    form = StatusForm()
    status = form.chosen() if form.validate_on_submit() else None
    if status is None:
        return _changed(answer, "review", _("Choose a status."))
    operations.set_status(answer, status)
    db.session.commit()
    return _changed(answer, "review")


@bp.post("/<answer_uuid>/notes")
@editors_only
def add_note(answer_uuid: str) -> ResponseReturnValue:
    answer = _visible(answer_uuid)
    form = NoteForm()
    if not form.validate_on_submit():
        return _changed(answer, "notes", _form_error(form))
    try:
        operations.add_note(answer, form.body.data or "", current_user)
    except operations.ReviewError as error:
        return _changed(answer, "notes", str(error))
    db.session.commit()
    return _changed(answer, "notes")


# --- the tag list (admins) ---------------------------------------------------------------------

tags_bp = Blueprint("tags", __name__, url_prefix="/tags")


@tags_bp.route("", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def tags() -> ResponseReturnValue:
    form = TagForm()
    if form.validate_on_submit():
        try:
            tag = operations.create_tag(form.name.data or "", form.colour.data or "")
        except operations.ReviewError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("Tag %(name)s added.", name=tag.name), "info")
            return redirect(url_for("tags.tags"))
    counts = db.session.execute(select(AnswerTag.tag_id, func.count()).group_by(AnswerTag.tag_id))
    used = {tag_id: count for tag_id, count in counts}
    return render_template("responses/tags.html", form=form, tags=_all_tags(), used=used)


@tags_bp.post("/<int:tag_id>")
@roles_required(Role.ADMIN)
def update_tag(tag_id: int) -> ResponseReturnValue:
    tag = db.session.get(Tag, tag_id) or abort(404)
    form = TagForm()
    if not form.validate_on_submit():
        flash(_form_error(form), "error")
        return redirect(url_for("tags.tags"))
    try:
        operations.update_tag(tag, form.name.data or "", form.colour.data or "")
    except operations.ReviewError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Tag %(name)s saved.", name=tag.name), "info")
    return redirect(url_for("tags.tags"))


@tags_bp.post("/<int:tag_id>/delete")
@roles_required(Role.ADMIN)
def delete_tag(tag_id: int) -> ResponseReturnValue:
    tag = db.session.get(Tag, tag_id) or abort(404)
    name = tag.name
    count = operations.delete_tag(tag)
    db.session.commit()
    flash(
        ngettext(
            "Tag %(name)s deleted; it was on %(num)d answer.",
            "Tag %(name)s deleted; it was on %(num)d answers.",
            count,
            name=name,
        ),
        "info",
    )
    return redirect(url_for("tags.tags"))
