"""Start every test with no OAuth endpoint or login rate-limit counts (``oauth.ratelimits``,
``oauth.throttle``).

Every test client comes from 127.0.0.1 and the Redis counters outlive a test, so a suite
full of deliberate wrong secrets would otherwise trip the failed-authentication limits of
later tests.
"""

from __future__ import annotations

from django.core.cache import caches

from kernel.ratelimit import reset_availability


def clear_oauth_counters() -> None:
    backend = caches["default"]
    reset_availability()
    try:
        client = backend._cache.get_client(write=True)
        names = [
            name
            for pattern in ("*ratelimit:oauth:*", "*ratelimit:login:*")
            for name in client.scan_iter(match=pattern, count=1000)
        ]
        if names:
            client.delete(*names)
    except Exception:  # Redis stopped by a fault test: there is nothing to clear
        pass
