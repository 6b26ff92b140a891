from django.db import models

from oauth.models.clients import Client

#: The allowed scopes of a new tenant: the OpenID Connect ones and refresh (OIDC Core §5.4,
#: §11). Existing tenants got these plus every scope their clients already had (0005).
DEFAULT_SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")


def default_scopes_supported() -> list[str]:
    return list(DEFAULT_SCOPES_SUPPORTED)


class IssuerSettings(models.Model):
    """Per-tenant issuer policy: one row in each tenant schema (``IssuerSettings.load()``)."""

    access_token_lifetime = models.PositiveIntegerField(default=3600, help_text="seconds")
    refresh_token_lifetime = models.PositiveIntegerField(
        default=30 * 24 * 3600, help_text="seconds"
    )
    authorization_code_lifetime = models.PositiveIntegerField(default=60, help_text="seconds")
    # RFC 9700 §4.14.2: a rotated-out refresh token presented within this many seconds of its
    # rotation is a lost race (invalid_grant, nothing revoked); later it is reuse (family
    # revoked). 0 = strict.
    refresh_reuse_window = models.PositiveIntegerField(default=2, help_text="seconds")
    # RFC 8707 audience of JWT access tokens when the client names no resource.
    default_resource = models.CharField(max_length=500, blank=True, default="")
    signing_key_rotation_days = models.PositiveIntegerField(default=90)
    jwks_max_age = models.PositiveIntegerField(default=3600, help_text="seconds")
    # What a client registered without choosing a format gets (RFC 9068 for "jwt").
    default_access_token_format = models.CharField(
        max_length=8,
        choices=Client.AccessTokenFormat.choices,
        default=Client.AccessTokenFormat.OPAQUE,
    )
    # RFC 8414 §2 / OIDC Discovery §3 ``scopes_supported``: the scopes a client may be
    # registered for. Empty = not restricted (any RFC 6749 §3.3 scope token).
    scopes_supported = models.JSONField(default=default_scopes_supported, blank=True)
    # When this tenant's JWKS was first served (set once by the JWKS view): a next key
    # published before then has been in every JWKS any relying party holds.
    jwks_first_served_at = models.DateTimeField(null=True, blank=True)
    # Rate limits of the OAuth endpoints (oauth.ratelimits), set by the platform operator
    # (a plan or quota): empty = the platform default, GATEHOUSE["RATE_LIMITS"].
    rate_limit_client_requests = models.PositiveIntegerField(
        null=True, blank=True, help_text="successful answers per client per window"
    )
    rate_limit_tenant_requests = models.PositiveIntegerField(
        null=True, blank=True, help_text="successful answers per endpoint per window"
    )
    rate_limit_ip_requests = models.PositiveIntegerField(
        null=True, blank=True, help_text="requests per source IP per window"
    )
    rate_limit_ip_auth_failures = models.PositiveIntegerField(
        null=True, blank=True, help_text="failed authentications per source IP per window"
    )
    rate_limit_client_ip_auth_failures = models.PositiveIntegerField(
        null=True, blank=True, help_text="failed authentications per client_id and IP"
    )
    # RFC 9126 §5: every client's authorization requests must come through PAR.
    require_pushed_authorization_requests = models.BooleanField(default=False)
    # "" or "fapi2": the FAPI 2.0 Security Profile for every client (oauth.security_profile).
    security_profile = models.CharField(
        max_length=16, choices=Client.SecurityProfile.choices, default="", blank=True
    )
    # RFC 9449 §8: DPoP proofs must carry a server nonce (``oauth.dpop``).
    dpop_nonce_required = models.BooleanField(default=False)

    class Meta:
        verbose_name = "issuer settings"
        verbose_name_plural = "issuer settings"

    @classmethod
    def load(cls) -> "IssuerSettings":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
        return obj
