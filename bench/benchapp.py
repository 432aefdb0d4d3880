"""The admin app as the in-process benchmarks use it: development settings on a fresh, migrated
SQLite database in a folder of its own, without CSRF (the benchmarks post forms directly)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade

from admin import create_app


def sqlite_app(**config: Any) -> Flask:
    folder = Path(tempfile.mkdtemp(prefix="vertelpaal-bench-"))
    app = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development"},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'admin.sqlite3'}",
            "MEDIA_ROOT": str(folder / "media"),
            "WTF_CSRF_ENABLED": False,
            **config,
        }
    )
    with app.app_context():
        upgrade()
    return app
