"""Rate limits of the kiosk API: per kiosk token and per address, so one stolen token or one host
cannot flood the server, while real kiosks never notice.

Sizing (kiosk/sync.py): a kiosk syncs every 10 s (config, heartbeat: ~15 requests a minute), sends
each session once and each recording as tus chunks of 1 MiB (POST, HEAD, one PATCH per chunk). 1200
a minute per token is 20 requests a second: 1 MiB chunks at 160 Mbit/s, more than a library's
link. A library's kiosks may share one NAT address, and benchmarks run 500 kiosks from 127.0.0.1,
so the per-address limit is higher and a setting (KIOSK_RATE_LIMIT_PER_ADDRESS). With in-memory
storage each gunicorn worker counts on its own; set REDIS_URL for one count per server.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from admin import ratelimits
from admin.kiosk_api.auth import bearer_token
from admin.kiosk_api.blueprint import bp
from admin.kiosks.tokens import hash_secret


@bp.before_request
def _limit_requests() -> ResponseReturnValue | None:
    per_token = ratelimits.parse_limit(current_app.config["KIOSK_RATE_LIMIT_PER_TOKEN"])
    per_address = ratelimits.parse_limit(current_app.config["KIOSK_RATE_LIMIT_PER_ADDRESS"])
    wait = ratelimits.hit(per_address, "kiosk-api-address", request.remote_addr or "unknown")
    token = bearer_token()
    if not wait and token is not None:
        # Keyed by a hash: the storage (maybe Redis) never holds a usable token.
        wait = ratelimits.hit(per_token, "kiosk-api-token", hash_secret(token)[:32])
    return too_many(wait) if wait else None


def too_many(wait_seconds: int) -> ResponseReturnValue:
    response = jsonify({"error": "too many requests; try again later", "retry_after": wait_seconds})
    response.status_code = 429
    response.headers["Retry-After"] = str(wait_seconds)
    return response


@bp.errorhandler(TooManyRequests)
def _too_many_requests(error: TooManyRequests) -> ResponseReturnValue:
    # Flask-Limiter's own limits (e.g. creating enrollments) answer in JSON like the rest of the API.
    wait = 60
    if error.response is not None and error.response.headers.get("Retry-After", "").isdigit():
        wait = int(error.response.headers["Retry-After"])
    return too_many(wait)
