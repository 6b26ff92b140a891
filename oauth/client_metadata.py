"""Client metadata (RFC 7591 §2), as one validated type.

Every way a client comes to exist (the operator CLI, the tenant console, and dynamic
registration) builds a ``ClientMetadata``; constructing one validates and normalises it, so
an instance is always registrable and ``oauth.services.clients.client_create`` takes nothing
else. A problem is a ``ClientError`` whose message says what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from kernel.conf import setting
from kernel.errors import DomainError
from oauth.algs import ASYMMETRIC_ALGS, CLIENT_SECRET_JWT_ALGS, FAPI2_ALGS
from oauth.client_auth import TOKEN_ENDPOINT_AUTH_METHODS
from oauth.client_keys import ClientKeysError, check_public_jwks
from oauth.grant_types import DEVICE_CODE, GRANT_TYPES, TOKEN_EXCHANGE
from oauth.models import Client, IssuerSettings, SigningKey
from oauth.security_profile import FAPI2

#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")


class ClientError(DomainError):
    """A one-line reason a client could not be registered, for the CLI and the console.

    ``field`` names the ``ClientMetadata`` field at fault (the console shows the message next
    to it); ``web`` is the wording for a page where the CLI's differs (it names a flag).
    """

    def __init__(self, message: str, *, field: str = "", web: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.web = web or message


def scope_token_valid(scope: str) -> bool:
    """RFC 6749 §3.3 scope-token syntax, at most 200 characters."""
    return bool(_SCOPE_TOKEN.match(scope)) and len(scope) <= 200


def check_scopes_allowed(scopes: list[str]) -> None:
    """Refuse ``scopes`` outside this tenant's allowed scopes (RFC 7591 §2 ``scope``: the
    server may reject what it does not support), instead of registering them silently.

    ``IssuerSettings.scopes_supported`` empty means not restricted.
    """
    allowed = IssuerSettings.load().scopes_supported
    unknown = [scope for scope in scopes if allowed and scope not in allowed]
    if unknown:
        raise ClientError(
            f"{'scope' if len(unknown) == 1 else 'scopes'} {', '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not among this organisation's allowed scopes "
            f"({' '.join(allowed)}); an admin can add it under Settings",
            field="scopes",
        )


def _validate_redirect_uri(uri: str, field: str) -> str:
    """RFC 6749 §3.1.2 and RFC 8252 §7: absolute, no fragment; https, http on a loopback
    IP literal (or localhost), or a private-use scheme (reverse domain name) for apps."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ClientError(f"redirect URI {uri!r} is not a URI", field=field) from None
    if len(uri) > 2000 or parts.fragment or "#" in uri:
        raise ClientError(
            f"redirect URI {uri!r} must not have a fragment (RFC 6749 3.1.2)", field=field
        )
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"):
        return uri
    if _PRIVATE_SCHEME.match(parts.scheme or "") and not parts.netloc:
        return uri
    raise ClientError(
        f"redirect URI {uri!r} must be https, http on 127.0.0.1/[::1], or an app's "
        "private-use scheme such as com.example.app:/cb",
        field=field,
    )


def _validate_origin(origin: str) -> str:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ClientError(
            f"CORS origin {origin!r} is not an origin", field="cors_origins"
        ) from None
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or origin != origin.lower()
    ):
        raise ClientError(
            f"CORS origin {origin!r} must be scheme://host[:port] in lowercase, no path",
            field="cors_origins",
        )
    return origin


def _validate_resource(resource: str) -> str:
    """RFC 8707 §2: an absolute URI without a fragment."""
    try:
        parts = urlsplit(resource)
    except ValueError:
        raise ClientError(f"resource {resource!r} is not a URI", field="resources") from None
    if not parts.scheme or not parts.netloc or parts.fragment or len(resource) > 500:
        raise ClientError(
            f"resource {resource!r} must be an absolute URI without fragment", field="resources"
        )
    return resource


def _lifetime(value: int | None, name: str, field: str) -> int | None:
    if value is not None and not 1 <= value <= 10 * 365 * 86400:
        raise ClientError(f"{name} must be between 1 second and 10 years", field=field)
    return value


def _unique(values) -> list:
    return list(dict.fromkeys(values or []))


@dataclass(frozen=True)
class ClientMetadata:
    """What a client is registered with (RFC 7591 §2; OIDC Registration §2 for the
    id_token alg and post-logout redirect URIs). Validated and normalised on construction:
    duplicates dropped, and without ``grant_types`` a client with redirect URIs gets
    ``authorization_code`` and ``refresh_token``, one without gets ``client_credentials``.
    """

    name: str
    grant_types: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    default_scopes: list[str] = field(default_factory=list)
    auth_method: str = Client.AuthMethod.BASIC
    can_introspect: bool = False
    resources: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    access_token_lifetime: int | None = None
    refresh_token_lifetime: int | None = None
    #: "" = the tenant's ``IssuerSettings.default_access_token_format``.
    access_token_format: str = ""
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    id_token_signed_response_alg: str = SigningKey.Alg.RS256
    # High-assurance clients (RFC 7591 §2 jwks/jwks_uri; RFC 7523; RFC 9126 §6; RFC 9101;
    # RFC 9449 §5.2; FAPI 2.0), OIDC Back-Channel Logout §2.2, RFC 8693 audiences.
    jwks: dict | None = None
    jwks_uri: str = ""
    token_endpoint_auth_signing_alg: str = ""
    request_object_signing_alg: str = ""
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    security_profile: str = ""
    backchannel_logout_uri: str = ""
    backchannel_logout_session_required: bool = False
    token_exchange_audiences: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        def normalise(name: str, value) -> None:
            object.__setattr__(self, name, value)

        name = (self.name or "").strip()
        if not name or len(name) > 200:
            raise ClientError("name must be 1-200 characters", field="name")
        normalise("name", name)
        if self.auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
            raise ClientError(f"unknown auth method {self.auth_method!r}", field="auth_method")
        if not self.access_token_format:
            normalise("access_token_format", IssuerSettings.load().default_access_token_format)
        if self.access_token_format not in Client.AccessTokenFormat.values:
            raise ClientError(
                f"unknown access token format {self.access_token_format!r}",
                field="access_token_format",
            )
        redirect_uris = [
            _validate_redirect_uri(u, "redirect_uris") for u in _unique(self.redirect_uris)
        ]
        normalise("redirect_uris", redirect_uris)
        grant_types = _unique(self.grant_types) or (
            ["authorization_code", "refresh_token"] if redirect_uris else ["client_credentials"]
        )
        normalise("grant_types", grant_types)
        unknown = [g for g in grant_types if g not in GRANT_TYPES]
        if unknown:
            raise ClientError(
                f"unsupported grant type {unknown[0]!r}; use {', '.join(GRANT_TYPES)}",
                field="grant_types",
            )
        if self.is_public and "client_credentials" in grant_types:
            raise ClientError(
                "a public client (auth method none) cannot use client_credentials",
                field="grant_types",
            )
        if self.is_public and self.can_introspect:
            raise ClientError(
                "a public client (auth method none) cannot introspect tokens",
                field="can_introspect",
            )
        if "authorization_code" in grant_types and not redirect_uris:
            raise ClientError(
                "authorization_code needs at least one --redirect-uri",
                field="redirect_uris",
                web="add at least one redirect URI: the authorization code grant needs one",
            )
        if "refresh_token" in grant_types and not {"authorization_code", DEVICE_CODE} & set(
            grant_types
        ):
            raise ClientError(
                "refresh_token is only issued with authorization_code or device_code",
                field="grant_types",
            )
        if redirect_uris and "authorization_code" not in grant_types:
            raise ClientError(
                "redirect URIs are only used by the authorization_code grant",
                field="redirect_uris",
            )
        # OpenID Connect RP-Initiated Logout §3.1; Registration §2 (RS256 unless ES256).
        post_logout = [
            _validate_redirect_uri(u, "post_logout_redirect_uris")
            for u in _unique(self.post_logout_redirect_uris)
        ]
        normalise("post_logout_redirect_uris", post_logout)
        if post_logout and "authorization_code" not in grant_types:
            raise ClientError(
                "post-logout redirect URIs are only used with authorization_code",
                field="post_logout_redirect_uris",
            )
        if self.id_token_signed_response_alg not in SigningKey.Alg.values:
            raise ClientError(
                f"id_token alg must be one of {', '.join(SigningKey.Alg.values)}, "
                f"not {self.id_token_signed_response_alg!r}",
                field="id_token_signed_response_alg",
            )
        scopes = _unique(self.scopes)
        for scope in scopes:
            if not scope_token_valid(scope):
                raise ClientError(f"invalid scope {scope!r} (RFC 6749 3.3)", field="scopes")
        normalise("scopes", scopes)
        default_scopes = _unique(self.default_scopes)
        if not set(default_scopes) <= set(scopes):
            raise ClientError(
                "default scopes must be among the client's scopes", field="default_scopes"
            )
        normalise("default_scopes", default_scopes)
        normalise("resources", [_validate_resource(r) for r in _unique(self.resources)])
        normalise("cors_origins", [_validate_origin(o) for o in _unique(self.cors_origins)])
        normalise(
            "access_token_lifetime",
            _lifetime(self.access_token_lifetime, "access token lifetime", "access_token_lifetime"),
        )
        normalise(
            "refresh_token_lifetime",
            _lifetime(
                self.refresh_token_lifetime, "refresh token lifetime", "refresh_token_lifetime"
            ),
        )

        self._check_keys()
        self._check_token_exchange()
        self._check_request_objects()
        self._check_backchannel_logout()
        self._check_assertion_auth()

    def _check_token_exchange(self) -> None:
        """RFC 8693: only confidential clients exchange tokens (the grant authenticates the
        client); ``token_exchange_audiences`` are the audiences or resources (RFC 8693 §2.1)
        it may request beyond the subject token's own, and need the grant type."""
        if self.is_public and TOKEN_EXCHANGE in self.grant_types:
            raise ClientError(
                "a public client (auth method none) cannot use token exchange",
                field="grant_types",
            )
        audiences = _unique(self.token_exchange_audiences)
        for audience in audiences:
            if len(audience) > 500 or not _SCOPE_TOKEN.match(audience):
                raise ClientError(
                    f"token exchange audience {audience[:60]!r} must be 1-500 printable "
                    "characters without spaces (a URI or a logical name)",
                    field="token_exchange_audiences",
                )
        if audiences and TOKEN_EXCHANGE not in self.grant_types:
            raise ClientError(
                "token exchange audiences are only used with the token-exchange grant type",
                field="token_exchange_audiences",
            )
        object.__setattr__(self, "token_exchange_audiences", audiences)

    def _check_keys(self) -> None:
        """RFC 7591 §2: ``jwks`` and ``jwks_uri`` are exclusive; a set holds public keys only
        (``oauth.client_keys.check_public_jwks``); ``jwks_uri`` is an https URL."""
        if self.jwks is not None and self.jwks_uri:
            raise ClientError("send jwks or jwks_uri, not both (RFC 7591 2)", field="jwks")
        if self.jwks is not None:
            try:
                check_public_jwks(self.jwks)
            except ClientKeysError as error:
                raise ClientError(str(error), field="jwks") from None
        if self.jwks_uri:
            parts = urlsplit(self.jwks_uri)
            if parts.scheme != "https" or not parts.hostname or len(self.jwks_uri) > 2000:
                raise ClientError("jwks_uri must be an https URL", field="jwks_uri")
        if self.security_profile not in Client.SecurityProfile.values:
            raise ClientError(
                f"unknown security profile {self.security_profile!r}", field="security_profile"
            )

    def _check_request_objects(self) -> None:
        """RFC 9101 §10.5 / OIDC Registration §2 ``request_object_signing_alg``: an asymmetric
        alg (never ``none``: unsigned request objects are refused), verified against the
        client's registered keys, so it needs ``jwks`` or ``jwks_uri``."""
        alg = self.request_object_signing_alg
        if not alg:
            return
        if alg not in ASYMMETRIC_ALGS:
            raise ClientError(
                f"request_object_signing_alg must be one of {', '.join(ASYMMETRIC_ALGS)}",
                field="request_object_signing_alg",
            )
        if self.jwks is None and not self.jwks_uri:
            raise ClientError(
                "request_object_signing_alg needs the client's keys (jwks or jwks_uri)",
                field="request_object_signing_alg",
            )
        if self.security_profile == FAPI2 and alg not in FAPI2_ALGS:
            raise ClientError(
                f"the FAPI 2.0 profile allows request objects signed with "
                f"{', '.join(FAPI2_ALGS)} only",
                field="request_object_signing_alg",
            )

    def _check_backchannel_logout(self) -> None:
        """OIDC Back-Channel Logout 1.0 §2.2: ``backchannel_logout_uri`` is absolute, with no
        fragment (nor user name or password), https; plain http only on a loopback host and
        only where the fetcher may reach loopback (``DOCUMENT_FETCH["ALLOW_LOOPBACK"]``, for
        development), since nothing else could be delivered. Only code-flow clients sign
        users in, so only they can be signed out; ``backchannel_logout_session_required``
        needs the URI."""
        uri = self.backchannel_logout_uri
        if not uri:
            if self.backchannel_logout_session_required:
                raise ClientError(
                    "backchannel_logout_session_required needs a backchannel_logout_uri",
                    field="backchannel_logout_uri",
                )
            return
        field_name = "backchannel_logout_uri"
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ClientError(
                f"back-channel logout URI {uri!r} is not a URI", field=field_name
            ) from None
        if len(uri) > 2000 or parts.fragment or "#" in uri:
            raise ClientError(
                f"back-channel logout URI {uri!r} must not have a fragment (OIDC Back-Channel "
                "Logout 2.2)",
                field=field_name,
            )
        if parts.username is not None or parts.password is not None:
            raise ClientError(
                f"back-channel logout URI {uri!r} must not carry a user name or password",
                field=field_name,
            )
        loopback_http = (
            parts.scheme == "http"
            and parts.hostname in ("127.0.0.1", "::1", "localhost")
            and setting("DOCUMENT_FETCH")["ALLOW_LOOPBACK"]
        )
        if not (parts.scheme == "https" and parts.hostname) and not loopback_http:
            raise ClientError(
                f"back-channel logout URI {uri!r} must be an https URL", field=field_name
            )
        if "authorization_code" not in self.grant_types:
            raise ClientError(
                "a back-channel logout URI is only used with authorization_code (users sign "
                "in to the client through it)",
                field=field_name,
            )

    def _check_assertion_auth(self) -> None:
        """RFC 7523 §2.2 / OIDC Registration §2: ``private_key_jwt`` needs registered keys;
        ``token_endpoint_auth_signing_alg`` goes with an assertion method and names an alg
        it allows (HS256 for ``client_secret_jwt``: our secrets are 256-bit, RFC 7518
        §3.2). FAPI 2.0 §5.3.2.1 items 1 and 4, for the client's own profile or its
        tenant's: confidential, ``private_key_jwt`` only, PS256/ES256/EdDSA (§5.4.1)."""
        method, alg = self.auth_method, self.token_endpoint_auth_signing_alg
        if method == Client.AuthMethod.PRIVATE_KEY_JWT and not (self.jwks or self.jwks_uri):
            raise ClientError(
                "private_key_jwt needs the client's public keys: jwks or jwks_uri", field="jwks"
            )
        allowed = {
            Client.AuthMethod.PRIVATE_KEY_JWT: ASYMMETRIC_ALGS,
            Client.AuthMethod.SECRET_JWT: CLIENT_SECRET_JWT_ALGS,
        }.get(method, ())
        fapi2 = Client.SecurityProfile.FAPI2
        if fapi2 in (self.security_profile, IssuerSettings.load().security_profile):
            if method != Client.AuthMethod.PRIVATE_KEY_JWT:
                raise ClientError(
                    "the FAPI 2.0 profile needs a confidential client authenticating with "
                    f"private_key_jwt, not {method}",
                    field="auth_method",
                )
            allowed = FAPI2_ALGS
        if alg and alg not in allowed:
            raise ClientError(
                f"token_endpoint_auth_signing_alg {alg} does not go with {method}"
                + (f"; use one of {', '.join(allowed)}" if allowed else ""),
                field="token_endpoint_auth_signing_alg",
            )

    @property
    def is_public(self) -> bool:
        return self.auth_method == Client.AuthMethod.NONE

    @property
    def response_types(self) -> list[str]:
        return ["code"] if "authorization_code" in self.grant_types else []


def metadata_of(client: Client, **changes) -> ClientMetadata:
    """What ``client`` is registered with, as ``ClientMetadata``, with ``changes`` applied
    (validated as at registration): for writes that change one setting of a client."""
    names = {"auth_method": "token_endpoint_auth_method"}
    values = {f.name: getattr(client, names.get(f.name, f.name)) for f in fields(ClientMetadata)}
    values.update(changes)
    return ClientMetadata(**values)
