"""How long a staff session lasts, and the two-step set-up every admin must finish first.

A session ends after SESSION_IDLE_MINUTES without a request and, however busy, SESSION_ABSOLUTE_HOURS
after signing in. Both times are kept in the (signed) session itself, so the server checks them on
every request and any number of workers agree without shared memory.
"""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
# What an admin without two-step sign-in may still reach: setting it up, and signing out.
SETUP_ENDPOINTS = frozenset({"accounts.two_step_setup", "accounts.logout", "static"})


def clock() -> float:
    """Seconds since the epoch; one place for tests to read what the session code sees."""
    return time.time()


def start() -> None:
    """Called right after login_user: the session's clocks start now."""
    now = int(clock())
    session.permanent = True
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def enforce() -> ResponseReturnValue | None:
    """before_request: end sessions past their limits; keep admins on the two-step set-up."""
    if request.endpoint == "static" or request.blueprint == "kiosk_api":
        return None
    if not current_user.is_authenticated:
        return None
    now = clock()
    signed_in_at = session.get(SIGNED_IN_AT)
    seen_at = session.get(SEEN_AT)
    absolute = current_app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds()
    idle = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    if (
        not isinstance(signed_in_at, int)
        or not isinstance(seen_at, int)
        or now - signed_in_at > absolute
        or now - seen_at > idle
    ):
        logout_user()
        session.clear()
        flash(_("Your session has ended. Please sign in again."), "info")
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("accounts.login", next=back))
    session[SEEN_AT] = int(now)
    if current_user.is_admin and not current_user.totp_secret and request.endpoint not in SETUP_ENDPOINTS:
        return redirect(url_for("accounts.two_step_setup"))
    return None
