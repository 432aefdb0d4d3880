"""Sign-in refuses guessers without locking out the account's owner or telling which accounts
exist: wrong passwords are counted per (e-mail, address) and per address, and an unknown e-mail gets
the same answer, after the same work, as a known one."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyotp
import requests
from argon2.profiles import RFC_9106_LOW_MEMORY
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.demo.seed import DEMO_PASSWORD, DEMO_TOTP_SECRET
from admin.extensions import db
from admin.models import AuditEvent, Role, User
from tests.admin.helpers import PASSWORD, csrf_token, login
from tests.e2e.stack import AdminServer, admin_env, flask
from tests.support.net import free_port

ADMIN = "boss@bieb.example"
NOBODY = "nobody@bieb.example"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="[^"]+"')
_CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _password_step(client: FlaskClient, email: str, password: str) -> tuple[int, str]:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    # The page differs only by its fresh CSRF token, the e-mail typed back into the form and the
    # seconds to wait, which tick on.
    page = _TOKEN.sub("", response.get_data(as_text=True)).replace(email, "EMAIL")
    page = re.sub(r"\d+", "N", page)
    return response.status_code, page


def test_a_guesser_at_one_address_does_not_lock_the_admin_out_at_another(
    app: Flask, make_user: Callable
) -> None:
    make_user(ADMIN, Role.ADMIN)
    attacker = _at(app, "192.0.2.66")
    statuses = [_password_step(attacker, ADMIN, f"guess number {n}")[0] for n in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    # The guesser's address is refused even with the right password: it is not even checked.
    assert _password_step(attacker, ADMIN, PASSWORD)[0] == 429
    # The admin, at their own address, signs in at once (password and two-step code).
    admin = _at(app, "198.51.100.7")
    assert login(admin, ADMIN) == 302
    assert admin.get("/users").status_code == 200


def test_an_address_spraying_many_accounts_is_slowed_down_but_two_step_accounts_go_on(
    app: Flask, make_branch: Callable, make_user: Callable
) -> None:
    make_branch("Roden")
    make_user(ADMIN, Role.ADMIN)
    make_user("anna@bieb.example", Role.STAFF, ["Roden"])
    shared = _at(app, "192.0.2.67")
    statuses = [_password_step(shared, f"person{n}@bieb.example", "Welkom2026!")[0] for n in range(21)]
    assert statuses == [401] * 20 + [429]
    # At that address a password alone, right or wrong, is refused the same way ...
    assert _password_step(shared, "anna@bieb.example", PASSWORD)[0] == 429
    assert _password_step(shared, "anna@bieb.example", "Welkom2026!")[0] == 429
    # ... but an admin there is not locked out: the right password leads on to the two-step code.
    admin = _at(app, "192.0.2.67")
    assert login(admin, ADMIN) == 302
    assert admin.get("/users").status_code == 200
    assert login(_at(app, "198.51.100.7"), "anna@bieb.example") == 302


def test_unknown_and_known_e_mails_get_the_same_answers(app: Flask, make_user: Callable) -> None:
    make_user(ADMIN, Role.ADMIN)
    known = [_password_step(_at(app, "192.0.2.10"), ADMIN, "wrong password!") for _ in range(7)]
    unknown = [_password_step(_at(app, "192.0.2.10"), NOBODY, "wrong password!") for _ in range(7)]
    assert [status for status, _page in known] == [401] * 5 + [429] * 2
    assert known == unknown
    # The same work behind them too: each wrong password checked is written to the audit log.
    with app.app_context():
        failed = list(
            db.session.scalars(select(AuditEvent.target).where(AuditEvent.action == "login.failed"))
        )
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN))
    assert sorted(failed) == sorted(["unknown-account"] * 5 + [f"user:{admin_id}"] * 5)


def _median_seconds(app: Flask, email: str, first_address: int, n: int) -> float:
    times = []
    for i in range(n):
        client = _at(app, f"203.0.113.{first_address + i}")
        token = csrf_token(client, "/login")
        started = time.perf_counter()
        response = client.post("/login", data={"email": email, "password": "nope nope", "csrf_token": token})
        times.append(time.perf_counter() - started)
        assert response.status_code == 401
    return statistics.median(times)


def test_unknown_and_known_e_mails_take_the_same_time(app: Flask, make_user: Callable) -> None:
    # At production's cost, where the hash is most of the work: at the tests' cheap one, skipping
    # the dummy hash for unknown e-mails would change the time too little to be seen.
    app.config["PASSWORD_HASH_PARAMETERS"] = RFC_9106_LOW_MEMORY
    make_user(ADMIN, Role.ADMIN)
    # Guessed at from elsewhere first: that must not make the known account's answer quicker.
    guesser = _at(app, "192.0.2.68")
    for _ in range(6):
        _password_step(guesser, ADMIN, "a guess")
    known = _median_seconds(app, ADMIN, 1, 5)
    unknown = _median_seconds(app, NOBODY, 101, 5)
    # The issue asks for the same timing; a loose ratio, so a busy machine does not fail it.
    assert 0.5 <= known / unknown <= 2, (known, unknown)


def _sign_in_over_http(base: str, email: str, password: str, address: str) -> requests.Response:
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = address  # as nginx tells the server (TRUSTED_PROXIES=1)
    token = _CSRF_VALUE.search(browser.get(f"{base}/login", timeout=10).text)
    assert token
    form = {"email": email, "password": password, "csrf_token": token.group(1)}
    response = browser.post(f"{base}/login", data=form, allow_redirects=False, timeout=30)
    if response.status_code == 302 and response.headers["Location"].endswith("/login/code"):
        token = _CSRF_VALUE.search(browser.get(f"{base}/login/code", timeout=10).text)
        assert token
        code = {"code": pyotp.TOTP(DEMO_TOTP_SECRET).now(), "csrf_token": token.group(1)}
        response = browser.post(f"{base}/login/code", data=code, allow_redirects=False, timeout=30)
    return response


def test_under_gunicorn_a_guesser_does_not_lock_the_admin_out(tmp_path: Path) -> None:
    env = admin_env(f"sqlite:///{tmp_path / 'admin.sqlite3'}", tmp_path / "media") | {"TRUSTED_PROXIES": "1"}
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed", "--days", "1")
    server = AdminServer(free_port(), env, tmp_path / "gunicorn.log").start()
    admin = "admin@vertelpaal.example"
    try:
        statuses = [
            _sign_in_over_http(server.url, admin, f"guess {n}", "192.0.2.66").status_code for n in range(20)
        ]
        # Counted per worker process without Redis (two workers here): at most 5 wrong in each.
        assert set(statuses) == {401, 429} and 5 <= statuses.count(401) <= 10, statuses
        signed_in = _sign_in_over_http(server.url, admin, DEMO_PASSWORD, "198.51.100.7")
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
        # An unknown e-mail at the guesser's address is answered as the admin's is.
        unknown = [
            _sign_in_over_http(
                server.url, "nobody@vertelpaal.example", f"guess {n}", "192.0.2.66"
            ).status_code
            for n in range(20)
        ]
        assert set(unknown) == {401, 429} and 5 <= unknown.count(401) <= 10, unknown
    finally:
        server.stop()
