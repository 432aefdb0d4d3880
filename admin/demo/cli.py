from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from admin.demo import seed as demo_seed
from admin.extensions import db


@click.group(help="Demo data.")
def demo() -> None:
    pass


@demo.command("seed")
@click.option(
    "--media",
    "media_set",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=demo_seed.DEFAULT_MEDIA_SET,
    show_default=True,
    help="The question set to load.",
)
@click.option("--days", default=150, show_default=True, help="How many days of answers to make.")
@with_appcontext
def seed(media_set: Path, days: int) -> None:
    """Demo branches, questions, questionnaires, kiosks, accounts and months of answers."""
    try:
        report = demo_seed.seed(media_set, days=days)
    except demo_seed.AlreadySeeded as error:
        click.echo(f"{error} Nothing changed.")
        return
    db.session.commit()
    click.echo(
        f"Added {report.branches} branches, {report.questions} questions, "
        f"{report.sessions} visitor sessions with {report.answers} answers."
    )
    for email, role in report.accounts:
        click.echo(f"  {role:7} {email}  password: {demo_seed.DEMO_PASSWORD}")
    click.echo(
        f"Admins sign in in two steps: add the key {demo_seed.DEMO_TOTP_SECRET} to an authenticator app,\n"
        "or print the current code with\n"
        f"  python3 -c 'import pyotp; print(pyotp.TOTP(\"{demo_seed.DEMO_TOTP_SECRET}\").now())'"
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(demo)
