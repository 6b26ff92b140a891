"""A Redis cache that fails open: with Redis down, reads miss and writes are dropped.

Nothing on the request path may break or slow down because the cache is gone. After a
failure the backend skips Redis for a short cool-down instead of paying a connect timeout on
every call; the first call after it tries again.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

COOL_DOWN_SECONDS = 5.0


class FailOpenRedisCache(RedisCache):
    _down_until = 0.0

    def _guard(self, default, method, *args, **kwargs):
        if time.monotonic() < FailOpenRedisCache._down_until:
            return default
        try:
            return method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            FailOpenRedisCache._down_until = time.monotonic() + COOL_DOWN_SECONDS
            logger.warning("cache unavailable, continuing without it: %s", exc.__class__.__name__)
            return default

    def get(self, key, default=None, version=None):
        return self._guard(default, super().get, key, default, version)

    def set(self, key, value, timeout=None, version=None):  # noqa: A003
        return self._guard(None, super().set, key, value, timeout, version)

    def add(self, key, value, timeout=None, version=None):
        return self._guard(False, super().add, key, value, timeout, version)

    def touch(self, key, timeout=None, version=None):
        return self._guard(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._guard(False, super().delete, key, version)

    def get_many(self, keys, version=None):
        return self._guard({}, super().get_many, keys, version)

    def set_many(self, data, timeout=None, version=None):
        return self._guard(list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._guard(None, super().delete_many, keys, version)

    def has_key(self, key, version=None):
        return self._guard(False, super().has_key, key, version)

    def incr(self, key, delta=1, version=None):
        # A missing counter raises ValueError in Django's API; with Redis down there is no
        # counter either, so callers handle both the same way.
        if time.monotonic() < FailOpenRedisCache._down_until:
            raise ValueError("cache unavailable")
        try:
            return super().incr(key, delta, version)
        except (RedisError, OSError) as exc:
            FailOpenRedisCache._down_until = time.monotonic() + COOL_DOWN_SECONDS
            raise ValueError("cache unavailable") from exc

    def clear(self):
        return self._guard(False, super().clear)
