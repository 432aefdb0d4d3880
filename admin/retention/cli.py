from __future__ import annotations

import click
from flask.cli import with_appcontext

from admin.extensions import db
from admin.mediafiles.operations import remove_files, sweep_unreferenced
from admin.privacy.queries import privacy_settings
from admin.retention import operations


@click.group(help="Retention of visitors' answers and recordings.")
def retention() -> None:
    pass


@retention.command("run")
@with_appcontext
def run() -> None:
    """Apply the retention rules of the Privacy page now (also run daily by a timer)."""
    rules = operations.Rules.of(privacy_settings())
    report = operations.purge(rules)
    db.session.commit()
    files = remove_files(report.files_to_remove)
    leftovers = sweep_unreferenced()
    db.session.commit()

    def kept(days: int | None) -> str:
        return "kept" if days is None else f"{days} days"

    click.echo(
        f"Rules: video {kept(rules.video_days)}, voice {kept(rules.voice_days)}, taps {kept(rules.tap_days)}."
    )
    click.echo(
        f"Removed {report.recordings_removed} recordings ({files} files), {report.taps_removed} tap answers, "
        f"{report.sessions_removed} empty sessions; {report.uploads_expired} unfinished uploads expired, "
        f"{report.orphans_removed} recordings never answered with"
        + (f"; {leftovers} files no record named." if leftovers else ".")
    )
