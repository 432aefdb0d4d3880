"""Settings for the admin server, read from the environment.

Every setting has a documented default so that the server runs on embedded defaults (SQLite and a
media folder under ``instance/``). In production (``VERTELPAAL_ENV=production``, the default) a
missing ``SECRET_KEY`` stops start-up with a message that says what to do.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from argon2.profiles import RFC_9106_LOW_MEMORY
from limits import parse as parse_limit


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message tells the operator how to fix it."""


#: name → (default, what it is). The README's settings table is made from this.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "VERTELPAAL_ENV": ("production", "production or development; development allows a built-in SECRET_KEY"),
    "SECRET_KEY": (None, "long random string that signs sessions; required in production"),
    "DATABASE_URL": (None, "SQLAlchemy URL; default sqlite:///<instance>/vertelpaal.sqlite3"),
    "MEDIA_ROOT": (None, "folder for uploaded media; default <instance>/media"),
    "REDIS_URL": (None, "Redis for jobs and rate limits; empty means inline jobs and in-memory limits"),
    "SESSION_IDLE_MINUTES": ("30", "staff sessions end after this many minutes without a request"),
    "SESSION_ABSOLUTE_HOURS": ("12", "staff sessions end this many hours after signing in, however busy"),
    "KIOSK_RATE_LIMIT_PER_TOKEN": ("1200 per minute", "kiosk API requests one kiosk token may make"),
    "KIOSK_RATE_LIMIT_PER_ADDRESS": (
        "6000 per minute",
        "kiosk API requests from one address (a library's kiosks may share one NAT address)",
    ),
    "TRUSTED_PROXIES": ("0", "proxies in front that set X-Forwarded-For (1 behind nginx); 0: none"),
    "MAX_UPLOAD_MB": ("200", "largest upload from a staff page, in MB"),
    "MAX_RECORDING_MB": ("300", "largest answer recording a kiosk may upload, in MB"),
    "UPLOAD_EXPIRY_HOURS": ("48", "an unfinished kiosk upload is deleted after this many hours"),
    "MAX_TUS_CHUNK_MB": ("64", "largest tus PATCH a kiosk may send (its upload_chunk_kb goes up to 64 MiB)"),
    "KIOSK_BODY_SECONDS": ("20", "a kiosk's session or heartbeat must arrive whole within this many seconds"),
    "UPLOAD_READ_TIMEOUT_SECONDS": ("60", "a kiosk silent this long in the middle of a chunk is dropped"),
    "ORPHAN_RECORDING_HOURS": (
        "48",
        "a kiosk's finished upload that no session answers with is deleted after this many hours",
    ),
    # The consent video tells visitors 30 days (media/make_media.py): change both together.
    "RETENTION_RECORDING_DAYS": (
        "30",
        "video and voice answers are deleted after this many days until an admin saves the Privacy page",
    ),
    "MEDIA_ACCEL_REDIRECT": (
        None,
        "e.g. /protected-media/: nginx sends media files after the app checked access",
    ),
    "KIOSK_SEALING_KEY_FILE": (
        None,
        "private keys (0600) that open kiosks' sealed recordings; default <instance>/kiosk-sealing.key",
    ),
}

DEVELOPMENT_SECRET = "development-only-secret-do-not-use-in-production"


def from_environment(instance_path: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or SETTINGS[name][0]

    mode = get("VERTELPAAL_ENV")
    if mode not in ("production", "development"):
        raise ConfigError(f"VERTELPAAL_ENV must be 'production' or 'development', not {mode!r}.")
    production = mode == "production"

    secret = get("SECRET_KEY")
    if secret is None:
        if production:
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random string, for example the output of\n"
                "  python3 -c 'import secrets; print(secrets.token_hex(32))'\n"
                "or set VERTELPAAL_ENV=development for a local try-out."
            )
        secret = DEVELOPMENT_SECRET

    for name in ("KIOSK_RATE_LIMIT_PER_TOKEN", "KIOSK_RATE_LIMIT_PER_ADDRESS"):
        try:
            parse_limit(get(name) or "")
        except ValueError:
            raise ConfigError(f"{name} must read like '1200 per minute', not {get(name)!r}.") from None

    database_url = get("DATABASE_URL") or "sqlite:///" + str(Path(instance_path) / "vertelpaal.sqlite3")
    media_root = get("MEDIA_ROOT") or str(Path(instance_path) / "media")

    return {
        "VERTELPAAL_ENV": mode,
        "PRODUCTION": production,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MEDIA_ROOT": media_root,
        "REDIS_URL": get("REDIS_URL"),
        "MEDIA_ACCEL_REDIRECT": get("MEDIA_ACCEL_REDIRECT"),
        "KIOSK_SEALING_KEY_FILE": get("KIOSK_SEALING_KEY_FILE")
        or str(Path(instance_path) / "kiosk-sealing.key"),
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=int(get("SESSION_IDLE_MINUTES") or 30)),
        "SESSION_ABSOLUTE_LIFETIME": timedelta(hours=float(get("SESSION_ABSOLUTE_HOURS") or 12)),
        "MAX_CONTENT_LENGTH": int(get("MAX_UPLOAD_MB") or 200) * 1024 * 1024,
        "KIOSK_RATE_LIMIT_PER_TOKEN": get("KIOSK_RATE_LIMIT_PER_TOKEN"),
        "KIOSK_RATE_LIMIT_PER_ADDRESS": get("KIOSK_RATE_LIMIT_PER_ADDRESS"),
        "TRUSTED_PROXIES": int(get("TRUSTED_PROXIES") or 0),
        "RATELIMIT_HEADERS_ENABLED": True,  # a refused client is told when to come back (Retry-After)
        # Redis away: count in each worker's memory meanwhile rather than fail every request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "MAX_RECORDING_MB": int(get("MAX_RECORDING_MB") or 300),
        "UPLOAD_EXPIRY_HOURS": float(get("UPLOAD_EXPIRY_HOURS") or 48),
        "MAX_TUS_CHUNK_MB": int(get("MAX_TUS_CHUNK_MB") or 64),
        "KIOSK_BODY_SECONDS": float(get("KIOSK_BODY_SECONDS") or 20),
        "UPLOAD_READ_TIMEOUT_SECONDS": float(get("UPLOAD_READ_TIMEOUT_SECONDS") or 60),
        "ORPHAN_RECORDING_HOURS": float(get("ORPHAN_RECORDING_HOURS") or 48),
        "RETENTION_RECORDING_DAYS": int(get("RETENTION_RECORDING_DAYS") or 30),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        # __Host- cookies are refused by browsers unless Secure, Path=/ and without Domain: the
        # session can be neither set by a sibling host nor sent over plain HTTP. Development keeps
        # the plain name, as http://127.0.0.1 cannot keep a Secure cookie.
        "SESSION_COOKIE_NAME": "__Host-vertelpaal" if production else "vertelpaal",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "REMEMBER_COOKIE_SECURE": production,
        "SESSION_REFRESH_EACH_REQUEST": True,
        # Not read from the environment, so no deployment can weaken it; only the tests lower it.
        "PASSWORD_HASH_PARAMETERS": RFC_9106_LOW_MEMORY,
    }
