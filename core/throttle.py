"""Counting failures per client in the cache, to slow down guessing.

A fixed window: the first failure opens it for ``window_s`` seconds; at ``limit``
failures the client is refused until the window closes. The cache must be shared by
every web process (CACHE_URL=redis://... in production) for the count to be global.

The count fails open: while the cache server is down nobody is refused and nothing is
counted (a warning is logged), since a throttle must not turn a cache outage into every
subject's requests failing.
"""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

# What the cache backends raise when their server cannot be reached.
CACHE_ERRORS = (OSError, RedisError)

log = logging.getLogger(__name__)


def _key(scope: str, client: str) -> str:
    return f"throttle:{scope}:{client}"


def failures_exceeded(*, scope: str, client: str, limit: int) -> bool:
    try:
        return int(cache.get(_key(scope, client), 0)) >= limit
    except CACHE_ERRORS as exc:
        log.warning("throttle %s not checked, the cache is unreachable: %s", scope, exc)
        return False


def failure_record(*, scope: str, client: str, window_s: int) -> int:
    """Count one failure; returns the count in the current window (0: not counted)."""
    try:
        return _count(_key(scope, client), window_s)
    except CACHE_ERRORS as exc:
        log.warning("throttle %s not counted, the cache is unreachable: %s", scope, exc)
        return 0


def _count(key: str, window_s: int) -> int:
    if cache.add(key, 1, timeout=window_s):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window closed between add and incr
        cache.add(key, 1, timeout=window_s)
        return 1
