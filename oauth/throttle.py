"""Login throttling per user name and per client IP (``kernel.ratelimit``, per tenant).

Fixed windows: at most ``USER_ATTEMPTS`` failed logins per user name and ``IP_ATTEMPTS`` per
IP address in each ``WINDOW_SECONDS`` (``GATEHOUSE["LOGIN_THROTTLE"]``); then 429 with
``Retry-After`` until the window ends. Counting is by the submitted user name whether or not
such a user exists, so the answer never tells which names are real. The cache key function
is django-tenants' ``make_key``, so counters never cross tenants; with Redis down the cache
fails open (no throttling).
"""

from __future__ import annotations

from kernel import credentials
from kernel.conf import setting
from kernel.ratelimit import FixedWindow


def _windows() -> tuple[FixedWindow, FixedWindow]:
    limits = setting("LOGIN_THROTTLE")
    window = limits["WINDOW_SECONDS"]
    return (
        FixedWindow("login:user", limits["USER_ATTEMPTS"], window),
        FixedWindow("login:ip", limits["IP_ATTEMPTS"], window),
    )


def _user_key(username: str) -> str:
    return credentials.digest(username.strip().lower())


def retry_after(*, username: str, ip: str) -> int | None:
    """Seconds until this user name and IP may try again, or None if they may now."""
    per_user, per_ip = _windows()
    if per_user.exceeded(_user_key(username)) or per_ip.exceeded(ip):
        return per_user.retry_after()
    return None


def record_failure(*, username: str, ip: str) -> None:
    per_user, per_ip = _windows()
    per_user.hit(_user_key(username))
    per_ip.hit(ip)


def reset_user(*, username: str, ip: str) -> None:
    """A successful login clears the user name's counter (the IP's keeps counting)."""
    per_user, _ = _windows()
    per_user.reset(_user_key(username))
