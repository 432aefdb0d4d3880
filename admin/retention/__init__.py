"""Retention: visitors' recordings are kept only as long as the library promised.

`flask --app admin retention run` (daily, from a systemd timer) deletes recordings older than
RETENTION_RECORDING_DAYS with their poster frames; the answers stay, so every figure stays intact.
"""

from flask import Flask

from admin.retention import cli


def init_app(app: Flask) -> None:
    app.cli.add_command(cli.retention)
