"""Counting requests per key in a fixed window, in the shared cache (Redis in production), so that a flood of
password-reset or invitation emails stops after a few."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache
from django.utils import timezone


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int


def _key(limit: Limit, key: str) -> tuple[str, int]:
    window = int(time.time()) // limit.seconds
    return f"throttle:{limit.name}:{key}:{window}", window


def _end_of(limit: Limit, window: int) -> datetime:
    return timezone.localtime(datetime.fromtimestamp((window + 1) * limit.seconds, tz=UTC))


def exceeded(limit: Limit, key: str) -> datetime | None:
    """Without counting: None while `key` is within the limit, else when the window ends."""
    cache_key, window = _key(limit, key)
    return _end_of(limit, window) if cache.get(cache_key, 0) >= limit.count else None


def allow(limit: Limit, key: str) -> datetime | None:
    """Count one request for `key`; None while under the limit, else when the window ends."""
    cache_key, window = _key(limit, key)
    cache.add(cache_key, 0, timeout=limit.seconds + 60)
    try:
        seen = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=limit.seconds + 60)
        seen = 1
    if seen <= limit.count:
        return None
    return _end_of(limit, window)
