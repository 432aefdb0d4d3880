"""The kiosk API as an OpenAPI 3.1 document: the one description both sides are tested against."""

from __future__ import annotations

from typing import Any

from admin.kiosk_api.bodies import (
    BODY_DEADLINE_SECONDS,
    ENROLLMENT_BODY_BYTES,
    HEARTBEAT_BODY_BYTES,
    JSON_DEPTH,
    SESSION_BODY_BYTES,
)

ERROR = {"$ref": "#/components/schemas/Error"}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
UUID = {"type": "string", "format": "uuid"}
ID = {"type": "integer", "minimum": 1, "maximum": 2147483647}
TUS_HEADERS = {"Tus-Resumable": {"schema": {"type": "string", "const": "1.0.0"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


def _tus_header(name: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


UNAUTHORIZED = {"401": _error("unknown or revoked kiosk token; nothing was stored")}


def json_body_errors(limit_bytes: int) -> dict[str, Any]:
    """The refusals of a JSON body (admin/kiosk_api/bodies.py); nothing of it is stored."""
    return {
        "400": _error(f"not a JSON object, or nested deeper than {JSON_DEPTH} levels"),
        "408": _error(
            f"the whole body did not arrive within KIOSK_BODY_SECONDS ({BODY_DEADLINE_SECONDS:.0f} s)"
        ),
        "413": _error(f"a body larger than {limit_bytes} bytes"),
    }


TUS_VERSION = {"name": "Tus-Resumable", "in": "header", "required": True, "schema": {"const": "1.0.0"}}


def offset_body(required: bool) -> dict[str, Any]:
    """A tus chunk: raw bytes."""
    content = {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return {"required": required, "content": content}


def _status(*pairs: str) -> dict[str, Any]:
    """("404", "what it means", "409", ...) as OpenAPI responses."""
    return {code: {"description": text} for code, text in zip(pairs[::2], pairs[1::2], strict=True)}


# A PATCH's refusals; the method-override POST (which may be a PATCH) answers them too.
PATCH_ERRORS = _status(
    "400",
    "bad checksum header",
    "404",
    "unknown upload",
    "409",
    "wrong offset",
    "410",
    "expired",
    "412",
    "wrong tus version",
    "413",
    "past Upload-Length, or more than MAX_TUS_CHUNK_MB (64 MiB) in one request",
    "415",
    "not application/offset+octet-stream",
    "422",
    "not the declared media (beyond 1920×1080 pixels either way or 60 frames/s; an audio/mp4 "
    "with pictures), a sealed one that does not open, or a file stored already that is not a "
    "recording of this kiosk (a question's file, another kiosk's upload); deleted",
    "423",
    "another request is writing; retry",
    "460",
    "checksum mismatch; chunk dropped (or whole file: upload deleted)",
    "507",
    "the server's disk is full: this chunk was dropped, the offset is as before; resume later",
)
UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": UUID}
SEALING_KEY = {"$ref": "#/components/schemas/SealingKey"}
UPLOAD_METADATA = (
    "tus Upload-Metadata: filetype (video/mp4 | audio/mp4), sha256 (hex, of the bytes uploaded), "
    "optional filename and answer. A sealed recording (mediaseal format, sealed to sealing_key) adds "
    "sealed = 1 and plain_sha256 (hex, of the recording inside): the server opens it with its private "
    "key and stores the recording under plain_sha256, which the session then names."
)


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vertelpaal kiosk API",
            "version": "1.0.0",
            "description": "What a kiosk and the admin server say to each other. Every error is JSON "
            '{"error": ...}, also 413 (body too large: 1 MiB for sessions and heartbeats, 4 KiB for '
            "enrollments, MAX_TUS_CHUNK_MB for one tus PATCH), 408 (body too slow) and 429 (too many "
            "requests or connections from one address or token).",
        },
        "servers": [{"url": "/api/kiosk/v1"}],
        "security": [{"kioskToken": []}],
        "components": {
            "securitySchemes": {"kioskToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "missing": {"type": "array", "items": SHA256},
                    },
                },
                "Answer": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["uuid", "question_id", "kind", "answered_at"],
                    "properties": {
                        "uuid": UUID,
                        "question_id": ID,
                        "kind": {"enum": ["scale", "choice", "video", "voice"]},
                        "value": {"type": ["string", "null"], "maxLength": 40},
                        "media_sha256": {"oneOf": [SHA256, {"type": "null"}]},
                        "answered_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Session": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["questionnaire_version_id", "language", "consent", "started_at", "answers"],
                    "properties": {
                        "questionnaire_version_id": ID,
                        "language": {"type": "string", "minLength": 1, "maxLength": 5},
                        "consent": {"type": "boolean"},
                        "consent_version": {"type": ["string", "null"], "maxLength": 40},
                        "parent_consent": {
                            "type": ["boolean", "null"],
                            "description": "the parent-or-carer step's answer; absent when not asked; "
                            "false allows no recordings",
                        },
                        "missing_devices": {
                            "type": ["array", "null"],
                            "items": {"enum": ["camera", "microphone"]},
                            "uniqueItems": True,
                            "description": "devices that did not work for this visitor, so answers "
                            "needing them were not offered or ended early; absent when all worked",
                        },
                        "activity": {
                            "type": ["string", "null"],
                            "minLength": 1,
                            "maxLength": 120,
                            "description": "the activity the visitor came for; absent for a general visit. "
                            "The server stores the activity of the questionnaire version, whatever "
                            "this says",
                        },
                        "member": {
                            "enum": ["yes", "no", "unknown", None],
                            "description": "'Are you a member of the library?'; absent when not asked",
                        },
                        "started_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "The kiosk's clock. If this, finished_at or an answered_at "
                            "is more than 5 minutes ahead of the server or before the kiosk was enrolled, "
                            "the session is stored with the server's receive time and flagged for staff.",
                        },
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                        "answers": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Answer"},
                        },
                    },
                },
                "SealingKey": {
                    "type": "object",
                    "description": "The server's current public key: kiosks seal recordings to it",
                    "required": ["id", "public_key", "algorithm"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                        "public_key": {"type": "string", "description": "base64, 32 bytes (Curve25519)"},
                        "algorithm": {"const": "x25519-xsalsa20poly1305"},
                    },
                },
                "Schedule": {
                    "type": "object",
                    "description": "an activity's time in the kiosk's branch: every week on a weekday "
                    "(0 = Monday), or on one date",
                    "required": ["weekday", "date", "starts", "ends"],
                    "properties": {
                        "weekday": {"type": ["integer", "null"], "minimum": 0, "maximum": 6},
                        "date": {"type": ["string", "null"], "format": "date"},
                        "starts": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                        "ends": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                    },
                },
                "Questionnaire": {
                    "type": "object",
                    "description": "The kiosk shows it when it applies on the kiosk's own clock: within "
                    "active_from..active_to and, for an activity with a schedule, from a start to its end "
                    "plus minutes_after. One activity applies: its questionnaire; several: the visitor "
                    "chooses; none: the general one (activity null).",
                    "required": ["id", "version_id", "name", "activity", "schedule", "questions"],
                    "properties": {
                        "id": ID,
                        "version_id": ID,
                        "version": {"type": "integer"},
                        "name": {"type": "string"},
                        "activity": {"type": ["string", "null"]},
                        "active_from": {"type": ["string", "null"], "format": "date"},
                        "active_to": {"type": ["string", "null"], "format": "date"},
                        "schedule": {"type": "array", "items": {"$ref": "#/components/schemas/Schedule"}},
                        "timed": {
                            "type": "boolean",
                            "description": "the activity has times (maybe in other branches only); "
                            "false: it applies during its whole period",
                        },
                        "minutes_after": {"type": "integer", "minimum": 0},
                        "activity_pictogram": {"oneOf": [SHA256, {"type": "null"}]},
                        "activity_audio": {"oneOf": [SHA256, {"type": "null"}]},
                        "ask_member": {"type": "boolean"},
                        "questions": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Config": {
                    "type": "object",
                    "required": [
                        "kiosk",
                        "branch",
                        "consent_version",
                        "sealing_key",
                        "questionnaires",
                        "languages",
                        "media",
                    ],
                    "properties": {
                        "kiosk": {"type": "object"},
                        "branch": {"type": "object"},
                        "consent_version": {"type": "string"},
                        "parent_step": {
                            "description": "null, or the parent-or-carer question to ask before a recording",
                            "oneOf": [
                                {"type": "null"},
                                {
                                    "type": "object",
                                    "required": ["texts", "audio"],
                                    "properties": {
                                        "texts": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "audio": {"type": "object", "additionalProperties": SHA256},
                                    },
                                },
                            ],
                        },
                        "sealing_key": SEALING_KEY,
                        "time_zone": {
                            "type": "string",
                            "description": "IANA zone of the activities' wall-clock times, "
                            "e.g. Europe/Amsterdam",
                        },
                        "questionnaires": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Questionnaire"},
                        },
                        "languages": {"type": "array", "items": {"type": "string"}},
                        "media": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["sha256", "size", "content_type", "url"],
                                "properties": {
                                    "sha256": SHA256,
                                    "size": {"type": "integer"},
                                    "content_type": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "paths": {
            "/enrollments": {
                "post": {
                    "summary": "A new kiosk asks to join and gets a pairing code to show on its screen",
                    "security": [],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string", "maxLength": 120}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "required": ["id", "secret", "pairing_code", "expires_at"],
                                "properties": {
                                    "id": UUID,
                                    "secret": {"type": "string"},
                                    "pairing_code": {"type": "string"},
                                    "expires_at": {"type": "string", "format": "date-time"},
                                    "poll_seconds": {"type": "integer"},
                                },
                            },
                            "enrollment made",
                        ),
                        **json_body_errors(ENROLLMENT_BODY_BYTES),
                        "429": {"description": "too many enrollments from this address"},
                    },
                }
            },
            "/enrollments/{enrollment_id}": {
                "get": {
                    "summary": "Poll: 202 while waiting, 200 with the token once approved (handed out once)",
                    "security": [],
                    "parameters": [
                        {
                            "name": "enrollment_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Enrollment-Secret",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["kiosk_id", "token", "branch", "sealing_key"],
                                "properties": {
                                    "status": {"const": "approved"},
                                    "kiosk_id": {"type": "integer"},
                                    "token": {"type": "string"},
                                    "branch": {"type": "object"},
                                    "sealing_key": SEALING_KEY,
                                },
                            },
                            "approved: the kiosk's token",
                        ),
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"const": "waiting"},
                                    "pairing_code": {"type": "string"},
                                },
                            },
                            "waiting for staff to type the code",
                        ),
                        "404": _error("unknown enrollment or wrong secret"),
                        "410": _error("expired, or the token was already handed out"),
                    },
                }
            },
            "/config": {
                "get": {
                    "summary": "What this kiosk shows, with every media file's sha256 and size",
                    "parameters": [
                        {
                            "name": "If-None-Match",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Config"}, "the configuration"),
                        "304": {"description": "unchanged since the given ETag"},
                        **UNAUTHORIZED,
                    },
                }
            },
            "/media/{sha256}": {
                "get": {
                    "summary": "A question video, subtitles, pictogram or spoken label; Range works",
                    "parameters": [
                        {"name": "sha256", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "the file", "content": {"*/*": {}}},
                        "206": {"description": "part of the file", "content": {"*/*": {}}},
                        "304": {"description": "unchanged"},
                        "404": _error("no such question media"),
                        "416": {
                            "description": "range not satisfiable, or several ranges in one request "
                            "(multi-range is not served: ask for one range at a time)"
                        },
                        **UNAUTHORIZED,
                    },
                }
            },
            "/sessions/{session_uuid}": {
                "put": {
                    "summary": "One visitor's pass: same body again 200; another body 409; media missing 409",
                    "parameters": [{"name": "session_uuid", "in": "path", "required": True, "schema": UUID}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}},
                    },
                    "responses": {
                        "201": _json(
                            {"type": "object", "properties": {"uuid": UUID, "stored": {"const": True}}},
                            "stored",
                        ),
                        "200": _json(
                            {"type": "object", "properties": {"uuid": UUID, "stored": {"const": True}}},
                            "stored before with the same body",
                        ),
                        **json_body_errors(SESSION_BODY_BYTES),
                        "409": _error("another body under this uuid, or media not uploaded (see missing)"),
                        "422": _error(
                            "the session does not fit its questionnaire: among others, an answer's value "
                            "not one of its question's option values (a string), a question answered "
                            "twice, more answers than the version has questions, or an answer naming media "
                            "that is not a recording this kiosk uploaded; nothing is stored"
                        ),
                        "503": _error("busy with other sessions; send it again after Retry-After seconds"),
                        **UNAUTHORIZED,
                    },
                }
            },
            "/heartbeat": {
                "post": {
                    "summary": "The kiosk's health: version, uptime, outbox, disk, camera and microphone",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "app_version": {"type": "string"},
                                        "uptime_seconds": {"type": "number"},
                                        "outbox_depth": {"type": "integer"},
                                        "oldest_unsent_at": {"type": ["string", "null"]},
                                        "disk_free_bytes": {"type": "integer"},
                                        "camera_ok": {"type": "boolean"},
                                        "microphone_ok": {"type": "boolean"},
                                        "camera_message": {
                                            "type": "string",
                                            "description": "why the camera does not work (≤ 200)",
                                        },
                                        "microphone_message": {
                                            "type": "string",
                                            "description": "why the microphone does not work (≤ 200)",
                                        },
                                        "config_etag": {
                                            "type": "string",
                                            "description": "the ETag of the configuration the kiosk runs",
                                        },
                                        "clock": {
                                            "type": "string",
                                            "format": "date-time",
                                            "description": "the kiosk's clock; staff see how far it is off",
                                        },
                                        "recorder_profile": {
                                            "type": "string",
                                            "description": "the recording profile this kiosk measured, "
                                            "e.g. '720p-veryfast: libx264 veryfast 1280×720, 4.2× real time'",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"ok": {"const": True}},
                            },
                            "noted (a kiosk notices a new configuration by GET /config with If-None-Match)",
                        ),
                        **json_body_errors(HEARTBEAT_BODY_BYTES),
                        **UNAUTHORIZED,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                }
            },
            "/uploads": {
                "options": {
                    "summary": "tus capabilities",
                    "security": [],
                    "responses": {
                        "204": {"description": "tus 1.0.0 with creation, checksum, termination, expiration"}
                    },
                },
                "post": {
                    "summary": "tus creation: announce a recording (Upload-Length, Upload-Metadata)",
                    "parameters": [
                        _tus_header("Tus-Resumable", {"type": "string"}),
                        _tus_header("Upload-Length", {"type": "string"}),
                        _tus_header("Upload-Metadata", {"type": "string", "description": UPLOAD_METADATA}),
                    ],
                    "responses": {
                        "201": {"description": "created; Location names the upload", "headers": TUS_HEADERS},
                        "400": {"description": "bad headers"},
                        "412": {"description": "wrong tus version"},
                        "413": {"description": "too large"},
                        "415": {"description": "not video/mp4 or audio/mp4"},
                        "507": {"description": "the server's disk is full; try again later"},
                        **UNAUTHORIZED,
                    },
                },
            },
            "/uploads/{upload_id}": {
                "head": {
                    "summary": "tus: how much the server has",
                    "parameters": [UPLOAD_ID, TUS_VERSION],
                    "responses": {
                        "200": {"description": "Upload-Offset, Upload-Length, Upload-Metadata as sent"},
                        **_status(
                            "404",
                            "unknown upload",
                            "410",
                            "expired",
                            "412",
                            "wrong tus version",
                            "423",
                            "another request is writing; retry",
                        ),
                        **UNAUTHORIZED,
                    },
                },
                "patch": {
                    "summary": "tus: the next chunk (Upload-Offset, optional Upload-Checksum)",
                    "parameters": [UPLOAD_ID, TUS_VERSION, _tus_header("Upload-Offset", {"type": "string"})],
                    "requestBody": offset_body(required=True),
                    "responses": {
                        "204": {"description": "stored and fsynced; the new Upload-Offset"},
                        **PATCH_ERRORS,
                        **UNAUTHORIZED,
                    },
                },
                "post": {
                    "summary": "tus X-HTTP-Method-Override: PATCH, HEAD or DELETE for clients that only POST",
                    "parameters": [
                        UPLOAD_ID,
                        TUS_VERSION,
                        _tus_header("X-HTTP-Method-Override", {"enum": ["PATCH", "HEAD", "DELETE"]}),
                    ],
                    "requestBody": offset_body(required=False),
                    "responses": {
                        "200": {"description": "as HEAD"},
                        "204": {"description": "as PATCH or DELETE"},
                        **PATCH_ERRORS,
                        **_status("405", "no or an unknown method override"),
                        **UNAUTHORIZED,
                    },
                },
                "delete": {
                    "summary": "tus termination",
                    "parameters": [UPLOAD_ID, TUS_VERSION],
                    "responses": {
                        "204": {"description": "gone"},
                        **_status(
                            "404",
                            "unknown upload",
                            "412",
                            "wrong tus version",
                            "423",
                            "another request is writing; retry",
                        ),
                        **UNAUTHORIZED,
                    },
                },
            },
        },
    }
