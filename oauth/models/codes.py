from authlib.oauth2.rfc6749 import AuthorizationCodeMixin
from django.conf import settings
from django.db import models

from oauth.oidc import acr


class AuthorizationCode(AuthorizationCodeMixin, models.Model):
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
    # RFC 9449 §10: the DPoP key thumbprint the request named; the code is redeemed only
    # with a proof of that key.
    dpop_jkt = models.CharField(max_length=43, blank=True, default="")
    auth_time = models.DateTimeField()
    #: RFC 8176 authentication method references of the sign-in, space-separated.
    amr = models.CharField(max_length=100, blank=True, default="")
    #: The OIDC ``sid`` of the browser session the code was issued in ("" = none known),
    #: for the id_token (Back-Channel Logout 1.0 §2.1).
    sid = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    family = models.ForeignKey(
        "oauth.GrantFamily", null=True, blank=True, on_delete=models.SET_NULL
    )
    purge_after = models.DateTimeField(db_index=True)

    # --- Authlib's AuthorizationCodeMixin (RFC 6749 §4.1.2) and its OIDC extension --------

    def get_redirect_uri(self) -> str:
        """The redirect URI the authorization request named ("" if it named none, in which
        case the token request need not repeat it, RFC 6749 §4.1.3)."""
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str:
        """OIDC Core §2 ``acr`` of the sign-in, derived from its methods (``oauth.oidc.acr``)."""
        return acr.acr_for(self.get_amr())

    def get_amr(self) -> list[str]:
        """OIDC Core §2 / RFC 8176 ``amr``: the methods the user signed in with."""
        return self.amr.split()


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
