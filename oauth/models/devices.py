from django.conf import settings
from django.db import models

from oauth.oidc import acr


class DeviceAuthorization(models.Model):
    """A device authorization request (RFC 8628 §3.1-§3.5), one row from the device
    authorization response until the token it was redeemed for.

    Both codes are stored as SHA-256 digests (DESIGN.md §3): the device code is a 256-bit
    secret; the user code is short (RFC 8628 §6.1), so guessing it is throttled
    (``oauth.device.throttle``), and its digest is unique. ``interval_seconds`` is the polling
    interval of this device code: ``slow_down`` adds 5 seconds to it (§3.5), enforced
    against ``last_polled_at`` in one conditional UPDATE. Redeemed once, under a row lock
    (``consumed_at``); like an authorization code it outlives its expiry until
    ``purge_after``, so a replayed device code can revoke what it started.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        CONSUMED = "consumed"

    device_code_digest = models.CharField(max_length=64, unique=True)
    user_code_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(
        "oauth.Client", on_delete=models.CASCADE, related_name="device_authorizations"
    )
    scope = models.TextField(blank=True, default="")
    resource = models.CharField(max_length=500, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    #: When the user signed in and how (OIDC Core §2 ``auth_time``, RFC 8176 ``amr``).
    auth_time = models.DateTimeField(null=True, blank=True)
    amr = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    family = models.ForeignKey(
        "oauth.GrantFamily", null=True, blank=True, on_delete=models.SET_NULL
    )
    purge_after = models.DateTimeField(db_index=True)

    # --- Authlib's DeviceCredentialMixin (RFC 8628 §3.4) ----------------------------------

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_amr(self) -> list[str]:
        """RFC 8176 ``amr`` of the sign-in that approved the request."""
        return self.amr.split()

    def get_acr(self) -> str:
        return acr.acr_for(self.get_amr())
