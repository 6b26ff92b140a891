"""Reads of OpenID Connect Back-Channel Logout 1.0: the outbox rows the sweep enqueues."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kernel.conf import setting
from oauth.models import BackchannelLogoutDelivery


def logout_deliveries_overdue() -> list[int]:
    """Ids of this schema's pending outbox rows whose attempt is overdue by more than
    ``SWEEP_GRACE_SECONDS`` (their message never reached the broker, or was lost with a
    worker or a broker), the most overdue first, at most ``SWEEP_BATCH``: a backlog
    larger than that is worked off over the next sweeps. Read through the partial index
    of pending rows (``oauth_bcl_delivery_due``)."""
    options = setting("BACKCHANNEL_LOGOUT")
    overdue_since = timezone.now() - timedelta(seconds=int(options["SWEEP_GRACE_SECONDS"]))
    return list(
        BackchannelLogoutDelivery.objects.filter(
            state=BackchannelLogoutDelivery.State.PENDING, next_attempt_at__lt=overdue_since
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[: int(options["SWEEP_BATCH"])]
    )
