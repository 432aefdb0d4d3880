from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from admin.accounts import operations
from admin.extensions import db
from admin.models import Branch, Role


@click.group(help="Staff accounts.")
def users() -> None:
    pass


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--branch", "branch_names", multiple=True, help="A branch the user works for (repeat).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--locale", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@with_appcontext
def create(email: str, role: str, branch_names: tuple[str, ...], password_stdin: bool, locale: str) -> None:
    """Add a staff account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    branches = []
    for name in branch_names:
        branch = db.session.scalar(select(Branch).where(Branch.name == name))
        if branch is None:
            raise click.ClickException(f"There is no branch called {name!r}.")
        branches.append(branch)
    try:
        user = operations.create_user(email, password, Role(role), branches, locale=locale)
    except operations.AccountError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}.")


@users.command("reset-2fa")
@click.argument("email")
@with_appcontext
def reset_2fa(email: str) -> None:
    """Turn two-step sign-in off for a lost phone; the user sets it up again at the next sign-in."""
    user = operations.find_user(email)
    if user is None:
        raise click.ClickException(f"There is no account for {email!r}.")
    operations.reset_two_step(user)
    db.session.commit()
    click.echo(f"Two-step sign-in of {user.email} is reset; their sessions are ended.")
