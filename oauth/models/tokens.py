from authlib.oauth2.rfc6749 import TokenMixin
from django.conf import settings
from django.db import models
from django.utils import timezone


class GrantFamily(models.Model):
    """One original grant (DESIGN.md §3): the code exchange that started a refresh chain.

    Refresh rotation issues new ``Token`` members of the family; revoking the family
    (code replay, refresh reuse, revocation of a refresh token) revokes every member.
    """

    client = models.ForeignKey("oauth.Client", on_delete=models.CASCADE, related_name="families")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    scope = models.TextField(blank=True, default="")  # the granted scope, space-separated
    resource = models.CharField(max_length=500, blank=True, default="")
    nonce = models.CharField(max_length=500, blank=True, default="")
    auth_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Latest purge_after of its tokens; the family goes when its last token may go.
    purge_after = models.DateTimeField(db_index=True)


class Token(TokenMixin, models.Model):
    """An access token and, for user grants, its refresh token (RFC 6749 §1.4, §1.5).

    Both are stored as SHA-256 digests only. ``purge_after`` = the latest of its expiries
    plus a retention period, so a purge (an index range scan) never removes a row that
    refresh-reuse or code-replay detection still needs.
    """

    # Indexed by (client, -issued_at) below instead of client alone: the same one index on
    # the token hot path, and a client's "last used" is its first entry.
    client = models.ForeignKey(
        "oauth.Client", on_delete=models.CASCADE, related_name="tokens", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    family = models.ForeignKey(
        GrantFamily, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    access_digest = models.CharField(max_length=64, unique=True)
    refresh_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    jti = models.CharField(max_length=64, null=True, blank=True, unique=True)
    scope = models.TextField(blank=True, default="")
    audience = models.CharField(max_length=500, blank=True, default="")
    issued_at = models.DateTimeField()
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)  # rotated out by a refresh
    revoked_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(db_index=True)
    #: RFC 8693 §4.1: the ``act`` claim of a token issued by delegation (token exchange with
    #: an actor token), the current actor outermost; None for every other token.
    act = models.JSONField(null=True, blank=True)
    # RFC 9449 §6: the RFC 7638 SHA-256 thumbprint of the DPoP key the access token (and, for
    # a public client, its refresh token, §5) is bound to; null for a bearer token.
    dpop_jkt = models.CharField(max_length=43, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["client", "-issued_at"], name="oauth_token_client_issued")]

    # --- Authlib's TokenMixin (RFC 6749 §1.4, §1.5) --------------------------------------

    def check_client(self, client) -> bool:
        return self.client_id == client.pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.access_expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.access_expires_at <= timezone.now()

    def is_refresh_expired(self) -> bool:
        return self.refresh_expires_at is None or self.refresh_expires_at <= timezone.now()

    def is_revoked(self) -> bool:
        """Revoked itself, rotated out by a refresh, or its whole family revoked."""
        if self.revoked_at is not None or self.retired_at is not None:
            return True
        return self.family_id is not None and self.family.revoked_at is not None

    def get_user(self):
        return self.user

    def get_client(self):
        return self.client
