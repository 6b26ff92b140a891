from django.contrib.postgres.fields import ArrayField
from django.db import models


def _strings():
    return ArrayField(models.CharField(max_length=2000), default=list, blank=True)


class Client(models.Model):
    """A registered OAuth 2.0 client (RFC 6749 §2, RFC 7591 §2 metadata).

    The secret is never stored: ``secret_digest`` is the SHA-256 hex digest of a 256-bit
    random secret (DESIGN.md §3). ``previous_secret_digest`` keeps the old one valid until
    ``previous_secret_expires_at`` during a rotation.
    """

    class Type(models.TextChoices):
        CONFIDENTIAL = "confidential", "Confidential"
        PUBLIC = "public", "Public"

    class AuthMethod(models.TextChoices):
        BASIC = "client_secret_basic", "client_secret_basic"
        POST = "client_secret_post", "client_secret_post"
        NONE = "none", "none (public client)"

    class AccessTokenFormat(models.TextChoices):
        OPAQUE = "opaque", "Opaque"
        JWT = "jwt", "JWT (RFC 9068)"

    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    client_type = models.CharField(max_length=16, choices=Type.choices, default=Type.CONFIDENTIAL)
    token_endpoint_auth_method = models.CharField(
        max_length=32, choices=AuthMethod.choices, default=AuthMethod.BASIC
    )
    secret_digest = models.CharField(max_length=64, blank=True, default="")
    previous_secret_digest = models.CharField(max_length=64, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)

    grant_types = _strings()
    response_types = _strings()
    redirect_uris = _strings()
    post_logout_redirect_uris = _strings()
    scopes = _strings()  # allowed scopes (free-form tokens; openid/profile/email per OIDC)
    default_scopes = _strings()  # granted when a request names none; empty = all allowed
    resources = _strings()  # RFC 8707 resource indicators this client may ask for
    cors_origins = _strings()  # browser origins allowed to call the token endpoints

    access_token_lifetime = models.PositiveIntegerField(null=True, blank=True)
    refresh_token_lifetime = models.PositiveIntegerField(null=True, blank=True)
    access_token_format = models.CharField(
        max_length=8, choices=AccessTokenFormat.choices, default=AccessTokenFormat.OPAQUE
    )
    id_token_signed_response_alg = models.CharField(max_length=8, default="RS256")
    can_introspect = models.BooleanField(default=False)
    disabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @property
    def is_public(self) -> bool:
        return self.client_type == self.Type.PUBLIC
