from django.conf import settings
from django.db import models


class AuthorizationCode(models.Model):
    """An authorization code (RFC 6749 §4.1.2), stored as a SHA-256 digest.

    Single use: redeemed under a row lock (``used_at``); a replay revokes the family the
    code started (``family``), which is why the row outlives its short expiry until
    ``purge_after``.
    """

    code_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey("oauth.Client", on_delete=models.CASCADE, related_name="codes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    scope = models.TextField(blank=True, default="")
    resource = models.CharField(max_length=500, blank=True, default="")
    nonce = models.CharField(max_length=500, blank=True, default="")
    code_challenge = models.CharField(max_length=128, blank=True, default="")
    code_challenge_method = models.CharField(max_length=8, blank=True, default="")
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    family = models.ForeignKey(
        "oauth.GrantFamily", null=True, blank=True, on_delete=models.SET_NULL
    )
    purge_after = models.DateTimeField(db_index=True)


class Consent(models.Model):
    """A user's remembered consent to a client for a set of scopes (OIDC Core §3.1.2.4)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    client = models.ForeignKey("oauth.Client", on_delete=models.CASCADE)
    scope = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="oauth_consent_user_client")
        ]
