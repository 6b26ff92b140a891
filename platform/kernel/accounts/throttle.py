"""Throttles of the self-service account mails (a reset link, a verification link again),
so that the request pages cannot be used to mail-bomb someone or to probe many addresses.

Counted per client IP and per target (the address or user name typed, lowercased, whether
or not it names an account: the answer then says nothing about who has one), in fixed
windows of ``GATEHOUSE["ACCOUNT_MAIL_THROTTLE"]`` (``kernel.ratelimit``, per tenant).
"""

from __future__ import annotations

from kernel.conf import setting
from kernel.credentials import digest
from kernel.ratelimit import FixedWindow, tally


def _windows(kind: str) -> tuple[FixedWindow, FixedWindow]:
    limits = setting("ACCOUNT_MAIL_THROTTLE")
    window = int(limits["WINDOW_SECONDS"])
    return (
        FixedWindow(f"account-mail-ip:{kind}", int(limits["IP_REQUESTS"]), window),
        FixedWindow(f"account-mail-to:{kind}", int(limits["ADDRESS_REQUESTS"]), window),
    )


def mail_request_wait(*, kind: str, ip: str, target: str) -> int | None:
    """Count one request for a ``kind`` of mail ("reset", "verify") from ``ip`` to
    ``target``; None when it is within both limits, else the seconds to wait. The target
    is counted by digest, so no address is kept in the cache in clear."""
    by_ip, by_target = _windows(kind)
    key = digest((target or "").strip().lower())
    ip_count, target_count = tally([(by_ip, ip or "unknown", 1), (by_target, key, 1)])
    if ip_count > by_ip.limit:
        return by_ip.retry_after()
    if target_count > by_target.limit:
        return by_target.retry_after()
    return None
