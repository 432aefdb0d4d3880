from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from admin.extensions import db
from admin.retention import operations


@click.group(help="Retention of visitors' recordings.")
def retention() -> None:
    pass


@retention.command("run")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep recordings this many days (default: RETENTION_RECORDING_DAYS).",
)
@with_appcontext
def run(days: int | None) -> None:
    """Delete recordings past their retention period now (also run daily by a timer)."""
    days = days or int(current_app.config["RETENTION_RECORDING_DAYS"])
    report = operations.purge(days)
    db.session.commit()
    click.echo(
        f"Removed {report.recordings_removed} recordings older than {days} days "
        f"({report.files_removed} files); {report.uploads_expired} unfinished uploads expired."
    )
