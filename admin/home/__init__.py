"""The start page: what is new for the signed-in user."""

from flask import Flask

from admin.home import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
