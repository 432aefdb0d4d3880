"""Kiosk secrets (bearer tokens, enrollment secrets): made here, stored only as their sha256.

Apart from the kiosk API's package so that enrolling (admin.kiosks) and checking (admin.kiosk_api)
both use them without importing each other's views.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The token has 256 bits of randomness, so a plain hash is enough (no slow KDF needed).
    return hashlib.sha256(secret.encode()).hexdigest()
