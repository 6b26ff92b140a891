"""Throttling user code guesses on ``/device`` (RFC 8628 §5.1: "the authorization server
SHOULD rate-limit user code attempts").

As ``oauth.throttle`` does for passwords, each attempt is reserved before the code is looked
up: one atomic ``kernel.ratelimit.tally`` counts it in both windows and returns the counts,
so N concurrent guesses look up at most the limit, never "check, look up, then count". An
attempt over a limit is taken back at once (it looked nothing up); one that names a code
that exists is taken back too, so the windows count wrong codes only. Limits
(``GATEHOUSE["DEVICE_FLOW"]``, per ``WINDOW_SECONDS``):

- ``IP_GUESSES`` per client IP in this tenant: a guesser locks out only their own address;
- ``TENANT_GUESSES`` per tenant from anywhere: a guesser spread over many addresses gets at
  most that many tries per window at the tenant's pending codes (with 20^8 codes, about one
  chance in 10^8 per window per pending code), at the price of slowing the tenant's users.

Both windows are keyed through django-tenants' ``make_key`` (schema-prefixed), so one
tenant's guessers never count against another. With Redis down every count reads 0 and
the throttle fails open, as every limit here does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kernel.conf import setting
from kernel.ratelimit import FixedWindow, tally


@dataclass(frozen=True)
class Guess:
    """A reserved user code attempt; ``retry_after`` > 0 when it was refused."""

    counted: tuple[tuple[FixedWindow, str], ...]
    at: float
    retry_after: int = 0

    @property
    def admitted(self) -> bool:
        return self.retry_after == 0


def _windows(ip: str) -> list[tuple[FixedWindow, str]]:
    limits = setting("DEVICE_FLOW")
    window = int(limits["WINDOW_SECONDS"])
    return [
        (FixedWindow("oauth:device:ip", int(limits["IP_GUESSES"]), window), ip),
        (FixedWindow("oauth:device:tenant", int(limits["TENANT_GUESSES"]), window), "all"),
    ]


def reserve(*, ip: str) -> Guess:
    """Count one attempt from ``ip`` in both windows (one atomic round trip) and say
    whether the code may be looked up; a refused attempt is taken back at once."""
    at = time.time()
    windows = _windows(ip)
    counts = tally([(window, key, 1) for window, key in windows], at=at)
    over = [
        window for (window, _), count in zip(windows, counts, strict=True) if count > window.limit
    ]
    if over:
        tally([(window, key, -1) for window, key in windows], at=at)
        return Guess(counted=(), at=at, retry_after=max(w.retry_after() for w in over))
    return Guess(counted=tuple(windows), at=at)


def not_a_guess(guess: Guess) -> None:
    """The code named an existing device authorization: the attempt no longer counts."""
    if guess.counted:
        tally([(window, key, -1) for window, key in guess.counted], at=guess.at)
