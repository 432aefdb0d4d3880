from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import FieldList, Form, FormField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from admin.forms import choices
from admin.models import LANGUAGES, QuestionKind

KIND_CHOICES = choices(
    [
        (QuestionKind.SCALE.value, _l("Scale: 3 or 5 faces")),
        (QuestionKind.CHOICE.value, _l("Choice: pictogram cards")),
        (QuestionKind.VIDEO.value, _l("Video answer")),
        (QuestionKind.VOICE.value, _l("Voice answer")),
        (QuestionKind.OPEN.value, _l("Open: the visitor chooses video or voice")),
    ]
)
LANGUAGE_CHOICES = choices((code, code) for code in LANGUAGES)
MAX_OPTIONS = 8


class OptionForm(Form):
    value = StringField(_l("Value"), validators=[Optional(), Length(max=40)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=120)])
    pictogram = FileField(_l("Pictogram (SVG, PNG, JPEG or WebP)"))


class PromptFields:
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="nl")
    text = StringField(_l("What the video says"), validators=[Optional(), Length(max=500)])
    video = FileField(_l("Question video (MP4 or WebM)"), validators=[FileRequired()])
    subtitles = FileField(_l("Subtitles (WebVTT)"), validators=[FileRequired()])


class PromptForm(PromptFields, FlaskForm):
    pass


class QuestionForm(PromptFields, FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind of answer"), choices=KIND_CHOICES)
    options = FieldList(FormField(OptionForm), min_entries=5, max_entries=MAX_OPTIONS)
