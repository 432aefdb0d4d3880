"""Two-step sign-in with time-based one-time codes (TOTP, RFC 6238), as authenticator apps make them.

Pure helpers: a new secret, the link and QR code an app reads, and which time step a code belongs
to. Whether a step was already used is the account's business (operations.py).
"""

from __future__ import annotations

import re
import time

import pyotp
import segno

ISSUER = "Vertelpaal"
# Codes of the step before and after the current one are accepted too: phone clocks drift.
DRIFT_STEPS = 1
_CODE = re.compile(r"\d{6}")


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_code_data_uri(uri: str) -> str:
    """The link as a QR code in an SVG data: URI, so the page needs no request of its own."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """The secret in groups of four for typing it over into an app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def step_of(code: str, secret: str, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for (near ``now``), or None when it matches none."""
    code = re.sub(r"\s", "", code)
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(time.time() if now is None else now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            return step
    return None
