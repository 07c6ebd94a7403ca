"""Counting failures per client in the cache, to slow down guessing.

A fixed window: the first failure opens it for ``window_s`` seconds; at ``limit``
failures the client is refused until the window closes. The cache must be shared by
every web process (CACHE_URL=redis://... in production) for the count to be global.
"""

from django.core.cache import cache


def _key(scope: str, client: str) -> str:
    return f"throttle:{scope}:{client}"


def failures_exceeded(*, scope: str, client: str, limit: int) -> bool:
    return int(cache.get(_key(scope, client), 0)) >= limit


def failure_record(*, scope: str, client: str, window_s: int) -> int:
    """Count one failure; returns the count in the current window."""
    key = _key(scope, client)
    if cache.add(key, 1, timeout=window_s):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window closed between add and incr
        cache.add(key, 1, timeout=window_s)
        return 1
