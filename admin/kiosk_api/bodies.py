"""What a kiosk may send in one request: a size per endpoint, a JSON nesting depth, and (under
gunicorn) a deadline for the whole body to arrive. Refusals are JSON like every kiosk API error.

Sizes: a real session is a few kB (twenty answers of ~300 bytes), a heartbeat under 1 kB, an
enrollment request one name. 1 MiB for sessions and heartbeats leaves room for any real
questionnaire and is what nginx lets through for the kiosk API (deploy/ansible/roles/admin/
templates/nginx-vertelpaal.conf.j2); tus chunks have their own limit (MAX_TUS_CHUNK_MB).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from flask import Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from admin.kiosk_api.blueprint import bp

SESSION_BODY_BYTES = 1024 * 1024
HEARTBEAT_BODY_BYTES = 1024 * 1024
ENROLLMENT_BODY_BYTES = 4 * 1024
# Any other kiosk API request (config, media, creating an upload) has no body worth the name.
OTHER_BODY_BYTES = 1024 * 1024
# A session is four levels deep (body, answers, answer, value); Python's parser gives up near
# 1,000 levels with a RecursionError, and every later walk over the body would too.
JSON_DEPTH = 16
# The default of KIOSK_BODY_SECONDS: 1 MiB in 20 s is 400 kbit/s, slower than any library Wi-Fi
# that still carries a kiosk.
BODY_DEADLINE_SECONDS = 20.0


def json_error(message: str, status: int, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@bp.before_request
def _default_body_limit() -> None:
    # Per request: the app's MAX_CONTENT_LENGTH is the staff pages' upload limit (200 MB).
    request.max_content_length = OTHER_BODY_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    limit = request.max_content_length
    return json_error(f"this request body is too large: at most {limit} bytes", 413, limit=limit)


def read_json(limit: int, *, required: bool = True) -> Any:
    """The request's JSON body, read whole before anything else is done with it. Refused (the
    request ends here) when larger than ``limit`` bytes (413), slower than the deadline (408),
    not JSON or nested deeper than ``JSON_DEPTH`` (400). Without ``required``, a missing or
    unreadable body is None."""
    request.max_content_length = limit
    data = read_body()
    if not request.is_json:
        if required:
            abort(json_error("send a JSON object with Content-Type: application/json", 400))
        return None
    try:
        body = json.loads(data)
    except RecursionError:
        abort(json_error(f"JSON nested deeper than {JSON_DEPTH} levels", 400))
    except ValueError:
        if required:
            abort(json_error("send a JSON object", 400))
        return None
    if too_deep(body, JSON_DEPTH):
        abort(json_error(f"JSON nested deeper than {JSON_DEPTH} levels", 400))
    return body


def read_body() -> bytes:
    """The whole body, within ``request.max_content_length`` and KIOSK_BODY_SECONDS."""
    seconds = float(current_app.config.get("KIOSK_BODY_SECONDS", BODY_DEADLINE_SECONDS))
    try:
        with body_deadline(seconds):
            return request.get_data(cache=True)
    except BadRequest as error:
        # Werkzeug reports any failed read as a client that went away; the cause tells them apart.
        if isinstance(error.__context__, TimeoutError):
            abort(json_error(f"the request body did not arrive within {seconds:g} s", 408))
        abort(json_error("the request body ended before its Content-Length", 400))


def too_deep(value: Any, limit: int) -> bool:
    # A loop, not recursion: the point is to never run out of stack on a hostile body.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


@contextmanager
def body_deadline(seconds: float) -> Iterator[None]:
    """Under gunicorn with admin.gunicorn_worker, the socket gives up once ``seconds`` have
    passed, however the client dribbles its bytes (a timeout per read alone would let a byte
    every few seconds hold this thread for hours). Elsewhere (tests, development) nothing changes."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None or not hasattr(sock, "deadline"):
        yield
        return
    previous = sock.deadline
    sock.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        sock.deadline = previous


@contextmanager
def read_timeout(seconds: float) -> Iterator[None]:
    """A timeout per read of the body (a silent client), for bodies too large for a deadline."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:  # another server (tests, development) keeps its own timeouts
        yield
        return
    previous = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        yield
    finally:
        with suppress(OSError):
            sock.settimeout(previous)


def max_chunk_bytes() -> int:
    return int(current_app.config.get("MAX_TUS_CHUNK_MB", 64)) * 1024 * 1024
