"""One rate limiter: fixed windows counted in the Django cache (Redis in every environment).

A ``FixedWindow`` counts events per key in windows of ``window`` seconds and refuses once a
key has ``limit`` of them. Counting is an atomic ``INCR`` (``cache.add`` then
``cache.incr``), so concurrent requests cannot both slip under the limit on one count. The
cache's key function (django-tenants' ``make_key``) prefixes every key with the schema, so
one tenant's counters never count, or block, another's. With the cache down counting fails
open: nothing is refused.

``tally`` counts several windows at once in one Redis round trip (a script of
``INCRBY``/``EXPIRE`` pairs), for request paths that check several limits per request
(``oauth.ratelimits``). Each ``INCRBY`` is atomic, so a limit checked on its result is
check-and-count in one step, never check-then-increment. A fixed window lets a client spend
up to twice its limit across a window boundary; limits meant never to be hit by normal
traffic make that acceptable for one cheap round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


#: Prefix of platform-wide counters' Redis keys. Tenant keys start with the schema name
#: (django-tenants' ``make_key``), which cannot contain ``@``, so the two never meet.
PLATFORM_PREFIX = "@platform"


@dataclass(frozen=True)
class FixedWindow:
    """``limit`` events per key per ``window`` seconds. ``platform_wide`` windows count
    across every tenant (``tally`` only): one key for the whole platform, not per schema."""

    name: str
    limit: int
    window: int
    platform_wide: bool = False

    def _key(self, key: str, at: float | None = None) -> str:
        now = time.time() if at is None else at
        return f"ratelimit:{self.name}:{key}:{int(now // self.window)}"

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


#: After a failed round trip, ``tally`` skips Redis for this long (fails open at once)
#: rather than paying a connect timeout on every request while Redis is down.
COOL_DOWN_SECONDS = 5.0


class _Availability:
    down_until = 0.0


def reset_availability() -> None:
    """Try Redis again on the next ``tally`` (tests that stop and restart it)."""
    _Availability.down_until = 0.0


def tally(changes: Sequence[tuple[FixedWindow, str, int]], *, at: float | None = None) -> list[int]:
    """Add ``delta`` to each ``(window, key, delta)`` counter in one round trip and return
    the counts after it, in order: 1 counts an event, -1 takes one back, 0 reads. ``at``
    (a ``time.time()``) names the windows, so taking back an event counted earlier changes
    the window it was counted in.

    On Django's Redis cache this is one round trip, a script doing ``INCRBY key delta``
    + ``EXPIRE`` per counter atomically, on the same keys (``make_key``, so
    tenant-prefixed) that ``FixedWindow.count`` reads. Django's cache API has no scripts,
    so the Redis client is taken from the backend (``RedisCache._cache``, Django's private
    client holder); any other backend counts key by key. With the cache unavailable every
    count is 0 (fail open), and Redis is skipped for ``COOL_DOWN_SECONDS``. A
    ``platform_wide`` window's key bypasses the key function (no schema prefix); on a
    non-Redis backend it is counted per schema like the others.
    """
    if not changes:
        return []
    if time.monotonic() < _Availability.down_until:
        return [0] * len(changes)
    backend = caches[DEFAULT_CACHE_ALIAS]
    try:
        if isinstance(backend, RedisCache):
            return _tally_redis(backend, changes, at)
        return [_tally_one(window._key(key, at), window, delta) for window, key, delta in changes]
    except Exception as exc:  # the client library's errors: the kernel imports no Redis
        _Availability.down_until = time.monotonic() + COOL_DOWN_SECONDS
        logger.warning("rate-limit counters unavailable, not limiting: %s", type(exc).__name__)
        return [0] * len(changes)


#: ``tally`` as one server-side script: INCRBY + EXPIRE per key, the counts back. One
#: EVALSHA is one small command (a client-side pipeline costs more to build in redis-py than
#: the round trip it saves), and Redis runs it atomically.
_TALLY_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCRBY', key, ARGV[2 * i - 1])
  redis.call('EXPIRE', key, ARGV[2 * i])
end
return counts
"""


class _Script:
    tally = None  # redis-py's Script (EVALSHA, loading the script on NOSCRIPT), made once
    #: Django's ``get_client`` builds a new redis-py client per call (~0.3 ms of Python, more
    #: than the round trip); one client per connection pool is kept instead (thread-safe).
    pool = None
    client = None


def _client(backend: RedisCache):
    pool = backend._cache._get_connection_pool(write=True)
    if _Script.pool is not pool:
        _Script.client, _Script.pool = backend._cache._client(connection_pool=pool), pool
    return _Script.client


def _names_and_args(backend: RedisCache, changes, at: float | None) -> tuple[list, list]:
    names = [
        f"{PLATFORM_PREFIX}:{backend.key_prefix}:{window._key(key, at)}"
        if window.platform_wide
        else backend.make_and_validate_key(window._key(key, at))
        for window, key, _ in changes
    ]
    # The key names its window, so refreshing the expiry on each change never keeps a count
    # alive past its window (plus a second of clock skew).
    args = [part for window, _, delta in changes for part in (delta, window.window + 1)]
    return names, args


def _tally_redis(backend: RedisCache, changes, at: float | None) -> list[int]:
    names, args = _names_and_args(backend, changes, at)
    client = _client(backend)
    if _Script.tally is None:
        _Script.tally = client.register_script(_TALLY_LUA)
    counts = _Script.tally(keys=names, args=args, client=client)
    return [max(0, int(count)) for count in counts]


class PendingTally:
    """A ``tally`` sent to Redis whose answer is read later (``counts()``), so the round
    trip overlaps the caller's own work. Until ``counts()`` is called it holds one
    connection of the pool; call it exactly once (a ``finally`` is the place)."""

    def __init__(self, counts=None, *, connection=None, pool=None, retry=None, size=0):
        self._counts, self._connection, self._pool = counts, connection, pool
        self._retry, self._size = retry, size

    def counts(self) -> list[int]:
        if self._counts is not None:
            return self._counts
        connection, self._connection = self._connection, None
        try:
            reply = connection.read_response()
        except Exception as exc:  # NOSCRIPT after a Redis restart, or Redis gone
            connection.disconnect()
            self._counts = self._retry(exc)
        else:
            self._counts = [max(0, int(count)) for count in reply]
        finally:
            self._pool.release(connection)
        return self._counts


def tally_begin(
    changes: Sequence[tuple[FixedWindow, str, int]], *, at: float | None = None
) -> PendingTally:
    """``tally(changes, at=at)``, with the answer read when ``counts()`` is called: the same
    script on the same keys (one atomic ``EVALSHA``), sent now on a connection taken from
    the pool. Any failure (sending, or reading the answer) falls back to ``tally`` itself,
    which fails open as it always does."""
    if not changes or time.monotonic() < _Availability.down_until:
        return PendingTally(tally(changes, at=at))
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache) or _Script.tally is None:
        return PendingTally(tally(changes, at=at))  # the first call loads the script
    try:
        names, args = _names_and_args(backend, changes, at)
        pool = backend._cache._get_connection_pool(write=True)
        connection = pool.get_connection()
    except Exception:
        return PendingTally(tally(changes, at=at))
    try:
        connection.send_command("EVALSHA", _Script.tally.sha, len(names), *names, *args)
    except Exception:
        connection.disconnect()
        pool.release(connection)
        return PendingTally(tally(changes, at=at))
    return PendingTally(
        connection=connection,
        pool=pool,
        retry=lambda exc: tally(changes, at=at),
        size=len(changes),
    )


def _tally_one(name: str, window: FixedWindow, delta: int) -> int:
    cache.add(name, 0, timeout=window.window + 1)
    try:
        return max(0, int(cache.incr(name, delta)))
    except ValueError:
        return 0
