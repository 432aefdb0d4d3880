"""Every staff page, signed in as admin on demo data, carries the security headers; production adds
HSTS and a __Host- session cookie with Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from admin import create_app
from admin.extensions import db
from admin.models import Answer, Branch, Question, Questionnaire, Session, User
from tests.admin.helpers import MEDIA_SET, login

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

DEMO_ADMIN = "admin@vertelpaal.example"
HSTS = "max-age=63072000; includeSubDomains"


def _seed(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--media", str(MEDIA_SET), "--days", "4"])
    assert result.exit_code == 0, result.output


def _url_arguments(app: Flask) -> dict[str, object]:
    """Real ids from the demo data for the URL arguments of the staff pages."""
    with app.app_context():
        recorded = db.session.scalars(select(Answer).where(Answer.media_sha256.is_not(None)).limit(1)).one()
        arguments: dict[str, object] = {
            "branch_id": db.session.scalars(select(Branch.id).limit(1)).one(),
            "question_id": db.session.scalars(select(Question.id).limit(1)).one(),
            "questionnaire_id": db.session.scalars(select(Questionnaire.id).limit(1)).one(),
            "user_id": db.session.scalars(select(User.id).limit(1)).one(),
            "answer_uuid": recorded.uuid,
            "sha256": recorded.media_sha256,
            "session_uuid": db.session.scalars(select(Session.uuid).limit(1)).one(),
        }
        db.session.remove()
    return arguments


def staff_get_paths(app: Flask) -> Iterator[str]:
    """Every GET route of the staff pages, filled with real ids (unknown arguments: a made-up one)."""
    arguments = _url_arguments(app)
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static" or rule.rule.startswith("/api/"):
            continue
        values = {}
        for name, converter in rule._converters.items():
            made_up: object = 999999 if isinstance(converter, IntegerConverter) else "no-such-thing"
            values[name] = arguments.get(name, made_up)
        with app.test_request_context():
            yield app.url_for(rule.endpoint, **values)


def _assert_headers(path: str, response_headers: dict[str, str]) -> None:
    csp = {
        part.strip().split(" ", 1)[0]: part.strip()
        for part in response_headers["Content-Security-Policy"].split(";")
    }
    script_src = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
    assert "*" not in script_src and "http" not in script_src, path
    assert csp["frame-ancestors"] == "frame-ancestors 'none'", path
    assert csp["object-src"] == "object-src 'none'", path
    assert response_headers["X-Content-Type-Options"] == "nosniff", path
    assert response_headers["Referrer-Policy"] in ("same-origin", "no-referrer"), path
    assert response_headers["X-Frame-Options"] == "DENY", path


def _walk(client: FlaskClient, paths: list[str], **request: object) -> dict[str, int]:
    statuses = {}
    for path in paths:
        response = client.get(path, **request)
        statuses[path] = response.status_code
        assert response.status_code < 500, path
        _assert_headers(path, dict(response.headers))
        headers = response.headers
        if client.application.config["PRODUCTION"]:
            assert headers["Strict-Transport-Security"] == HSTS, path
        else:
            assert "Strict-Transport-Security" not in headers, path
        response.close()
    return statuses


def test_every_staff_page_sends_the_security_headers(app: Flask, client: FlaskClient) -> None:
    _seed(app)
    paths = list(staff_get_paths(app))
    assert len(paths) >= 25
    # Signed out: every page (mostly the way to the login page) has them too.
    _walk(client, paths)
    assert login(client, DEMO_ADMIN, "vertelpaal-demo") == 302
    statuses = _walk(client, paths)
    # The walk really saw the pages, not only redirects to the login page.
    assert sum(status == 200 for status in statuses.values()) >= 20, str(sorted(statuses.items()))
    for page in ("/", "/responses", "/users", "/kiosks", "/tags", "/questions", "/branches"):
        assert statuses[page] == 200, page
    # Session cookie in development: a plain name that works over http://127.0.0.1.
    assert client.get_cookie("vertelpaal") is not None


def _production_app(app: Flask, tmp_path: Path) -> Flask:
    return create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "production", "SECRET_KEY": "p" * 64},
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "KIOSK_SEALING_KEY_FILE": str(tmp_path / "production-sealing.key"),
        }
    )


def test_production_adds_hsts_and_a_host_only_secure_session_cookie(app: Flask, tmp_path: Path) -> None:
    _seed(app)
    production = _production_app(app, tmp_path)
    assert production.config["PRODUCTION"]
    client = production.test_client()
    # Over HTTPS, as nginx hands requests on (a Secure cookie is never sent over plain http).
    client.environ_base["wsgi.url_scheme"] = "https"
    assert login(client, DEMO_ADMIN, "vertelpaal-demo") == 302
    response = client.get("/account")
    assert response.status_code == 200
    set_cookie = [value for name, value in response.headers.items() if name == "Set-Cookie"]
    assert len(set_cookie) == 1
    cookie = set_cookie[0]
    attributes = [part.strip() for part in cookie.split(";")]
    assert cookie.startswith("__Host-vertelpaal=")
    assert "Secure" in attributes and "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes and "Path=/" in attributes
    assert not any(a.lower().startswith("domain=") for a in attributes)
    paths = list(staff_get_paths(production))
    statuses = _walk(client, paths)
    assert statuses["/users"] == 200
    with production.app_context():
        db.engine.dispose()
