from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from admin.forms import choices
from admin.models import Role

LOCALE_CHOICES = choices([("nl", "Nederlands"), ("en", "English")])
ROLE_CHOICES = choices(
    [
        (Role.ADMIN.value, _l("Admin: manages everything")),
        (Role.STAFF.value, _l("Staff: works on the answers of its branches")),
        (Role.VIEWER.value, _l("Viewer: only looks at its branches")),
    ]
)


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10)])
    repeat = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))],
    )


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language of these pages"), choices=LOCALE_CHOICES)


class UserForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Email(check_deliverability=False)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    branches = SelectMultipleField(_l("Branches"), coerce=int)
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    active = BooleanField(_l("Account is active"), default=True)
    password = PasswordField(_l("First password (at least 10 characters)"))


class CodeForm(FlaskForm):
    code = StringField(
        _l("6-digit code from your authenticator app"),
        validators=[DataRequired(), Length(max=12)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "spellcheck": "false"},
    )
