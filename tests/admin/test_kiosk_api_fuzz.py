"""schemathesis against the kiosk API's own OpenAPI document: no server error and no response
that breaks the document, for a kiosk with a valid token and for a stranger with a wrong one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import given
from schemathesis import checks
from sqlalchemy import func, select

from admin.extensions import db
from admin.kiosks.tokens import hash_secret
from admin.models import Branch, Kiosk, Session, Upload
from tests.admin.helpers import FUZZ_SETTINGS

TOKEN = "fuzz-token-" + "x" * 32
# What the issue asks: no server error, and every response fits the document. (Whether a request
# that fits the schema is also meaningful, e.g. names an existing questionnaire, the schema cannot say.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]

# A tus chunk is raw bytes, sent like any octet stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def fuzz(app: Flask, headers: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_wsgi("/api/kiosk/v1/openapi.json", app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        # schemathesis' pytest plugin cannot take the app from a fixture on this pytest, so each
        # operation's cases are drawn here with hypothesis directly.
        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
        checked.append(operation.label)
    return checked


@pytest.fixture
def seeded(app: Flask, seed_demo: Callable[[int], None]) -> None:
    seed_demo(1)
    with app.app_context():
        roden = db.session.scalar(select(Branch).where(Branch.name == "Roden"))
        db.session.add(Kiosk(name="fuzz", branch=roden, token_hash=hash_secret(TOKEN), status={}))
        db.session.commit()


def test_fuzzing_with_a_valid_token_finds_no_server_error(app: Flask, seeded: None) -> None:
    checked = fuzz(app, {"Authorization": f"Bearer {TOKEN}", "Tus-Resumable": "1.0.0"})
    assert len(checked) >= 12, checked


def test_fuzzing_without_a_valid_token_stores_nothing(app: Flask, seeded: None) -> None:
    with app.app_context():
        sessions = db.session.scalar(select(func.count()).select_from(Session))
    fuzz(app, {"Authorization": "Bearer not-our-token", "Tus-Resumable": "1.0.0"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Session)) == sessions
        assert db.session.scalar(select(func.count()).select_from(Upload)) == 0
