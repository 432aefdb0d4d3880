"""Staff review of what visitors said: the inbox, the answer page, tags, notes, review status,
bulk changes and exports of the filtered answers."""

from flask import Flask

from admin.responses import labels, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(views.tags_bp)
    app.jinja_env.filters["answer_kind_label"] = labels.kind_label
    app.jinja_env.filters["status_label"] = labels.status_label
    app.jinja_env.filters["devices_label"] = labels.devices_label
    app.jinja_env.filters["localtime"] = labels.localtime
    app.jinja_env.filters["minutes_seconds"] = labels.minutes_seconds
