"""Kiosks on the admin side: the Kiosks page (approve, move, revoke, health) and the CLI twin."""

from flask import Flask

from admin.kiosks import cli, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.kiosks)
