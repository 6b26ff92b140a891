"""Logout tokens owed to clients (OIDC Back-Channel Logout 1.0 §2.5-2.7): the outbox."""

from django.db import models


class BackchannelLogoutDelivery(models.Model):
    """One logout token owed to one client for one ended session: a transactional outbox.

    Written in the transaction that ends the session (``oauth.backchannel.services``), so a
    committed sign-out always has its rows and a rolled-back one has none, whatever the
    broker is doing. A worker attempts the row by id (``workers.tasks``), under its row lock,
    and records the outcome here; a pending row whose message never reached the broker, or
    was lost, is enqueued again by the sweep once ``next_attempt_at`` is past. The purge
    deletes the row at ``purge_after``: a retention after it finished, or the maximum age of
    a row still pending (then given up on, and audited as failed).
    """

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"
        #: The client is gone, disabled or no longer has a back-channel logout URI.
        DROPPED = "dropped"

    client = models.ForeignKey("oauth.Client", on_delete=models.CASCADE, related_name="+")
    #: The logout token's claims (§2.4): ``sub`` and ``sid`` ("" for all the user's
    #: sessions), and the issuer of the sign-out's request.
    sub = models.CharField(max_length=255)
    sid = models.CharField(max_length=64, blank=True)
    issuer = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    #: Delivery attempts made so far (a POST, whatever its outcome).
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    purge_after = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The sweep: pending rows only, the most overdue first.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="oauth_bcl_delivery_due",
            ),
            # The purge's scan (workers.purge, "backchannel_logout_deliveries"), oldest first.
            models.Index(fields=["purge_after"], name="oauth_bcl_delivery_purge"),
        ]

    def __str__(self) -> str:
        return f"logout token for {self.sub}/{self.sid or '*'}: {self.state}"
