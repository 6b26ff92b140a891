"""One rate limiter: fixed windows counted in the Django cache (Redis in every environment).

A ``FixedWindow`` counts events per key in windows of ``window`` seconds and refuses once a
key has ``limit`` of them. Counting is an atomic ``INCR`` (``cache.add`` then
``cache.incr``), so concurrent requests cannot both slip under the limit on one count. The
cache's key function (django-tenants' ``make_key``) prefixes every key with the schema, so
one tenant's counters never count, or block, another's. With the cache down counting fails
open: nothing is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class FixedWindow:
    name: str
    limit: int
    window: int

    def _key(self, key: str) -> str:
        return f"ratelimit:{self.name}:{key}:{int(time.time() // self.window)}"

    def retry_after(self) -> int:
        """Seconds until the current window ends (at least 1)."""
        return max(1, int(self.window - time.time() % self.window))

    def count(self, key: str) -> int:
        return int(cache.get(self._key(key)) or 0)

    def counts(self, keys: list[str]) -> dict[str, int]:
        names = {self._key(key): key for key in keys}
        found = cache.get_many(list(names))
        return {names[name]: int(value) for name, value in found.items()}

    def exceeded(self, key: str) -> bool:
        """Whether ``key`` has used up this window (without counting a new event)."""
        return self.count(key) >= self.limit

    def hit(self, key: str) -> int:
        """Count one event for ``key``; returns the count so far in this window, or 0 when
        the cache is unavailable (fail open)."""
        name = self._key(key)
        cache.add(name, 0, timeout=self.window + 1)
        try:
            return int(cache.incr(name))
        except ValueError:  # expired in between, or the cache is down: fail open
            return 0

    def allow(self, key: str) -> bool:
        """Count one event and say whether it is within the limit (atomic check-and-count)."""
        return self.hit(key) <= self.limit

    def reset(self, key: str) -> None:
        cache.delete(self._key(key))
