"""The one clock that stamps camera frames and microphone blocks.

Audio and video stay in sync only because both are stamped from the same clock, so every
timestamp in this package comes from :func:`now`. It is monotonic: it never jumps when NTP
or a user changes the wall clock in the middle of a recording.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds on the shared monotonic clock (only differences are meaningful)."""
    return time.monotonic()


def wall_now() -> datetime:
    """The time of day (aware, UTC): which questionnaire applies follows it. Not for recordings."""
    return datetime.now(UTC)
