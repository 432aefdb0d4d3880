"""The migrations build exactly the schema the models describe, and take it down again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from admin.extensions import db
from admin.models import Base


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds(app: Flask) -> None:
    with app.app_context():
        assert "answers" in inspect(db.engine).get_table_names()
        downgrade(revision="base")
        db.engine.dispose()
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.engine.dispose()
        assert {"answers", "sessions", "users", "questionnaire_versions"} <= set(
            inspect(db.engine).get_table_names()
        )
