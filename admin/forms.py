"""Small helpers shared by the forms of several features."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms select choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def refuse_unreadable_input() -> ResponseReturnValue | None:
    """before_request: staff input no form could mean is refused with 400: a NUL character in a
    form or query value (PostgreSQL cannot store one in text) or a form part without a name
    (WTForms' lists of fields fail on it). The kiosk API checks its own input and answers in JSON.
    """
    if request.blueprint == "kiosk_api":
        return None
    sent = [*request.args.items(multi=True), *(request.form.items(multi=True) if request.form else [])]
    if any(key is None or "\x00" in key or "\x00" in (value or "") for key, value in sent):
        return render_template("error.html", message=_("This form holds text that cannot be read.")), 400
    return None
