"""RFC 7591 §2 client metadata (JSON) to and from ``ClientMetadata``, under the tenant's
registration policy.

The JSON members are checked for type and consistency here (RFC 7591 §2.1 grant and response
types, RFC 8252 application types, ``jwks``/``jwks_uri``), then everything else is
``ClientMetadata``'s, the very validation the console and the CLI use. A ``ClientError``
becomes the RFC 7591 §3.2.2 error its field calls for.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc7591 import (
    InvalidClientMetadataError,
    InvalidRedirectURIError,
    InvalidSoftwareStatementError,
)

from oauth.client_auth import TOKEN_ENDPOINT_AUTH_METHODS
from oauth.client_metadata import ClientError, ClientMetadata
from oauth.grants.errors import safe_text
from oauth.models import Client, InitialAccessToken, IssuerSettings, RegistrationPolicy

#: Policy entry allowing app-claimed private-use URI schemes (RFC 8252 §7.1).
PRIVATE_USE = "private-use"
REDIRECT_SCHEMES = ("https", "http", PRIVATE_USE)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_LIST_MEMBERS = ("redirect_uris", "grant_types", "response_types", "contacts")
_TEXT_MEMBERS = (
    "client_name",
    "scope",
    "token_endpoint_auth_method",
    "application_type",
    "jwks_uri",
    "token_endpoint_auth_signing_alg",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "request_object_signing_alg",
    "backchannel_logout_uri",
)
#: Members a client may not set (RFC 7591 §3.2.1, RFC 7592 §2.2: the server's to issue).
SERVER_MEMBERS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)


def _metadata_error(message: str) -> OAuth2Error:
    return InvalidClientMetadataError(safe_text(message))


def _redirect_error(message: str) -> OAuth2Error:
    return InvalidRedirectURIError(safe_text(message))


def host_matches(host: str, allowed: list[str]) -> bool:
    """``host`` is listed, or is below a listed ``.example.com`` (leading dot)."""
    host = (host or "").lower()
    return any(
        host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in allowed
    )


def redirect_kind(uri: str) -> str:
    """``https``, ``http`` (loopback) or ``private-use``: the policy's name for its scheme."""
    scheme = urlsplit(uri).scheme
    return scheme if scheme in ("https", "http") else PRIVATE_USE


def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK


@dataclass(frozen=True)
class Registration:
    """What a registration request asks for: the validated metadata and its RFC 8252
    application type."""

    metadata: ClientMetadata
    application_type: str


def _read_members(body) -> dict:
    if not isinstance(body, dict):
        raise _metadata_error("The request body must be a JSON object of client metadata.")
    if "software_statement" in body:
        raise InvalidSoftwareStatementError(
            "Software statements are not accepted here; send the client metadata as plain "
            "JSON members (RFC 7591 section 2)."
        )
    for name in _LIST_MEMBERS:
        value = body.get(name)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise _metadata_error(f"{name} must be an array of strings.")
    for name in _TEXT_MEMBERS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _metadata_error(f"{name} must be a string.")
    if body.get("jwks") is not None and not isinstance(body["jwks"], dict):
        raise _metadata_error("jwks must be a JSON Web Key Set object.")
    if body.get("jwks") is not None and body.get("jwks_uri") is not None:
        raise _metadata_error("Send jwks or jwks_uri, not both (RFC 7591 section 2).")
    if not isinstance(body.get("require_pushed_authorization_requests", False), bool):
        raise _metadata_error("require_pushed_authorization_requests must be a boolean.")
    if not isinstance(body.get("dpop_bound_access_tokens", False), bool):
        raise _metadata_error("dpop_bound_access_tokens must be a boolean (RFC 9449 section 5.2).")
    if not isinstance(body.get("backchannel_logout_session_required", False), bool):
        raise _metadata_error("backchannel_logout_session_required must be true or false.")
    return body


def _check_types(grant_types: list[str], response_types: list[str]) -> None:
    """RFC 7591 §2.1: ``code`` goes with ``authorization_code`` and nothing else does."""
    if set(response_types) - {"code"}:
        raise _metadata_error("Only the response type code is supported.")
    if ("code" in response_types) != ("authorization_code" in grant_types):
        raise _metadata_error(
            "grant_types and response_types disagree: authorization_code goes with the "
            "response type code (RFC 7591 section 2.1)."
        )


def _check_application_type(application_type: str, redirect_uris: list[str]) -> None:
    """RFC 8252 §8.4, OIDC Registration §2: a web client redirects to https hosts, a native
    one to loopback, a private-use scheme or https."""
    if application_type not in ("web", "native"):
        raise _metadata_error("application_type must be web or native.")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if application_type == "web" and (parts.scheme != "https" or parts.hostname in _LOOPBACK):
            raise _redirect_error(
                f"A web client redirects to https on a public host, not {uri}; register a "
                "loopback or app-scheme redirect URI as application_type native."
            )


def _inferred_application_type(redirect_uris: list[str]) -> str:
    """RFC 7591 has no ``application_type`` (OIDC Registration §2 defaults it to web): when it
    is left out, a client whose redirect URIs are all loopback or app schemes is native, as
    MCP clients running on the user's machine are."""
    if redirect_uris and all(redirect_kind(u) != "https" for u in redirect_uris):
        return "native"
    return "web"


def _check_policy(
    policy: RegistrationPolicy,
    token: InitialAccessToken | None,
    grant_types: list[str],
    redirect_uris: list[str],
    scopes: list[str],
) -> None:
    refused = [g for g in grant_types if g not in policy.allowed_grant_types]
    if refused:
        raise _metadata_error(
            f"This organisation does not allow self-registered clients the grant type "
            f"{refused[0]}; allowed: {' '.join(policy.allowed_grant_types) or 'none'}."
        )
    for uri in redirect_uris:
        kind = redirect_kind(uri)
        if kind not in policy.allowed_redirect_schemes:
            raise _redirect_error(
                f"Redirect URIs of kind {kind} are not allowed for self-registered clients "
                f"of this organisation ({uri})."
            )
        host = urlsplit(uri).hostname
        for allowed, whose in (
            (policy.allowed_redirect_hosts, "this organisation"),
            (token.redirect_hosts if token else [], "this initial access token"),
        ):
            if allowed and host and not host_matches(host, allowed):
                raise _redirect_error(f"The redirect host {host} is not allowed by {whose}.")
    if token is not None and token.scopes:
        extra = [s for s in scopes if s not in token.scopes]
        if extra:
            raise _metadata_error(
                f"The scope {extra[0]} is not allowed by this initial access token."
            )


def _default_scopes(token: InitialAccessToken | None) -> list[str]:
    """RFC 7591 §2 ``scope`` omitted: the token's scopes, else the tenant's allowed ones."""
    if token is not None and token.scopes:
        return list(token.scopes)
    return list(IssuerSettings.load().scopes_supported)


def registration_from_json(
    body,
    *,
    policy: RegistrationPolicy,
    token: InitialAccessToken | None = None,
    default_name: str = "",
    public_only: bool = False,
) -> Registration:
    """The ``Registration`` that RFC 7591 metadata ``body`` asks for, or the RFC 7591 §3.2.2
    error that refuses it. ``public_only``: metadata documents, whose clients have no
    secret to authenticate with (draft-ietf-oauth-client-id-metadata-document §4)."""
    body = _read_members(body)
    grant_types = body.get("grant_types") or ["authorization_code"]
    response_types = body.get("response_types")
    if response_types is None:
        response_types = ["code"] if "authorization_code" in grant_types else []
    _check_types(grant_types, response_types)
    redirect_uris = body.get("redirect_uris") or []
    auth_method = body.get("token_endpoint_auth_method") or (
        Client.AuthMethod.NONE if public_only else Client.AuthMethod.BASIC
    )
    if public_only and auth_method != Client.AuthMethod.NONE:
        raise _metadata_error(
            "A client identified by its metadata document has no secret: its "
            "token_endpoint_auth_method must be none."
        )
    if auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
        raise _metadata_error(
            f"token_endpoint_auth_method {auth_method} is not supported; use "
            f"{', '.join(TOKEN_ENDPOINT_AUTH_METHODS)}."
        )
    application_type = body.get("application_type") or _inferred_application_type(redirect_uris)
    scope = body.get("scope")
    scopes = scope.split() if scope is not None else _default_scopes(token)
    try:
        metadata = ClientMetadata(
            name=(body.get("client_name") or default_name or "Self-registered client")[:200],
            grant_types=grant_types,
            redirect_uris=redirect_uris,
            scopes=scopes,
            auth_method=auth_method,
            # RFC 7591 §2, OIDC Registration §2: keys and alg of assertion methods (RFC 7523).
            jwks=body.get("jwks"),
            jwks_uri=body.get("jwks_uri") or "",
            token_endpoint_auth_signing_alg=body.get("token_endpoint_auth_signing_alg") or "",
            # RFC 9101 §10.5 / OIDC Registration §2; RFC 9126 §6.
            request_object_signing_alg=body.get("request_object_signing_alg") or "",
            require_pushed_authorization_requests=body.get(
                "require_pushed_authorization_requests", False
            ),
            dpop_bound_access_tokens=body.get("dpop_bound_access_tokens", False),
            backchannel_logout_uri=body.get("backchannel_logout_uri") or "",
            backchannel_logout_session_required=body.get(
                "backchannel_logout_session_required", False
            ),
        )
    except ClientError as error:
        raise client_error(error) from None
    _check_application_type(application_type, metadata.redirect_uris)
    _check_policy(policy, token, metadata.grant_types, metadata.redirect_uris, metadata.scopes)
    return Registration(metadata=metadata, application_type=application_type)


def client_error(error: ClientError) -> OAuth2Error:
    """RFC 7591 §3.2.2: a bad redirect URI is ``invalid_redirect_uri``, the rest
    ``invalid_client_metadata``."""
    if error.field in ("redirect_uris", "post_logout_redirect_uris"):
        return _redirect_error(error.web)
    return _metadata_error(error.web)


def client_json(client: Client) -> dict:
    """RFC 7591 §3.2.1: the metadata the client is registered with."""
    body = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": " ".join(client.scopes),
        "application_type": client.application_type or "web",
    }
    if not client.is_public:
        body["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = does not expire
    if client.request_object_signing_alg:
        body["request_object_signing_alg"] = client.request_object_signing_alg
    if client.require_pushed_authorization_requests:
        body["require_pushed_authorization_requests"] = True
    if client.dpop_bound_access_tokens:
        body["dpop_bound_access_tokens"] = True  # RFC 9449 §5.2
    if client.backchannel_logout_uri:  # OIDC Back-Channel Logout 1.0 §2.2
        body["backchannel_logout_uri"] = client.backchannel_logout_uri
        body["backchannel_logout_session_required"] = client.backchannel_logout_session_required
    for name in ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg"):
        if getattr(client, name):
            body[name] = getattr(client, name)
    return body
