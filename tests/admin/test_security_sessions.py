"""Staff sessions end after SESSION_IDLE_MINUTES without a request and SESSION_ABSOLUTE_HOURS after
signing in, however busy. The clock is moved by moving the session's own stored times back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin.accounts.sessions import SEEN_AT, SIGNED_IN_AT
from admin.config import from_environment
from admin.models import Role
from tests.admin.helpers import PASSWORD, csrf_token, login

MINUTE, HOUR = 60, 3600


@pytest.fixture
def signed_in(client: FlaskClient, make_branch: Callable, make_user: Callable) -> FlaskClient:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    assert login(client, "anna@bieb.example") == 302
    assert client.get("/").status_code == 200
    return client


def _move_back(client: FlaskClient, key: str, seconds: int) -> None:
    with client.session_transaction() as session:
        session[key] -= seconds


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/responses")
    return response.status_code == 200


def test_a_busy_session_still_ends_after_the_absolute_limit(signed_in: FlaskClient) -> None:
    # Eleven hours of work, a request every 20 minutes: still signed in.
    for _ in range(33):
        _move_back(signed_in, SIGNED_IN_AT, 20 * MINUTE)
        _move_back(signed_in, SEEN_AT, 20 * MINUTE)
        assert _signed_in(signed_in)
    # Past twelve hours the next request, however soon after the last, ends the session.
    _move_back(signed_in, SIGNED_IN_AT, HOUR + MINUTE)
    response = signed_in.get("/responses?status=new")
    assert response.status_code == 302
    assert response.location == "/login?next=/responses?status%3Dnew"
    assert not _signed_in(signed_in)
    page = signed_in.get("/login?next=/responses").get_data(as_text=True)
    assert 'class="flash flash-info"' in page  # says why: the session has ended


def test_an_idle_session_ends_after_the_idle_limit(signed_in: FlaskClient) -> None:
    _move_back(signed_in, SEEN_AT, 29 * MINUTE)
    assert _signed_in(signed_in)
    _move_back(signed_in, SEEN_AT, 30 * MINUTE + 1)
    assert not _signed_in(signed_in)


def test_a_session_without_its_times_is_not_accepted(signed_in: FlaskClient) -> None:
    with signed_in.session_transaction() as session:
        del session[SIGNED_IN_AT]
    assert not _signed_in(signed_in)


def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    config = from_environment(
        str(tmp_path),
        {"VERTELPAAL_ENV": "development", "SESSION_ABSOLUTE_HOURS": "2", "SESSION_IDLE_MINUTES": "5"},
    )
    assert config["SESSION_ABSOLUTE_LIFETIME"].total_seconds() == 2 * HOUR
    assert config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 5 * MINUTE
    defaults = from_environment(str(tmp_path), {"VERTELPAAL_ENV": "development"})
    assert defaults["SESSION_ABSOLUTE_LIFETIME"].total_seconds() == 12 * HOUR


def test_a_shorter_absolute_limit_is_applied(app: Flask, signed_in: FlaskClient) -> None:
    app.config["SESSION_ABSOLUTE_LIFETIME"] = app.config["SESSION_ABSOLUTE_LIFETIME"] / 12  # one hour
    _move_back(signed_in, SIGNED_IN_AT, 50 * MINUTE)
    assert _signed_in(signed_in)
    _move_back(signed_in, SIGNED_IN_AT, 11 * MINUTE)
    assert not _signed_in(signed_in)


def test_signing_out_ends_every_copy_of_the_session(app: Flask, signed_in: FlaskClient) -> None:
    # Someone copied the session cookie (a shared computer, a stolen backup) before sign-out.
    copy = app.test_client()
    cookie = signed_in.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    copy.set_cookie(cookie.key, cookie.value)
    assert _signed_in(copy)
    signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/")})
    assert not _signed_in(signed_in)
    assert not _signed_in(copy)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/phish",
        "/%09/evil.example/phish",
        "/%0a/evil.example",
        "/%0d%0a/x",
        "/%5c/evil.example",
        "/%20/evil.example",
        "https://evil.example/",
        "/%e3%80%80/evil.example",  # an ideographic space
        "/\t/evil.example",
    ],
)
def test_sign_in_goes_only_to_a_path_of_this_site(
    client: FlaskClient, make_branch: Callable, make_user: Callable, target: str
) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    token = csrf_token(client, "/login")
    response = client.post(
        f"/login?next={target}",
        data={"email": "anna@bieb.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.location == "/"


def test_sign_in_keeps_a_path_of_this_site(
    client: FlaskClient, make_branch: Callable, make_user: Callable
) -> None:
    make_branch("Roden")
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/responses%3Fstatus%3Dnew",
        data={"email": "anna@bieb.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.location == "/responses?status=new"
