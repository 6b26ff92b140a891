"""The login throttle: each attempt is reserved before the password is checked.

One ``tally`` (a single atomic Redis script, ``kernel.ratelimit``) counts the attempt in
every window at once and returns the counts; the password is verified only when all of them
are within their limits, so N concurrent guesses verify at most the limit, never "check,
verify, then count". A refused reservation is taken back at once (it verified nothing); a
successful sign-in takes its reservation back too and clears its (user name, IP) window, so
the windows count failures. Limits (``GATEHOUSE["LOGIN_THROTTLE"]``, per ``WINDOW_SECONDS``):

- ``USER_IP_ATTEMPTS`` per (user name, client IP) in this tenant: the hard limit, then 429
  until the window ends. Keyed on the pair, a stranger guessing a known admin's password
  locks out only themselves.
- ``USER_ATTEMPTS`` per user name from anywhere in this tenant; past it, the name is slowed
  rather than locked: one attempt per ``USER_SLOW_SECONDS`` (429 with that wait), so a
  botnet spread over many addresses gets a trickle of guesses, and the real user waits
  seconds, not the window.
- ``IP_ATTEMPTS`` per client IP in this tenant (spraying many names).
- ``PLATFORM_IP_ATTEMPTS`` per client IP across every tenant: an address throttled at one
  tenant does not start afresh at the next.

Counting is by the submitted user name whether or not such a user exists, so the answer
never tells which names are real, and an unknown name costs the same Argon2 work as a known
one (Django's ``authenticate``), spent only once the attempt was admitted. Tenant windows are
keyed through django-tenants' ``make_key`` (schema-prefixed); the platform window is not.
With Redis down every count reads 0 and the throttle fails open, as every limit here does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kernel import credentials
from kernel.conf import setting
from kernel.ratelimit import FixedWindow, tally


@dataclass(frozen=True)
class Attempt:
    """A reserved sign-in attempt: the counters it was counted in, when, and the wait
    (seconds) when it was refused (``admitted`` is then False)."""

    counted: tuple[tuple[FixedWindow, str], ...]
    at: float
    retry_after: int = 0

    @property
    def admitted(self) -> bool:
        return self.retry_after == 0


def _user_key(username: str) -> str:
    return credentials.digest(username.strip().lower())


def _windows(username: str, ip: str) -> list[tuple[FixedWindow, str]]:
    """The pair, per-IP and platform-wide per-IP windows (hard), then the user name's."""
    limits = setting("LOGIN_THROTTLE")
    window = int(limits["WINDOW_SECONDS"])
    user = _user_key(username)
    platform_ip = FixedWindow(
        "login:ip", int(limits["PLATFORM_IP_ATTEMPTS"]), window, platform_wide=True
    )
    return [
        (FixedWindow("login:user-ip", int(limits["USER_IP_ATTEMPTS"]), window), f"{user}:{ip}"),
        (FixedWindow("login:ip", int(limits["IP_ATTEMPTS"]), window), ip),
        (platform_ip, ip),
        (FixedWindow("login:user", int(limits["USER_ATTEMPTS"]), window), user),
    ]


def _slow_lane(username: str) -> tuple[FixedWindow, str]:
    seconds = max(1, int(setting("LOGIN_THROTTLE")["USER_SLOW_SECONDS"]))
    return FixedWindow("login:user-slow", 1, seconds), _user_key(username)


def reserve(*, username: str, ip: str) -> Attempt:
    """Count one attempt for ``username`` from ``ip`` in every window (one atomic round
    trip) and say whether it may be verified; a refused attempt is taken back at once."""
    at = time.time()
    windows = _windows(username, ip)
    counts = tally([(window, key, 1) for window, key in windows], at=at)
    hard = [
        window
        for (window, _), count in zip(windows[:3], counts[:3], strict=True)
        if count > window.limit
    ]
    wait = max((window.retry_after() for window in hard), default=0)
    if not wait and counts[3] > windows[3][0].limit:
        slow, key = _slow_lane(username)
        if tally([(slow, key, 1)], at=at)[0] > slow.limit:
            wait = slow.retry_after()
    if wait:
        tally([(window, key, -1) for window, key in windows], at=at)
        return Attempt(counted=(), at=at, retry_after=wait)
    return Attempt(counted=tuple(windows), at=at)


def succeeded(attempt: Attempt) -> None:
    """The password was right: the attempt no longer counts, and the (user name, IP)
    window starts afresh (the other windows keep the failures they hold)."""
    if not attempt.counted:
        return
    pair_window, pair_key = attempt.counted[0]
    pair_count = tally([(pair_window, pair_key, 0)], at=attempt.at)[0]
    tally(
        [(pair_window, pair_key, -pair_count)]
        + [(window, key, -1) for window, key in attempt.counted[1:]],
        at=attempt.at,
    )
