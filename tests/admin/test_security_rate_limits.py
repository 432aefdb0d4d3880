"""Rate limits: the kiosk API per token and per address (429 with Retry-After, which the kiosk's
sync treats as "back off and try again"), creating enrollments per address, pairing codes that
expire, and wrong pairing codes on the Kiosks page and in the CLI per account and per address."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from admin import ratelimits
from admin.extensions import db, limiter
from admin.kiosk_api import views as kiosk_views
from admin.models import AuditEvent, Enrollment, Kiosk, Role, Session, utcnow
from kiosk import showdoc
from kiosk.config import KioskConfig
from kiosk.sync import NotEnrolled, SyncError, SyncService
from tests.admin.helpers import csrf_token, login
from tests.admin.test_kiosk_api import API, EnrolledKiosk, enroll
from tests.kiosk.test_sync import answer_session

SOMEWHERE_ELSE = {"REMOTE_ADDR": "192.0.2.77"}
WRONG_CODE = "kiosk.pairing_code_wrong"  # admin.kiosks.operations.WRONG_CODE (imported late there)


@pytest.fixture
def seeded(seed_demo: Callable[[int], None]) -> None:
    seed_demo(1)


def _heartbeat(client: FlaskClient, kiosk: EnrolledKiosk, **request: object):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/heartbeat", json={"outbox_depth": 0}, headers=kiosk.headers, **request)


def _assert_too_many(response, window: int = 60) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    assert response.is_json and "too many" in response.get_json()["error"]
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= window
    return wait


# --- the kiosk API -------------------------------------------------------------------------------


def test_one_kiosk_token_is_limited_and_told_when_to_come_back(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    flooding, quiet = enroll(app, client), enroll(app, client)
    app.config["KIOSK_RATE_LIMIT_PER_TOKEN"] = "5 per minute"
    for _ in range(5):
        assert _heartbeat(client, flooding).status_code == 200
    refused = _heartbeat(client, flooding)
    _assert_too_many(refused)
    # The refused request changed nothing; another kiosk at the same address goes on.
    with app.app_context():
        before = db.session.get(Kiosk, flooding.id).last_heartbeat_at
    assert _heartbeat(client, flooding).status_code == 429
    with app.app_context():
        assert db.session.get(Kiosk, flooding.id).last_heartbeat_at == before
    assert _heartbeat(client, quiet).status_code == 200
    assert client.get(f"{API}/config", headers=flooding.headers).status_code == 429


def test_kiosks_behind_one_address_share_its_limit_other_addresses_do_not(
    app: Flask, client: FlaskClient, seeded: None
) -> None:
    kiosks = [enroll(app, client) for _ in range(3)]
    app.config["KIOSK_RATE_LIMIT_PER_ADDRESS"] = "9 per minute"
    statuses = [_heartbeat(client, kiosks[n % 3]).status_code for n in range(9)]
    assert statuses == [200] * 9
    _assert_too_many(_heartbeat(client, kiosks[0]))
    _assert_too_many(client.get(f"{API}/config", headers=kiosks[1].headers))
    assert _heartbeat(client, kiosks[2], environ_base=SOMEWHERE_ELSE).status_code == 200


def test_the_default_limits_are_generous_for_a_library_of_kiosks(app: Flask) -> None:
    from admin.ratelimits import parse_limit

    per_token = parse_limit(app.config["KIOSK_RATE_LIMIT_PER_TOKEN"])
    per_address = parse_limit(app.config["KIOSK_RATE_LIMIT_PER_ADDRESS"])
    # A kiosk sends 1 MiB chunks; 20 requests a second is 160 Mbit/s, beyond a library's link.
    assert per_token.amount / per_token.get_expiry() >= 20
    # 500 kiosks behind one address each syncing every 10 s (config + heartbeat) fit.
    assert per_address.amount / per_address.get_expiry() >= 500 * 2 / 10


def test_creating_enrollments_is_limited_per_address(app: Flask, client: FlaskClient) -> None:
    for _ in range(60):
        assert client.post(f"{API}/enrollments", json={"name": "kiosk"}).status_code == 201
    _assert_too_many(client.post(f"{API}/enrollments", json={"name": "kiosk"}), window=3600)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 60
    other = client.post(f"{API}/enrollments", json={"name": "kiosk"}, environ_base=SOMEWHERE_ELSE)
    assert other.status_code == 201


# --- the kiosk's sync against a real server ---------------------------------------------------


@pytest.fixture
def service(app: Flask, live_server: str, seeded: None, tmp_path: Path) -> Iterator[SyncService]:
    service = SyncService(KioskConfig(data_dir=tmp_path / "kiosk", server_url=live_server))
    yield service
    service.close()


def _approve(app: Flask, service: SyncService) -> None:
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    code = showdoc.build(service.config)["pairing_code"]
    result = app.test_cli_runner().invoke(args=["kiosks", "approve", code, "--branch", "Roden"])
    assert result.exit_code == 0, result.output
    service.ensure_token()


def test_the_sync_backs_off_on_429_and_sends_everything_later(app: Flask, service: SyncService) -> None:
    _approve(app, service)
    service.pull_config()
    session = answer_session(service.outbox, showdoc.build(service.config))
    app.config["KIOSK_RATE_LIMIT_PER_TOKEN"] = "1 per minute"
    # The first request of the round passes, the next is refused: a SyncError, which the loop
    # answers with its backoff (run_forever), and the session waits in the outbox.
    with pytest.raises(SyncError, match="429"):
        service.run_once()
    assert [s.uuid for s in service.outbox.unsent()] == [session]
    assert SyncService.backoff(1) <= 2.0
    # The server's Retry-After (seconds left in its one-minute window) is kept for the loop, which
    # sleeps the larger of it and its own backoff.
    assert 1 <= service.retry_after <= 60
    app.config["KIOSK_RATE_LIMIT_PER_TOKEN"] = "1200 per minute"
    service.run_once()
    assert service.outbox.unsent() == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Session)) > 0
        assert db.session.get(Session, session) is not None


def test_an_expired_pairing_code_is_replaced_by_a_new_one(app: Flask, service: SyncService) -> None:
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    old_code = showdoc.build(service.config)["pairing_code"]
    with app.app_context():
        enrollment = db.session.scalars(select(Enrollment)).one()
        lifetime = enrollment.expires_at - enrollment.created_at
        assert lifetime == timedelta(minutes=15)
        # Sixteen minutes later:
        db.session.execute(update(Enrollment).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    expired = app.test_cli_runner().invoke(args=["kiosks", "approve", old_code, "--branch", "Roden"])
    assert expired.exit_code != 0 and old_code in expired.output  # "no kiosk is waiting with ..."
    with pytest.raises(NotEnrolled, match="expired"):
        service.ensure_token()
    with pytest.raises(NotEnrolled, match="pairing code"):
        service.ensure_token()
    new_code = showdoc.build(service.config)["pairing_code"]
    assert new_code and new_code != old_code
    result = app.test_cli_runner().invoke(args=["kiosks", "approve", new_code, "--branch", "Roden"])
    assert result.exit_code == 0, result.output
    assert service.ensure_token()


# --- wrong pairing codes ------------------------------------------------------------------------


def _kiosks(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Kiosk)) or 0


def _waiting_code(client: FlaskClient) -> str:
    return client.post(f"{API}/enrollments", json={"name": "hal"}, environ_base=SOMEWHERE_ELSE).get_json()[
        "pairing_code"
    ]


def _type_code(client: FlaskClient, code: str, branch_id: int = 1, **request: object) -> str:
    token = csrf_token(client, "/kiosks")
    response = client.post(
        "/kiosks/approve",
        data={"code": code, "branch": str(branch_id), "name": "", "csrf_token": token},
        follow_redirects=True,
        **request,
    )
    assert response.status_code == 200
    flashes = re.findall(r'class="flash flash-(?:error|info)"[^>]*>([^<]*)<', response.get_data(as_text=True))
    assert len(flashes) == 1
    return flashes[0]


def test_wrong_pairing_codes_on_the_kiosks_page_are_limited_per_account_and_address(
    app: Flask, client: FlaskClient, seeded: None, make_user: Callable
) -> None:
    for name in ("one", "two", "three"):
        make_user(f"{name}@bieb.example", Role.ADMIN)
    assert login(client, "one@bieb.example") == 302
    code, kiosks = _waiting_code(client), _kiosks(app)
    for n in range(10):
        assert "ABCD" in _type_code(client, f"ABCD-EFG{n % 8 + 2}")
    # The eleventh try waits, even with the right code: nothing is enrolled.
    assert re.search(r"\d+ min", _type_code(client, code))
    assert _kiosks(app) == kiosks
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == WRONG_CODE)) == 10

    # Another admin at the same address may still try: per account ten, per address twenty.
    second = app.test_client()
    assert login(second, "two@bieb.example") == 302
    for n in range(10):
        assert "ABCD" in _type_code(second, f"ABCD-EFH{n % 8 + 2}")
    third = app.test_client()
    assert login(third, "three@bieb.example") == 302
    assert re.search(r"\d+ min", _type_code(third, code))  # the address has had its twenty
    # The same account from another address is still at its own limit; a fresh one there is not.
    assert re.search(r"\d+ min", _type_code(client, code, environ_base=SOMEWHERE_ELSE))
    third_elsewhere = app.test_client()
    third_elsewhere.environ_base.update(SOMEWHERE_ELSE)
    assert login(third_elsewhere, "three@bieb.example") == 302
    assert "hal" in _type_code(third_elsewhere, code)  # enrolled
    assert _kiosks(app) == kiosks + 1


def test_wrong_pairing_codes_in_the_cli_are_limited(
    app: Flask, client: FlaskClient, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, kiosks = _waiting_code(client), _kiosks(app)
    runner = app.test_cli_runner()
    for n in range(10):
        wrong = runner.invoke(args=["kiosks", "approve", f"WXYZ-{n + 2:04d}", "--branch", "Roden"])
        assert wrong.exit_code != 0 and f"WXYZ-{n + 2:04d}" in wrong.output  # no kiosk waits with it
    refused = runner.invoke(args=["kiosks", "approve", code, "--branch", "Roden"])
    # Not "no kiosk waits with this code" (it does) but: try again in so many minutes.
    assert refused.exit_code != 0 and code not in refused.output and re.search(r"\b60\b", refused.output)
    assert _kiosks(app) == kiosks
    # Only the last hour counts (the audit log cannot be moved back: it is append-only).
    import admin.kiosks.operations as kiosk_operations

    monkeypatch.setattr(kiosk_operations, "WRONG_CODE_WINDOW", timedelta(microseconds=1))
    assert runner.invoke(args=["kiosks", "approve", code, "--branch", "Roden"]).exit_code == 0
    assert _kiosks(app) == kiosks + 1


def test_behind_nginx_the_limits_count_the_client_address(app: Flask, tmp_path: Path) -> None:
    from admin import create_app

    behind_nginx = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development", "TRUSTED_PROXIES": "1"},
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "KIOSK_SEALING_KEY_FILE": app.config["KIOSK_SEALING_KEY_FILE"],
            "KIOSK_RATE_LIMIT_PER_ADDRESS": "3 per minute",
        }
    )
    client = behind_nginx.test_client()  # every request comes from 127.0.0.1, as from nginx
    library = {"X-Forwarded-For": "203.0.113.10"}
    for _ in range(3):
        assert client.get(f"{API}/openapi.json", headers=library).status_code == 200
    _assert_too_many(client.get(f"{API}/openapi.json", headers=library))
    assert client.get(f"{API}/openapi.json", headers={"X-Forwarded-For": "203.0.113.11"}).status_code == 200
    with behind_nginx.app_context():
        db.engine.dispose()


def test_a_limit_that_does_not_parse_stops_start_up(tmp_path: Path) -> None:
    from admin.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match="KIOSK_RATE_LIMIT_PER_TOKEN"):
        from_environment(
            str(tmp_path), {"VERTELPAAL_ENV": "development", "KIOSK_RATE_LIMIT_PER_TOKEN": "lots"}
        )


def test_kiosks_keep_syncing_when_the_limit_storage_is_away(app: Flask, tmp_path: Path) -> None:
    from admin import create_app
    from tests.support.net import free_port

    nowhere = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development"},
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "KIOSK_SEALING_KEY_FILE": app.config["KIOSK_SEALING_KEY_FILE"],
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "KIOSK_RATE_LIMIT_PER_ADDRESS": "3 per minute",
        }
    )
    client = nowhere.test_client()
    try:
        assert client.get(f"{API}/openapi.json").status_code == 200
        # The kiosk API's own limits still count, in this worker's memory.
        assert [client.get(f"{API}/openapi.json").status_code for _ in range(3)] == [200, 200, 429]
        # The sign-in page's own limit falls back to counting in memory.
        token = csrf_token(client, "/login")
        wrong = {"email": "nobody@bieb.example", "password": "not this one", "csrf_token": token}
        assert client.post("/login", data=wrong).status_code == 401
    finally:
        # The limiter is one object for every app in this process, and init_app does not clear
        # its "storage is away" flag: later tests would count in memory, then switch mid-test.
        limiter._storage_dead = False
        ratelimits._in_memory.cache_clear()
        with nowhere.app_context():
            db.engine.dispose()


def test_the_sync_comes_back_after_a_busy_server_s_retry_after(
    app: Flask, service: SyncService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _approve(app, service)
    service.pull_config()
    session = answer_session(service.outbox, showdoc.build(service.config))
    with app.app_context():
        slots = kiosk_views.session_slots()
    for _ in range(kiosk_views.SESSIONS_AT_ONCE):  # the server is storing other sessions
        assert slots.acquire(timeout=1)
    monkeypatch.setattr(kiosk_views, "SESSION_SLOT_WAIT_SECONDS", 0.2)
    try:
        with pytest.raises(SyncError, match="503"):
            service.run_once()
        assert [s.uuid for s in service.outbox.unsent()] == [session]
        assert service.retry_after == kiosk_views.BUSY_RETRY_AFTER_SECONDS
    finally:
        for _ in range(kiosk_views.SESSIONS_AT_ONCE):
            slots.release()
    service.run_once()
    assert service.outbox.unsent() == []
