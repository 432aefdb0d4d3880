"""Two-step sign-in (TOTP): required for admins, optional for staff, each code once, CLI reset."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.accounts import operations
from admin.extensions import db
from admin.models import AuditEvent, Role, User
from tests.admin.helpers import MEDIA_SET, PASSWORD, TOTP_SECRET, csrf_token, login, next_code

SECRET_ON_PAGE = re.compile(r'<code id="two-step-secret">([A-Z2-7 ]+)</code>')


def _password_step(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302
    return response.location


def _code_step(client: FlaskClient, code: str) -> int:
    token = csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token}).status_code


def _user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        db.session.expunge(user)
        return user


def test_an_admin_without_two_step_must_set_it_up_before_anything_else(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN, totp_secret=None)
    assert _password_step(client, "boss@bieb.example") == "/"
    for path in ("/", "/users", "/responses", "/branches", "/account"):
        response = client.get(path)
        assert response.status_code == 302 and response.location == "/account/two-step", path
    # Posting elsewhere is sent to the set-up as well.
    token = csrf_token(client, "/account/two-step")
    response = client.post("/branches", data={"name": "Sneaky", "csrf_token": token})
    assert response.status_code == 302 and response.location == "/account/two-step"
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "boss@bieb.example")).totp_secret is None

    page = client.get("/account/two-step").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    match = SECRET_ON_PAGE.search(page)
    assert match
    secret = match.group(1).replace(" ", "")
    # A wrong code keeps the account without two-step sign-in.
    wrong = client.post("/account/two-step", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and 'class="error" role="alert"' in wrong.get_data(as_text=True)
    assert client.get("/users").location == "/account/two-step"

    right = client.post("/account/two-step", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert right.status_code == 302
    assert client.get("/users").status_code == 200
    stored = _user(app, "boss@bieb.example")
    assert stored.totp_secret == secret and stored.totp_last_step is not None
    # The secret is never shown again.
    again = client.get("/account/two-step")
    assert again.status_code == 302 and secret not in client.get("/account").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.two_step_on"))


def test_an_admin_signs_in_with_password_and_code_and_a_code_works_once(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    assert _password_step(client, "boss@bieb.example") == "/login/code"
    # Half signed in is not signed in.
    assert client.get("/users").status_code == 302 and client.get("/users").location.startswith("/login")
    assert _password_step(client, "boss@bieb.example") == "/login/code"
    code = next_code(app, "boss@bieb.example")
    assert _code_step(client, code) == 302
    assert client.get("/users").status_code == 200

    # The same code again, from another browser with the right password: refused.
    other = app.test_client()
    assert _password_step(other, "boss@bieb.example") == "/login/code"
    assert _code_step(other, code) == 401
    assert other.get("/users").status_code == 302
    # So is an older code, and a code of another secret.
    older = pyotp.TOTP(TOTP_SECRET).at(time.time() - 30)
    assert _code_step(other, older) == 401
    assert _code_step(other, pyotp.TOTP(pyotp.random_base32()).now()) == 401
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed_code")).all()
        assert len(failed) == 3


def test_wrong_codes_count_toward_the_slow_down_and_a_right_password_does_not_reset_it(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    for _ in range(5):
        _password_step(client, "boss@bieb.example")
        assert _code_step(client, "123456") == 401
    # Now even the right password and the right code wait.
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": "boss@bieb.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    user = _user(app, "boss@bieb.example")
    assert user.failed_logins == 5 and user.locked_until is not None


def test_the_code_step_expires_and_needs_the_password_step(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    assert client.get("/login/code").location == "/login"  # no password given yet
    _password_step(client, "boss@bieb.example")
    with client.session_transaction() as session:
        session["pending_since"] -= 6 * 60
    assert client.get("/login/code").location == "/login"


def test_staff_may_turn_two_step_on_and_off(
    app: Flask,
    client: FlaskClient,
    make_branch: Callable,
    make_user: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    assert login(client, "anna@bieb.example") == 302  # a password alone, by default
    page = client.get("/account").get_data(as_text=True)
    assert "/account/two-step" in page
    secret = SECRET_ON_PAGE.search(client.get("/account/two-step").get_data(as_text=True)).group(1)
    token = csrf_token(client, "/account")
    code = pyotp.TOTP(secret.replace(" ", "")).now()
    assert client.post("/account/two-step", data={"code": code, "csrf_token": token}).status_code == 302

    second = app.test_client()
    assert _password_step(second, "anna@bieb.example") == "/login/code"
    assert _code_step(second, next_code(app, "anna@bieb.example")) == 302

    # Off needs a fresh code; a wrong one leaves it on. (A minute later: the codes of now are used.)
    later = datetime.now(UTC) + timedelta(minutes=1)
    monkeypatch.setattr(operations, "utcnow", lambda: later)
    client.post("/account/two-step/off", data={"off-code": "000000", "csrf_token": token})
    assert _user(app, "anna@bieb.example").totp_secret is not None
    off_code = next_code(app, "anna@bieb.example", at=later.timestamp())
    client.post("/account/two-step/off", data={"off-code": off_code, "csrf_token": token})
    assert _user(app, "anna@bieb.example").totp_secret is None
    assert _password_step(app.test_client(), "anna@bieb.example") == "/"


def test_admins_cannot_turn_two_step_off(app: Flask, client: FlaskClient, make_user: Callable) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    assert login(client, "boss@bieb.example") == 302
    token = csrf_token(client, "/account")
    code = next_code(app, "boss@bieb.example")
    client.post("/account/two-step/off", data={"off-code": code, "csrf_token": token})
    assert _user(app, "boss@bieb.example").totp_secret == TOTP_SECRET


def test_reset_2fa_cli_for_a_lost_phone(app: Flask, client: FlaskClient, make_user: Callable) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    assert login(client, "boss@bieb.example") == 302
    result = app.test_cli_runner().invoke(args=["users", "reset-2fa", "Boss@bieb.example"])
    assert result.exit_code == 0, result.output
    user = _user(app, "boss@bieb.example")
    assert user.totp_secret is None and user.totp_last_step is None
    # The old session ended; the next sign-in leads to the set-up.
    assert client.get("/users").status_code == 302
    assert _password_step(client, "boss@bieb.example") == "/"
    assert client.get("/users").location == "/account/two-step"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.two_step_reset"))
        assert event is not None and event.actor == "system" and event.details["email"] == "boss@bieb.example"
    missing = app.test_cli_runner().invoke(args=["users", "reset-2fa", "nobody@bieb.example"])
    assert missing.exit_code != 0 and "no account" in missing.output


def test_an_admin_resets_a_lost_phone_on_the_user_page(
    app: Flask, client: FlaskClient, make_branch: Callable, make_user: Callable
) -> None:
    make_branch("Roden")
    anna = make_user("anna@bieb.example", Role.STAFF, ["Roden"], totp_secret=TOTP_SECRET)
    make_user("boss@bieb.example", Role.ADMIN)
    annas_desk = app.test_client()
    assert login(annas_desk, "anna@bieb.example") == 302
    assert login(client, "boss@bieb.example") == 302
    page = client.get(f"/users/{anna.id}").get_data(as_text=True)
    assert f"/users/{anna.id}/two-step/reset" in page
    token = csrf_token(client, f"/users/{anna.id}")
    assert client.post(f"/users/{anna.id}/two-step/reset", data={}).status_code == 400  # no CSRF token
    assert _user(app, "anna@bieb.example").totp_secret == TOTP_SECRET
    response = client.post(f"/users/{anna.id}/two-step/reset", data={"csrf_token": token})
    assert response.status_code == 303
    assert _user(app, "anna@bieb.example").totp_secret is None
    assert annas_desk.get("/responses").status_code == 302  # her sessions ended
    assert f"/users/{anna.id}/two-step/reset" not in client.get(f"/users/{anna.id}").get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.two_step_reset"))
        assert event is not None and event.actor == "boss@bieb.example"
    # Staff cannot.
    assert login(annas_desk, "anna@bieb.example") == 302
    her_token = csrf_token(annas_desk, "/account")
    assert (
        annas_desk.post(f"/users/{anna.id}/two-step/reset", data={"csrf_token": her_token}).status_code == 404
    )


def test_the_demo_prints_how_its_admin_signs_in(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--media", str(MEDIA_SET), "--days", "1"])
    assert result.exit_code == 0, result.output
    key = re.search(r"add the key ([A-Z2-7]{16,}) to an authenticator app", result.output)
    assert key and f'pyotp.TOTP("{key.group(1)}").now()' in result.output
    assert _password_step(client, "admin@vertelpaal.example", "vertelpaal-demo") == "/login/code"
    assert _code_step(client, pyotp.TOTP(key.group(1)).now()) == 302
    assert client.get("/users").status_code == 200
