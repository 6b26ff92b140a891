"""When a logout token is tried again (OIDC Back-Channel Logout 1.0 §2.5: the OP may retry a
delivery that failed), from ``GATEHOUSE["BACKCHANNEL_LOGOUT"]`` alone: the delivery service
uses it, and so does the system check that the outbox keeps a row long enough to be retried
(``oauth.checks``, which runs before any model may be imported)."""

from __future__ import annotations

from kernel.conf import setting


def retry_delay(attempt: int) -> int:
    """Exponential back-off: the base delay after the first attempt, doubling after each
    further one, never more than the maximum (``GATEHOUSE["BACKCHANNEL_LOGOUT"]``)."""
    options = setting("BACKCHANNEL_LOGOUT")
    delay = int(options["RETRY_BASE_SECONDS"]) * 2 ** max(attempt - 1, 0)
    return min(delay, int(options["RETRY_MAX_SECONDS"]))


def retrying_seconds() -> int:
    """How long a token that fails every attempt but the last is retried for: the sum of
    the delays between its ``ATTEMPTS`` attempts."""
    attempts = int(setting("BACKCHANNEL_LOGOUT")["ATTEMPTS"])
    return sum(retry_delay(attempt) for attempt in range(1, attempts))
