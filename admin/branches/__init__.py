"""Library branches: list, add, rename, deactivate."""

from flask import Flask

from admin.branches import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
