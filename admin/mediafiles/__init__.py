"""Media files: storing checked uploads and serving them to staff with Range requests."""

from flask import Flask

from admin.mediafiles import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
