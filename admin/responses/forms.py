from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    ColorField,
    DateField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from admin.forms import choices
from admin.models import ReviewStatus
from admin.responses.labels import KIND_LABELS, STATUS_LABELS
from admin.responses.operations import MAX_NOTE

ANY = ("", _l("all"))


class FilterForm(FlaskForm):
    """The inbox filter as a GET form: its names are the query string of ``AnswerFilter``."""

    class Meta:
        csrf = False  # it only reads

    branch = SelectField(_l("Branch"), validate_choice=False)
    questionnaire = SelectField(_l("Questionnaire"), validate_choice=False)
    question = SelectField(_l("Question"), validate_choice=False)
    kind = SelectField(_l("Kind of answer"), choices=choices([ANY, *KIND_LABELS.items()]))
    date_from = DateField(_l("From"), name="from", validators=[Optional()])
    date_to = DateField(_l("Until"), name="to", validators=[Optional()])
    tag = SelectField(_l("Tag"), validate_choice=False)
    status = SelectField(
        _l("Status"), choices=choices([ANY, *((s.value, label) for s, label in STATUS_LABELS.items())])
    )


class TagAnswerForm(FlaskForm):
    tag = StringField(_l("Add a tag"), validators=[DataRequired(), Length(max=60)])


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Add a note"), validators=[DataRequired(), Length(max=MAX_NOTE)])


class StatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])

    def chosen(self) -> ReviewStatus | None:
        try:
            return ReviewStatus(self.status.data)
        except ValueError:
            return None


class BulkForm(FlaskForm):
    action = SelectField(_l("What to do"), validate_choice=False, validators=[DataRequired()])
    scope = SelectField(
        _l("With which answers"),
        choices=choices(
            [
                ("selected", _l("the answers I ticked")),
                ("filter", _l("every answer that matches the filter, on all pages")),
            ]
        ),
        default="selected",
    )


class TagForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    colour = ColorField(_l("Colour"), default="#1f6feb", validators=[DataRequired()])
