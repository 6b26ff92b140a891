"""Login throttling per user name and per client IP, in the (per-tenant) Django cache.

Fixed windows: at most ``USER_ATTEMPTS`` failed logins per user name and ``IP_ATTEMPTS`` per
IP address in each ``WINDOW_SECONDS``; then 429 with ``Retry-After`` until the window ends.
Counting is by the submitted user name whether or not such a user exists, so the answer
never tells which names are real. The cache key function is django-tenants' ``make_key``,
so counters never cross tenants; with Redis down the cache fails open (no throttling).
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

DEFAULTS = {"USER_ATTEMPTS": 5, "IP_ATTEMPTS": 20, "WINDOW_SECONDS": 300}


def _limits() -> dict[str, int]:
    configured = getattr(settings, "GATEHOUSE", {}).get("LOGIN_THROTTLE", {})
    return {**DEFAULTS, **configured}


def client_ip(request) -> str:
    """The client's IP address. Behind ``GATEHOUSE["TRUSTED_PROXY_COUNT"]`` proxies (an
    ingress), the address that the outermost trusted proxy saw, from X-Forwarded-For;
    otherwise the socket's peer. Without it, every login behind an ingress would share the
    ingress's address and one IP counter."""
    hops = int(getattr(settings, "GATEHOUSE", {}).get("TRUSTED_PROXY_COUNT", 0))
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.META.get("REMOTE_ADDR") or "unknown"


def _keys(*, username: str, ip: str, window: int) -> tuple[str, str]:
    bucket = int(time.time() // window)
    name = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"oauth:login:user:{name}:{bucket}", f"oauth:login:ip:{ip}:{bucket}"


def retry_after(*, username: str, ip: str) -> int | None:
    """Seconds until this user name and IP may try again, or None if they may now."""
    limits = _limits()
    window = limits["WINDOW_SECONDS"]
    user_key, ip_key = _keys(username=username, ip=ip, window=window)
    counts = cache.get_many([user_key, ip_key])
    if (
        counts.get(user_key, 0) >= limits["USER_ATTEMPTS"]
        or counts.get(ip_key, 0) >= limits["IP_ATTEMPTS"]
    ):
        return max(1, int(window - time.time() % window))
    return None


def record_failure(*, username: str, ip: str) -> None:
    window = _limits()["WINDOW_SECONDS"]
    for key in _keys(username=username, ip=ip, window=window):
        cache.add(key, 0, timeout=window + 1)
        try:
            cache.incr(key)
        except ValueError:  # expired in between, or the cache is down: fail open
            pass


def reset_user(*, username: str, ip: str) -> None:
    """A successful login clears the user name's counter (the IP's keeps counting)."""
    user_key, _ = _keys(username=username, ip=ip, window=_limits()["WINDOW_SECONDS"])
    cache.delete(user_key)
