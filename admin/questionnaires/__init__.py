"""Questionnaires: ordered questions, an active period, branches, an optional activity; versioned."""

from flask import Flask

from admin.questionnaires import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
