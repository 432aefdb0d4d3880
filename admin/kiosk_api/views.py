"""Kiosk API views. Thin: checks and changes live in ingest.py, configuration.py and
admin/kiosks/operations.py; the tus upload endpoint is in uploads.py."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from admin import sealing
from admin.extensions import db, limiter
from admin.kiosk_api import bodies, configuration, ingest
from admin.kiosk_api import uploads as _uploads  # noqa: F401  (registers the tus routes)
from admin.kiosk_api.auth import current_kiosk, kiosk_required
from admin.kiosk_api.blueprint import bp
from admin.kiosk_api.openapi import spec
from admin.kiosks import operations as kiosk_ops
from admin.kiosks.tokens import hash_secret
from admin.mediafiles.views import send_media
from admin.models import Enrollment, Media, utcnow
from admin.storage import SHA256_PATTERN, media_store

_error = bodies.json_error

# Storing a session is CPU work for this process and its database connection. More than two at a
# time per worker process only contend for the GIL and the database: on 2 cores, 500 sessions
# sent at once were stored at ~400/s with two at a time, against ~320/s with all of a worker's 8
# threads (bench/bench_sync.py). Uploads, heartbeats and staff pages are not held back.
SESSIONS_AT_ONCE = 2
# A session waiting longer than this gets 503 with Retry-After: the kiosk comes back later.
SESSION_SLOT_WAIT_SECONDS = 30.0
BUSY_RETRY_AFTER_SECONDS = 5

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEARTBEAT_FIELDS = {
    "app_version": str,
    "uptime_seconds": (int, float),
    "outbox_depth": int,
    "oldest_unsent_at": str,
    "disk_free_bytes": int,
    "camera_ok": bool,
    "microphone_ok": bool,
    "config_etag": str,
    "camera_message": str,
    "microphone_message": str,
    "recorder_profile": str,  # the recording profile the kiosk measured (kiosk/hardware/profiles.py)
}


def _json(limit: int) -> dict[str, Any]:
    body = bodies.read_json(limit)
    if not isinstance(body, dict):
        abort(_error("send a JSON object", 400))
    return body


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(spec())


@bp.post("/enrollments")
@limiter.limit("60 per hour")  # per address; a code lives 15 minutes
def create_enrollment() -> ResponseReturnValue:
    body = bodies.read_json(bodies.ENROLLMENT_BODY_BYTES, required=False) or {}
    name = body.get("name", "") if isinstance(body, dict) else ""
    created = kiosk_ops.request_enrollment(printable(name) if isinstance(name, str) else "")
    db.session.commit()
    enrollment = created.enrollment
    return jsonify(
        {
            "id": enrollment.id,
            "secret": created.secret,
            "pairing_code": kiosk_ops.format_code(enrollment.pairing_code),
            "expires_at": enrollment.expires_at.isoformat(),
            "poll_seconds": 5,
        }
    ), 201


@bp.get("/enrollments/<enrollment_id>")
def poll_enrollment(enrollment_id: str) -> ResponseReturnValue:
    if not UUID_PATTERN.match(enrollment_id):
        return _error("unknown enrollment", 404)
    enrollment = db.session.get(Enrollment, enrollment_id)
    secret = request.headers.get("X-Enrollment-Secret", "")
    if enrollment is None or not secret or enrollment.secret_hash != hash_secret(secret):
        return _error("unknown enrollment", 404)
    if enrollment.approved_at is None:
        if enrollment.expires_at <= utcnow():
            return _error("this pairing code has expired; ask for a new one", 410)
        return jsonify(
            {"status": "waiting", "pairing_code": kiosk_ops.format_code(enrollment.pairing_code)}
        ), 202
    token = kiosk_ops.collect_token(enrollment)
    db.session.commit()
    if token is None:
        return _error("the token was already handed out", 410)
    kiosk = enrollment.kiosk
    assert kiosk is not None
    return jsonify(
        {
            "status": "approved",
            "kiosk_id": kiosk.id,
            "token": token,
            "branch": {"id": kiosk.branch.id, "name": kiosk.branch.name},
            "sealing_key": sealing.current_keys().public_document(),
        }
    )


@bp.get("/config")
@kiosk_required
def config() -> ResponseReturnValue:
    document = configuration.build(current_kiosk(), utcnow().date())
    etag = configuration.etag_of(document)
    response = jsonify(document)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.get("/media/<sha256>")
@kiosk_required
def media(sha256: str) -> ResponseReturnValue:
    if not SHA256_PATTERN.match(sha256) or not configuration.is_question_media(sha256):
        return _error("no such media", 404)
    item = db.session.get(Media, sha256)
    if item is None or not media_store().exists(sha256):
        return _error("no such media", 404)
    return send_media(item)


def session_slots() -> threading.BoundedSemaphore:
    """This app's slots for storing sessions in this process, made on first use."""
    slots: threading.BoundedSemaphore | None = current_app.extensions.get("kiosk_session_slots")
    if slots is None:
        slots = current_app.extensions.setdefault(
            "kiosk_session_slots", threading.BoundedSemaphore(SESSIONS_AT_ONCE)
        )
    return slots


@contextmanager
def session_slot() -> Iterator[None]:
    """One of this process's ``SESSIONS_AT_ONCE`` slots for storing a session, or a 503 answer
    after ``SESSION_SLOT_WAIT_SECONDS``. Taken only once the body is in: a kiosk sending slowly
    must not keep the others waiting."""
    slots = session_slots()
    if not slots.acquire(timeout=SESSION_SLOT_WAIT_SECONDS):
        response = _error("the server is busy storing other sessions; try again shortly", 503)
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        abort(response)
    try:
        yield
    finally:
        slots.release()


@bp.put("/sessions/<session_uuid>")
@kiosk_required
def put_session(session_uuid: str) -> ResponseReturnValue:
    body = _json(bodies.SESSION_BODY_BYTES)
    with session_slot():
        try:
            session_uuid = ingest._uuid(session_uuid, "session uuid")
            outcome = ingest.store_session(current_kiosk(), session_uuid, body)
        except ingest.Invalid as error:
            db.session.rollback()
            return _error(str(error), 422)
        if outcome.status in (200, 201):
            db.session.commit()
            return jsonify({"uuid": session_uuid, "stored": True}), outcome.status
        db.session.rollback()
        return _error(outcome.error or "conflict", outcome.status, missing=outcome.missing)


@bp.post("/heartbeat")
@kiosk_required
def heartbeat() -> ResponseReturnValue:
    kiosk = current_kiosk()
    body = _json(bodies.HEARTBEAT_BODY_BYTES)
    kiosk.last_heartbeat_at = utcnow()
    kiosk.status = _status(body) | ingest.clock_offset(body, kiosk.last_heartbeat_at)
    db.session.commit()
    # Nothing about the configuration: a kiosk notices a new one by its conditional GET /config.
    return jsonify({"ok": True})


def _status(body: dict[str, Any]) -> dict[str, Any]:
    """The known heartbeat fields of the right type; anything else is left out."""
    status: dict[str, Any] = {}
    for key, kinds in HEARTBEAT_FIELDS.items():
        value = body.get(key)
        # bool is an int in Python: only a bool field takes true/false.
        if value is None or isinstance(value, bool) != (kinds is bool) or not isinstance(value, kinds):
            continue
        status[key] = printable(value)[:200] if isinstance(value, str) else value
    return status


def printable(text: str) -> str:
    """Text without control characters (PostgreSQL refuses NUL; none belong in a name anyway)."""
    return "".join(ch for ch in text if ch.isprintable())
