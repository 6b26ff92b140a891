"""Second factors of a user, in the schema of the user's tenant, and the tenant's policy.

Every row lives in one tenant's schema beside the user it belongs to, so a device or passkey
enrolled at tenant A does not exist at tenant B, even for a user of the same name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TOTPDevice(models.Model):
    """An authenticator app (RFC 6238 TOTP, 6 digits, 30-second steps, SHA-1).

    The shared secret must be read back to verify a code, so it cannot be a digest: it is
    encrypted at rest with the key-encryption keys that protect signing keys
    (``oauth.signing.encryption``). ``last_step`` is the last time step a code was accepted
    for; a code of that step or an earlier one is refused, so an observed code cannot be
    replayed (RFC 6238 §5.2).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    name = models.CharField(max_length=100, default="Authenticator app")
    encrypted_secret = models.TextField()
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)


class RecoveryCode(models.Model):
    """A single-use recovery code, stored as its SHA-256 digest (``kernel.credentials``).

    A set of ten is shown once when made; making a new set deletes the old one.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "code_digest"], name="mfa_recovery_user_digest")]


class WebAuthnCredential(models.Model):
    """A passkey (W3C WebAuthn Level 3 §6.4 credential record): its id, COSE public key,
    signature counter and transports. The relying party id is the tenant's host name."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    #: base64url of the credential id (WebAuthn §4: at most 1023 bytes).
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    #: Whether the authenticator reports the credential backed up (a synced passkey).
    backed_up = models.BooleanField(default=False)
    name = models.CharField(max_length=100, default="Passkey")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)


class MFAPolicy(models.Model):
    """The tenant's MFA policy, a singleton row (``load``)."""

    class Mode(models.TextChoices):
        OFF = "off", "Off: no second factors"
        OPTIONAL = "optional", "Optional: users may add a second factor"
        ADMINS = "admins", "Required for admins"
        EVERYONE = "everyone", "Required for everyone"

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.OPTIONAL)
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def load(cls) -> MFAPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy
