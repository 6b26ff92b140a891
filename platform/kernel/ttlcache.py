"""One in-process cache with a time to live, for answers that are read on every request
and may be a few seconds stale (Host -> tenant, a tenant's issuer policy).

Misses can be cached too (``None`` is a value), so a flood of unknown keys cannot turn into
a flood of queries. The cache is bounded: when it holds ``max_entries`` it starts afresh
rather than grow without limit under a scan of random keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class TTLCache:
    def __init__(self, *, ttl: Callable[[], float], max_entries: int = 10_000) -> None:
        """``ttl`` is read on every write, so a settings change applies at once."""
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value, or ``default`` when it is absent or past its time."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return default

    def set(self, key: Hashable, value: Any) -> None:
        ttl = float(self._ttl())
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + ttl, value)

    def get_or_set(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:  # a cached None is a cached answer
            value = compute()
            self.set(key, value)
        return value

    def delete(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
