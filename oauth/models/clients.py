import re
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from kernel import credentials

#: A metadata document URL may be this long (a generated client_id is 24 characters).
MAX_CLIENT_ID_LENGTH = 255
#: Loopback IP literals whose redirect URIs match on any port (RFC 8252 §7.3).
_LOOPBACK_NETLOC = re.compile(r"^(127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?$")


def _strings():
    return ArrayField(models.CharField(max_length=2000), default=list, blank=True)


class Client(ClientMixin, models.Model):
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
        #: RFC 7523 §2.2 / OIDC Core §9: a JWT signed with the client's private key.
        PRIVATE_KEY_JWT = "private_key_jwt", "private_key_jwt (RFC 7523)"
        #: RFC 7523 §2.2 / OIDC Core §9: a JWT MACed with the client secret (HS256).
        SECRET_JWT = "client_secret_jwt", "client_secret_jwt (RFC 7523)"

    class AccessTokenFormat(models.TextChoices):
        OPAQUE = "opaque", "Opaque"
        JWT = "jwt", "JWT (RFC 9068)"

    class SecurityProfile(models.TextChoices):
        """A client may only tighten its tenant's profile (``oauth.security_profile``)."""

        TENANT = "", "The tenant's profile"
        FAPI2 = "fapi2", "FAPI 2.0 Security Profile"

    class Registration(models.TextChoices):
        CONSOLE = "", "Console or CLI"
        DYNAMIC = "dynamic", "Dynamic registration (RFC 7591)"
        DOCUMENT = "document", "Client ID Metadata Document"

    #: Generated (RFC 6749 §2.2), or the https URL of its metadata document.
    client_id = models.CharField(max_length=MAX_CLIENT_ID_LENGTH, unique=True)
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
    #: How the client came to exist; self-registered ones are listed apart in the console.
    registration = models.CharField(
        max_length=8, choices=Registration.choices, default="", blank=True, db_index=True
    )
    #: OIDC Registration §2 / RFC 8252: "web" or "native" (set by dynamic registration).
    application_type = models.CharField(max_length=8, default="web", blank=True)
    #: RFC 7592 §3: digest of the registration access token (rotated on every update).
    registration_token_digest = models.CharField(max_length=64, blank=True, default="")
    #: A metadata document client: when its document was last fetched and validated.
    document_fetched_at = models.DateTimeField(null=True, blank=True)
    # --- High-assurance clients (RFC 7523, RFC 9126, RFC 9101, RFC 9449, FAPI 2.0) ----------
    #: RFC 7591 §2: the client's public keys, inline (a JWK Set) or by reference (https).
    #: Read through ``oauth.client_keys``; never both.
    jwks = models.JSONField(null=True, blank=True)
    jwks_uri = models.CharField(max_length=2000, blank=True, default="")
    #: OIDC Registration §2: the one JWS alg this client signs assertions with ("" = any
    #: alg its profile allows).
    token_endpoint_auth_signing_alg = models.CharField(max_length=8, blank=True, default="")
    #: ``client_secret_jwt`` needs the secret itself (HS256 key, RFC 7523 §2.2): kept only for
    #: such clients, encrypted at rest like signing keys (``oauth.signing.encryption``).
    secret_ciphertext = models.TextField(blank=True, default="")
    #: OIDC Registration §2 / RFC 9101 §10.5: "" = request objects not accepted from this
    #: client (``request_not_supported``); otherwise the JWS alg they must be signed with.
    request_object_signing_alg = models.CharField(max_length=8, blank=True, default="")
    #: RFC 9126 §6: this client's authorization requests must come through PAR.
    require_pushed_authorization_requests = models.BooleanField(default=False)
    #: RFC 9449 §5.2: this client's access tokens must be DPoP-bound.
    dpop_bound_access_tokens = models.BooleanField(default=False)
    #: "" = the tenant's profile; "fapi2" = FAPI 2.0 for this client even if not the tenant's.
    security_profile = models.CharField(
        max_length=16, choices=SecurityProfile.choices, default="", blank=True
    )
    #: OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed ("" = none).
    backchannel_logout_uri = models.CharField(max_length=2000, blank=True, default="")
    backchannel_logout_session_required = models.BooleanField(default=False)
    #: RFC 8693: audiences/resources this client may request when exchanging tokens (with
    #: the token-exchange grant type registered), beyond the subject token's own; empty =
    #: only the subject token's own (``oauth.grants.token_exchange``).
    token_exchange_audiences = _strings()
    disabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [
            # CORS: "is this Origin registered by any client of this tenant" is one
            # indexed containment query (cors_origins @> ARRAY[origin]).
            GinIndex(fields=["cors_origins"], name="oauth_client_cors_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @property
    def is_public(self) -> bool:
        return self.client_type == self.Type.PUBLIC

    # --- Authlib's ClientMixin (RFC 6749 §2, RFC 7591 §2) --------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The redirect URI when a request names none: only if exactly one is registered
        (RFC 6749 §3.1.2.3)."""
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def default_scope(self) -> str:
        return list_to_scope(self.default_scopes or self.scopes)

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant, or None when any requested scope is not allowed.

        RFC 6749 §3.3: an omitted scope means the client's default scopes; a scope outside
        the client's allowed scopes is ``invalid_scope`` (never silently narrowed).
        """
        if not scope:
            return self.default_scope()
        requested = scope_to_list(scope)
        allowed = set(self.scopes)
        if any(item not in allowed for item in requested):
            return None
        return list_to_scope(list(dict.fromkeys(requested)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match (RFC 9700 §4.1.1), except that a loopback IP literal redirect
        URI matches on any port (RFC 8252 §7.3)."""
        if redirect_uri in self.redirect_uris:
            return True
        return any(loopback_matches(registered, redirect_uri) for registered in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        """Constant-time digest comparison against the current secret, or the previous one
        while a rotation's grace period lasts."""
        if credentials.matches(client_secret, self.secret_digest):
            return True
        return bool(
            self.previous_secret_digest
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > timezone.now()
            and credentials.matches(client_secret, self.previous_secret_digest)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The token and PAR endpoints take the registered ``token_endpoint_auth_method`` only
        (RFC 7591 §2, RFC 9126 §2.1). Revocation accepts either secret method, or ``none``
        for a public client (RFC 7009 §2.1); introspection requires a confidential client
        (RFC 7662 §2.1). A ``client_secret_jwt`` client may also use its secret either way; a
        ``private_key_jwt`` client has no secret, so only its assertions (RFC 7523 §2.2).
        """
        secret_methods = (self.AuthMethod.BASIC, self.AuthMethod.POST)
        # RFC 8628 §3.1 and RFC 9126 §2.1: the device authorization and PAR endpoints
        # authenticate as the token one.
        if endpoint in ("token", "par", "device_authorization"):
            return method == self.token_endpoint_auth_method
        if self.is_public:
            return endpoint == "revocation" and method == self.AuthMethod.NONE
        if self.token_endpoint_auth_method == self.AuthMethod.PRIVATE_KEY_JWT:
            return method == self.AuthMethod.PRIVATE_KEY_JWT
        return method in secret_methods or method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def loopback_matches(registered: str, requested: str) -> bool:
    """RFC 8252 §7.3: ``http://127.0.0.1:<any port>/path`` or ``http://[::1]:<any port>/path``
    matches a registered loopback URI with the same host, path and query."""
    try:
        reg, req = urlsplit(registered), urlsplit(requested)
    except ValueError:
        return False
    reg_host, req_host = _LOOPBACK_NETLOC.match(reg.netloc), _LOOPBACK_NETLOC.match(req.netloc)
    if not reg_host or not req_host or reg.scheme != "http" or req.scheme != "http":
        return False
    if req.fragment or reg_host.group(1) != req_host.group(1):
        return False
    return (reg.path, reg.query) == (req.path, req.query)
