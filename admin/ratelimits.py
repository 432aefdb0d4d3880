"""Rate limits checked by hand where a decorator cannot say it: per kiosk token, per address.

They count in Flask-Limiter's own storage (Redis from REDIS_URL, shared by every worker; else
memory, per worker process) with its strategy, so they obey RATELIMIT_ENABLED like the rest.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from limits import RateLimitItem, parse

from admin.extensions import limiter

log = logging.getLogger(__name__)


@functools.cache
def parse_limit(text: str) -> RateLimitItem:
    return parse(text)


def hit(limit: RateLimitItem, *keys: str) -> int:
    """Count one request under ``keys``; 0 if it is within ``limit``, else seconds to wait."""
    if not limiter.enabled:
        return 0
    try:
        if limiter.limiter.hit(limit, *keys):
            return 0
        reset_at, _remaining = limiter.limiter.get_window_stats(limit, *keys)
    except Exception:  # the storage (Redis) is away: kiosks keep syncing rather than all failing
        log.warning("rate-limit storage unreachable; %s not counted", keys[0], exc_info=True)
        return 0
    return max(1, math.ceil(reset_at - time.time()))
