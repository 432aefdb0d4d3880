from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from admin.extensions import db
from admin.kiosks import operations
from admin.models import Branch


@click.group(help="Kiosks.")
def kiosks() -> None:
    pass


@kiosks.command("approve")
@click.argument("pairing_code")
@click.option("--branch", "branch_name", required=True, help="The branch the kiosk stands in.")
@click.option("--name", default="", help="A name for the kiosk, e.g. 'Vertelpaal Roden hal'.")
@click.option(
    "--location",
    default="",
    help="Where it stands when not in the branch itself, e.g. 'Weekmarkt Roden' or 'Dorpshuis Norg'.",
)
@with_appcontext
def approve(pairing_code: str, branch_name: str, name: str, location: str) -> None:
    """Enroll the kiosk that shows PAIRING_CODE (the CLI twin of the Kiosks page)."""
    branch = db.session.scalar(select(Branch).where(Branch.name == branch_name))
    if branch is None:
        raise click.ClickException(f"There is no branch called {branch_name!r}.")
    try:
        kiosk = operations.approve(pairing_code, branch, name, location=location)
    except operations.KioskError as error:
        db.session.commit()  # a wrong code is audited: the next runs count it
        raise click.ClickException(str(error)) from error
    db.session.commit()
    where = f"{branch.name}, {kiosk.location}" if kiosk.location else branch.name
    click.echo(f"Kiosk {kiosk.id} ({kiosk.name}) enrolled in {where}.")
