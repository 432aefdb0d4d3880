"""The kiosk service: the visitor's page for Chromium, and the small JSON API the page uses.

It listens on 127.0.0.1 only. The page never touches camera or microphone; it asks this service
to record, shows the preview as MJPEG, and confirms each answer into the outbox.

API (JSON):
  GET  /api/show                         what to show: languages, videos, questionnaire, settings,
                                         devices; "choices" (the "I came for..." cards, each with its
                                         questionnaire) when several apply now, "member_question"
                                         and the built-in "member" and "activity_chooser" words
  POST /api/sessions                     {language, consent, parent_consent?, missing_devices?,
                                         questionnaire?, member?} → {uuid}; starts a pass
                                         (questionnaire: the one chosen when several apply;
                                         member: yes / no / unknown)
  POST /api/sessions/<s>/answers         {uuid, question_id, kind, value | recording}: confirm an answer
  DELETE /api/sessions/<s>/answers/<a>   take an answer back
  POST /api/sessions/<s>/finish          the visitor is done (thanks screen or idle reset)
  POST /api/recordings                   {session, kind: video|voice} → {uuid, max_seconds}; starts now
  POST /api/recordings/<r>/stop          → {uuid, duration, url, failed_device}; to play back
  GET  /api/recordings/<r>/media         the recording, with Range requests
  DELETE /api/recordings/<r>             throw it away (also "record again")
  GET  /api/recording/status             {elapsed, level, failed} for the ring and level meter
  GET  /api/preview.mjpeg                the live camera picture
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request, send_file, send_from_directory
from flask.typing import ResponseReturnValue

import mediaseal
from kiosk import review, showdoc
from kiosk.config import KioskConfig
from kiosk.devices import DEVICE_NAMES, DeviceError, Devices, unavailable
from kiosk.hardware.clock import wall_now
from kiosk.outbox import MEMBER_ANSWERS, RECORDING_KINDS, Outbox, OutboxError
from kiosk.paths import SyncPaths

PREVIEW_FPS = 15
FIRST_FRAME_SECONDS = 5.0  # how long the preview waits for a camera that is starting


def create_app(
    config: KioskConfig,
    devices: Devices | None = None,
    watch_devices: bool = True,
    clock: Callable[[], datetime] = wall_now,
) -> Flask:
    """The kiosk service; with ``watch_devices`` it checks camera and microphone now and then
    (tests of the API alone switch that off: the checks open sound devices in this process).
    ``clock`` tells the time of day that decides which questionnaire applies (tests set it)."""
    app = Flask(__name__)
    app.config["KIOSK"] = config
    outbox = Outbox(config.outbox_path, config.recordings_dir)
    report = outbox.recover()
    app.logger.info("outbox recovered: %s", report)
    devices = devices or Devices(config)
    if watch_devices:
        devices.start_checks()
    app.extensions["outbox"] = outbox
    # When each open session started (monotonic), so that a device failing during it is noted there.
    session_starts: dict[str, float] = {}
    app.extensions["devices"] = devices
    # The own keys of sealed recordings the visitor may still play back (memory only).
    review_keys = review.ReviewKeys()
    app.extensions["review_keys"] = review_keys

    def show() -> dict[str, Any]:
        document = showdoc.build(config, clock())
        document["settings"] = {
            "idle_seconds": config.timeouts.idle_seconds,
            "still_there_seconds": config.timeouts.still_there_seconds,
            "max_answer_seconds": config.timeouts.max_answer_seconds,
            "recording_allowed": outbox.free_bytes() >= config.free_space_mb * 1024 * 1024,
        }
        document["devices"] = {name: status.as_dict() for name, status in devices.status().items()}
        return document

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/")
    def page() -> ResponseReturnValue:
        return render_template("kiosk.html", lang=config.languages[0])

    @app.get("/media/<path:relative>")
    def media(relative: str) -> ResponseReturnValue:
        response = send_from_directory(config.question_set, relative, conditional=True, max_age=3600)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @app.get("/cache/<sha256>")
    def cached(sha256: str) -> ResponseReturnValue:
        """A question file from the server, downloaded and checked by the sync service."""
        content_type = showdoc.media_types(config).get(sha256)
        if content_type is None:
            abort(404)
        response = send_from_directory(
            SyncPaths(config.data_dir).cache, sha256, mimetype=content_type, conditional=True, max_age=3600
        )
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @app.get("/api/show")
    def api_show() -> ResponseReturnValue:
        return jsonify(show())

    @app.post("/api/sessions")
    def start_session() -> ResponseReturnValue:
        body = _body()
        document = show()
        language = str(body.get("language") or config.languages[0])
        if language not in {item["code"] for item in document["languages"]}:
            return _error(f"unknown language {language!r}")
        consent = body.get("consent") is True
        # Asked only when the organisation switched the step on; a "no" leaves taps only.
        asks_parent = consent and bool(document.get("parent_step"))
        parent_consent = body.get("parent_consent") if asks_parent else None
        if asks_parent and not isinstance(parent_consent, bool):
            return _error("this kiosk asks a parent or carer first: parent_consent must be true or false")
        questionnaire = document["questionnaire"]
        if questionnaire is None:
            return _error("this kiosk has no questions yet", 409)
        # What the page found not working and so did not offer; an older page does not say,
        # then the service's own knowledge stands in.
        missing = body.get("missing_devices")
        if missing is None:
            missing = unavailable(devices.status())
        if not isinstance(missing, list) or not set(missing) <= set(DEVICE_NAMES):
            return _error(f"missing_devices must be a list of {', '.join(DEVICE_NAMES)}")
        if document.get("choices"):
            # Several apply now ("I came for..."): the visitor's choice, one of them.
            offered = {c["questionnaire"]["id"]: c["questionnaire"] for c in document["choices"]}
            questionnaire = offered.get(str(body.get("questionnaire") or questionnaire["id"]))
            if questionnaire is None:
                return _error("questionnaire must be one of the choices shown now")
        member = body.get("member") if questionnaire.get("member_question") else None
        if member is not None and member not in MEMBER_ANSWERS:
            return _error(f"member must be one of {', '.join(MEMBER_ANSWERS)}")
        session_uuid = outbox.start_session(
            questionnaire["id"],
            questionnaire["version"],
            language,
            consent,
            consent_version=questionnaire["consent_version"],
            parent_consent=parent_consent,
            missing_devices=missing,
            activity=questionnaire.get("activity"),
            member=member,
        )
        session_starts[session_uuid] = time.monotonic()
        if not consent or parent_consent is False:
            devices.release()  # no camera or microphone for a visitor who said no
        return jsonify({"uuid": session_uuid}), 201

    @app.post("/api/sessions/<session_uuid>/answers")
    def add_answer(session_uuid: str) -> ResponseReturnValue:
        body = _body()
        kind = str(body.get("kind", ""))
        recording = body.get("recording") if kind in RECORDING_KINDS else None
        try:
            outbox.add_answer(
                session_uuid,
                _uuid(body.get("uuid")),
                str(body.get("question_id", "")),
                kind,
                value=None if recording else _text(body.get("value")),
                recording_uuid=recording,
            )
        except OutboxError as error:
            return _error(str(error))
        review_keys.forget(recording)  # sent: from now on only the server opens it
        return jsonify({"ok": True}), 201

    @app.delete("/api/sessions/<session_uuid>/answers/<answer_uuid>")
    def take_back(session_uuid: str, answer_uuid: str) -> ResponseReturnValue:
        try:
            outbox.take_back(session_uuid, answer_uuid)
        except OutboxError as error:
            return _error(str(error))
        return jsonify({"ok": True})

    @app.post("/api/sessions/<session_uuid>/finish")
    def finish(session_uuid: str) -> ResponseReturnValue:
        devices.release()
        review_keys.forget_all()
        started = session_starts.pop(session_uuid, None)
        # A device that failed during the visit (a preview, a recording, a check) is part of why
        # this visitor was offered less than the questionnaire asks.
        for device in devices.failed_since(started) if started is not None else ():
            outbox.note_missing_device(session_uuid, device)
        outbox.finish_session(session_uuid)
        return jsonify({"ok": True})

    @app.post("/api/recordings")
    def start_recording() -> ResponseReturnValue:
        body = _body()
        kind = str(body.get("kind", ""))
        if kind not in RECORDING_KINDS:
            return _error("kind must be video or voice")
        sessions = {s.uuid: s for s in outbox.sessions() if s.finished_at is None}
        session = sessions.get(str(body.get("session", "")))
        if session is None or not session.may_record:
            return _error("recording needs an open session with consent", 403)
        if not show()["settings"]["recording_allowed"]:
            return _error("the disk is almost full; only tap answers now", 507)
        recording_uuid, path = outbox.recording_path(kind)
        try:
            devices.start_recording(recording_uuid, kind, path, seal_to=showdoc.sealing_key(config))
        except DeviceError as error:
            return jsonify({"error": f"cannot record: {error}", "device": error.device}), 503
        except RuntimeError as error:
            return jsonify({"error": f"cannot record: {error}", "device": None}), 503
        return jsonify({"uuid": recording_uuid, "max_seconds": config.timeouts.max_answer_seconds}), 201

    @app.post("/api/recordings/<recording_uuid>/stop")
    def stop_recording(recording_uuid: str) -> ResponseReturnValue:
        try:
            result = devices.stop_recording(recording_uuid)
        except DeviceError as error:
            return jsonify({"error": str(error), "device": error.device}), 409
        kind = "video" if result.path.suffix == ".mp4" else "voice"
        outbox.register_recording(
            recording_uuid,
            kind,
            result.path,
            result.sha256,
            result.size,
            result.duration,
            sealed_sha256=result.sealed.sealed_sha256 if result.sealed else None,
        )
        if result.sealed is not None:
            review_keys.keep(recording_uuid, result.sealed.key)
        return jsonify(
            {
                "uuid": recording_uuid,
                "duration": result.duration,
                "url": f"/api/recordings/{recording_uuid}/media",
                "failed_device": result.failed_device,
            }
        )

    @app.get("/api/recordings/<recording_uuid>/media")
    def recording_media(recording_uuid: str) -> ResponseReturnValue:
        recording = outbox.recording(recording_uuid)
        if recording is None:
            abort(404)
        mimetype = "video/mp4" if recording.kind == "video" else "audio/mp4"
        path = outbox.file_of(recording)
        key = review_keys.get(recording_uuid)
        if key is not None:
            return review.sealed_media(request, path, key, mimetype)
        if mediaseal.file_is_sealed(path):
            abort(404)  # sent or thrown away: only the server can open it now
        return send_file(path, mimetype=mimetype, conditional=True)

    @app.delete("/api/recordings/<recording_uuid>")
    def discard_recording(recording_uuid: str) -> ResponseReturnValue:
        devices.abort_recording(recording_uuid)
        review_keys.forget(recording_uuid)
        outbox.discard_recording(recording_uuid)
        return jsonify({"ok": True})

    @app.get("/api/recording/status")
    def recording_status() -> ResponseReturnValue:
        return jsonify(
            {
                "elapsed": devices.recording_elapsed(),
                "level": devices.level(),
                "failed": devices.failed_device(),
            }
        )

    @app.get("/api/preview.mjpeg")
    def preview() -> ResponseReturnValue:
        try:
            devices.camera()
        except Exception as error:  # a missing camera must not break the page
            return _error(f"no camera: {error}", 503)
        return Response(_mjpeg(devices), mimetype="multipart/x-mixed-replace; boundary=frame")

    return app


def _mjpeg(devices: Devices) -> Iterator[bytes]:
    interval = 1 / PREVIEW_FPS
    started, sent = time.monotonic(), False
    while True:
        jpeg = devices.preview_jpeg()
        if jpeg is None:
            if not sent and time.monotonic() - started < FIRST_FRAME_SECONDS:
                time.sleep(interval)  # the camera was just switched on: wait for its first picture
                continue
            return  # the camera was switched off: the visitor is done
        sent = True
        yield (
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode() + b"\r\n\r\n"
        )
        yield jpeg + b"\r\n"
        time.sleep(interval)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(Response('{"error": "send a JSON object"}', 400, mimetype="application/json"))
    return body


def _uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        abort(Response('{"error": "uuid must be a UUID"}', 400, mimetype="application/json"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:40]


def _error(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify({"error": message}), status
