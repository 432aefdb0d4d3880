from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

MAX_DAYS = 3650
KEEP_HINT = _l("Days; leave empty to keep them.")


def _days(label: str) -> IntegerField:
    return IntegerField(
        label, validators=[Optional(), NumberRange(min=1, max=MAX_DAYS)], description=KEEP_HINT
    )


class SettingsForm(FlaskForm):
    video_days = _days(_l("Video answers are kept"))
    voice_days = _days(_l("Voice answers are kept"))
    tap_days = _days(_l("Tap answers (with their tags and notes) are kept"))
    parent_step = BooleanField(_l("Ask whether a parent or carer is there and agrees, before a recording"))
    parent_text_nl = TextAreaField(_l("The question in Dutch"), validators=[Length(max=600)])
    parent_text_en = TextAreaField(_l("The question in English"), validators=[Length(max=600)])

    def validate(self, extra_validators=None) -> bool:  # type: ignore[no-untyped-def]
        if not super().validate(extra_validators):
            return False
        if self.parent_step.data and not (self.parent_text_nl.data or "").strip():
            self.parent_text_nl.errors.append(_l("The kiosk needs the question in Dutch to ask it."))
            return False
        return True


class FindSessionForm(FlaskForm):
    """The visitor at the desk: "I answered this morning around ten, in Roden"."""

    class Meta:
        csrf = False  # it only reads

    branch = SelectField(_l("Branch"), coerce=int, validators=[InputRequired()])
    day = DateField(_l("Day"), validators=[DataRequired()])
    start = TimeField(_l("From"), validators=[DataRequired()])
    end = TimeField(_l("Until"), validators=[DataRequired()])
    kiosk = SelectField(_l("Kiosk"), validate_choice=False)


class EraseForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete this session with all its answers and recordings"), validators=[DataRequired()]
    )
