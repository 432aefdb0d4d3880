"""Dashboards: sessions, answers, scale and choice distributions and tags per branch and period,
branches side by side and a period beside the one before; as a page, JSON, CSV and XLSX."""

from flask import Flask

from admin.dashboards import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.jinja_env.filters["dashboard_number"] = views.number
