"""Signing in and out, throttling, CSRF, roles, password changes and user management."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import AuditEvent, Branch, Role, User
from tests.admin.helpers import PASSWORD, csrf_token, login


def test_sign_in_and_out(client: FlaskClient, make_branch: Callable, make_user: Callable) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    assert client.get("/").status_code == 302  # sends to /login
    assert login(client, "Anna@Bieb.example") == 302
    page = client.get("/").get_data(as_text=True)
    assert "Roden" in page and "anna@bieb.example" in page
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: FlaskClient, make_branch: Callable, make_user: Callable
) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    assert login(client, "anna@bieb.example", "not the password") == 401
    assert login(client, "nobody@bieb.example", "not the password") == 401


def test_five_wrong_passwords_slow_that_address_down_not_the_account(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    for _ in range(5):
        assert login(client, "boss@bieb.example", "wrong password!") == 401
    # From this address even the right password now waits, and the page says for how long.
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": "boss@bieb.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    wait = re.search(r'class="flash flash-error"[^>]*>[^<]*?(\d+)', response.get_data(as_text=True))
    assert wait and 0 < int(wait.group(1)) <= 15 * 60
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "boss@bieb.example"))
        assert user is not None and user.failed_logins == 0 and user.locked_until is None
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
        assert len(failed) == 5
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(elsewhere, "boss@bieb.example") == 302


def test_form_post_without_csrf_token_is_refused(client: FlaskClient, make_user: Callable) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    response = client.post("/login", data={"email": "boss@bieb.example", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out


def test_pages_carry_security_headers_and_session_cookie_flags(
    client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": "boss@bieb.example", "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_staff_cannot_reach_admin_pages(
    client: FlaskClient, make_branch: Callable, make_user: Callable
) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    login(client, "anna@bieb.example")
    for path in ("/users", "/users/new", "/questions", "/questions/new", "/questionnaires/new"):
        assert client.get(path).status_code == 404, path


def test_password_change_ends_other_sessions(app: Flask, make_branch: Callable, make_user: Callable) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    laptop, desk = app.test_client(), app.test_client()
    login(laptop, "anna@bieb.example")
    login(desk, "anna@bieb.example")
    token = csrf_token(laptop, "/account")
    response = laptop.post(
        "/account",
        data={
            "pw-current": PASSWORD,
            "pw-new": "a brand new secret",
            "pw-repeat": "a brand new secret",
            "pw-submit": "1",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200  # this session goes on
    assert desk.get("/").status_code == 302  # the other one is signed out
    assert login(desk, "anna@bieb.example", "a brand new secret") == 302


def test_admin_adds_and_disables_a_user(app: Flask, make_branch: Callable, make_user: Callable) -> None:
    make_branch("Norg")
    make_user("boss@bieb.example", Role.ADMIN)
    admin, staff = app.test_client(), app.test_client()
    login(admin, "boss@bieb.example")
    with app.app_context():
        norg = db.session.scalar(select(Branch.id).where(Branch.name == "Norg"))
    token = csrf_token(admin, "/users/new")
    response = admin.post(
        "/users/new",
        data={
            "email": "piet@bieb.example",
            "role": "staff",
            "branches": [str(norg)],
            "locale": "en",
            "password": "piets password",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert login(staff, "piet@bieb.example", "piets password") == 302
    assert staff.get("/").status_code == 200

    with app.app_context():
        piet = db.session.scalar(select(User).where(User.email == "piet@bieb.example"))
        assert piet is not None and piet.locale == "en" and [b.name for b in piet.branches] == ["Norg"]
        piet_id = piet.id
    token = csrf_token(admin, f"/users/{piet_id}")
    response = admin.post(
        f"/users/{piet_id}",
        data={
            "email": "piet@bieb.example",
            "role": "staff",
            "branches": [str(norg)],
            "locale": "en",
            "csrf_token": token,
        },  # "active" unchecked
    )
    assert response.status_code == 302
    assert staff.get("/").status_code == 302  # disabled: the running session ends
    assert login(staff, "piet@bieb.example", "piets password") == 401


def test_staff_without_branch_is_refused(client: FlaskClient, make_user: Callable) -> None:
    make_user("boss@bieb.example", Role.ADMIN)
    login(client, "boss@bieb.example")
    token = csrf_token(client, "/users/new")
    response = client.post(
        "/users/new",
        data={
            "email": "x@bieb.example",
            "role": "staff",
            "locale": "nl",
            "password": "long enough pw",
            "csrf_token": token,
        },
    )
    assert response.status_code == 200
    assert "branch" in response.get_data(as_text=True).lower() or "vestiging" in response.get_data(
        as_text=True
    )


def test_pages_speak_dutch_by_default_and_english_when_chosen(
    client: FlaskClient, make_user: Callable
) -> None:
    assert "Inloggen" in client.get("/login").get_data(as_text=True)
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    make_user("boss@bieb.example", Role.ADMIN)
    login(client, "boss@bieb.example")
    token = csrf_token(client, "/account")
    client.post("/account", data={"lang-locale": "en", "lang-submit": "1", "csrf_token": token})
    assert "Sign out" in client.get("/").get_data(as_text=True)
