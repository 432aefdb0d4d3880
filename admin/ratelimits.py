"""Rate limits checked by hand where a decorator cannot say it: per kiosk token, per address.

They count in Flask-Limiter's own storage (Redis from REDIS_URL, shared by every worker; else
memory, per worker process) with its strategy, so they obey RATELIMIT_ENABLED like the rest. With
Redis away they count in the worker's memory meanwhile.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import RateLimiter

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
        return _wait(limiter.limiter, limit, keys)
    except Exception:  # the storage (Redis) is away: count in this worker, as Flask-Limiter does
        log.warning("rate-limit storage unreachable; %s counted in this worker's memory", keys[0])
        return _wait(_in_memory(), limit, keys)


def _wait(strategy: RateLimiter, limit: RateLimitItem, keys: tuple[str, ...]) -> int:
    if strategy.hit(limit, *keys):
        return 0
    reset_at, _remaining = strategy.get_window_stats(limit, *keys)
    return max(1, math.ceil(reset_at - time.time()))


@functools.cache
def _in_memory() -> RateLimiter:
    """Flask-Limiter's strategy over this worker's memory: its own fallback switches on only when
    one of its decorated limits fails, which these hand-checked limits would never trigger."""
    strategy: RateLimiter = type(limiter.limiter)(MemoryStorage())
    return strategy
