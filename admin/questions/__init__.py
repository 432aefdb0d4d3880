"""Questions: name, kind, per-language prompt video with subtitles, and answer options."""

from flask import Flask

from admin.questions import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.jinja_env.filters["kind_label"] = views.kind_label
