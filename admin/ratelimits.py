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
from collections.abc import Callable

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
    return _counted(limit, keys, _wait)


def waiting(limit: RateLimitItem, *keys: str) -> int:
    """Seconds to wait if ``limit`` is used up under ``keys``, else 0; counts nothing (for limits
    that count failures only, after the fact, with ``hit``)."""
    return _counted(limit, keys, _peek)


Check = Callable[[RateLimiter, RateLimitItem, tuple[str, ...]], int]


def _counted(limit: RateLimitItem, keys: tuple[str, ...], check: Check) -> int:
    if not limiter.enabled:
        return 0
    try:
        return check(limiter.limiter, limit, keys)
    except Exception:  # the storage (Redis) is away: count in this worker, as Flask-Limiter does
        log.warning("rate-limit storage unreachable; %s counted in this worker's memory", keys[0])
        return check(_in_memory(), limit, keys)


def _wait(strategy: RateLimiter, limit: RateLimitItem, keys: tuple[str, ...]) -> int:
    if strategy.hit(limit, *keys):
        return 0
    return _until_reset(strategy, limit, keys)


def _peek(strategy: RateLimiter, limit: RateLimitItem, keys: tuple[str, ...]) -> int:
    if strategy.test(limit, *keys):
        return 0
    return _until_reset(strategy, limit, keys)


def _until_reset(strategy: RateLimiter, limit: RateLimitItem, keys: tuple[str, ...]) -> int:
    reset_at, _remaining = strategy.get_window_stats(limit, *keys)
    return max(1, math.ceil(reset_at - time.time()))


@functools.cache
def _in_memory() -> RateLimiter:
    """Flask-Limiter's strategy over this worker's memory: its own fallback switches on only when
    one of its decorated limits fails, which these hand-checked limits would never trigger."""
    strategy: RateLimiter = type(limiter.limiter)(MemoryStorage())
    return strategy
