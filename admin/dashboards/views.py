"""The dashboard page, its JSON twin for BI tools, and its tables as CSV or XLSX.

Every view reads the same arguments from the URL (``branch``, ``from``, ``to``, ``per``), so a
dashboard can be bookmarked and its export or JSON asks for exactly the numbers on the page.
Unreadable arguments get a 400 that says what is wrong; a branch the user may not see is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, send_file
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required

from admin import audit
from admin.auth import user_sees_branch
from admin.dashboards import exports, queries, report
from admin.dashboards.report import ArgsError, Dashboard, DashboardArgs
from admin.extensions import db
from admin.models import Branch
from admin.responses.labels import MEMBER_LABELS
from admin.responses.queries import GENERAL_VISIT, IN_BRANCH, local_zone

bp = Blueprint("dashboards", __name__)


def _dashboard() -> Dashboard:
    """The dashboard the URL asks for; raises ArgsError for unreadable arguments."""
    zone = local_zone()
    args = DashboardArgs.from_args(request.args, datetime.now(zone).date())
    branch_name = None
    if args.branch is not None:
        branch = db.session.get(Branch, args.branch)
        if branch is None or not user_sees_branch(current_user, branch.id):
            abort(404)
        branch_name = branch.name
    return report.build(current_user, args, branch_name, zone)


def _signed_in_json(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """For machines: 401 rather than a redirect to the login page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return jsonify(error=_("Sign in first.")), 401
        return view(*args, **kwargs)

    return wrapped


@bp.get("/dashboard")
@login_required
def dashboard() -> ResponseReturnValue:
    try:
        figures = _dashboard()
    except ArgsError as error:
        return render_template("error.html", message=str(error)), 400
    branches = db.session.execute(queries.visible_branches(current_user)).all()
    activities, locations = queries.known_activities_and_locations(current_user)
    args = figures.args
    previous = figures.previous
    return render_template(
        "dashboards/dashboard.html",
        dashboard=figures,
        tables=report.tables(figures),
        branches=branches,
        activities=activities,
        locations=locations,
        member_labels=MEMBER_LABELS,
        general_visit=GENERAL_VISIT,
        in_branch=IN_BRANCH,
        query=args.to_args(),
        previous_query=args.to_args(**{"from": previous.first, "to": previous.last}),
        positive_rule=report.positive_rule(),
        per_labels=report.PER_LABELS,
        inbox=report.inbox_link(args),
        recordings_inbox=report.inbox_link(args, kind="recording"),
    )


@bp.get("/dashboard.json")
@_signed_in_json
def dashboard_json() -> ResponseReturnValue:
    try:
        figures = _dashboard()
    except ArgsError as error:
        return jsonify(error=str(error)), 400
    response = jsonify(report.to_json(figures))
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _export(extension: str, mimetype: str) -> ResponseReturnValue:
    try:
        figures = _dashboard()
    except ArgsError as error:
        return render_template("error.html", message=str(error)), 400
    tables = report.tables(figures)
    content = exports.csv_bytes(tables) if extension == "csv" else exports.xlsx_file(tables)
    audit.record(
        "dashboard.export",
        f"branch:{figures.args.branch}" if figures.args.branch else "branches",
        format=extension,
        filter=figures.args.to_args(),
    )
    db.session.commit()
    response: Response = send_file(
        content,
        mimetype=mimetype,
        as_attachment=True,
        download_name=exports.file_name(figures, extension),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/dashboard.csv")
@login_required
def export_csv() -> ResponseReturnValue:
    return _export("csv", "text/csv")


@bp.get("/dashboard.xlsx")
@login_required
def export_xlsx() -> ResponseReturnValue:
    return _export("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def number(value: float | int | None) -> str:
    """A table cell's number in the user's language ("66,7" in Dutch); a dash for none."""
    if value is None:
        return "—"
    return format_decimal(value, format="#,##0.#")
