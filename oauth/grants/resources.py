"""Resource indicators (RFC 8707) at the authorization and token endpoints.

Authlib 1.9.10 implements none of RFC 8707: its grants ignore ``resource``. These helpers are
called from our grants' ``validate_*`` overrides. A grant is bound to the resource its
authorization named (``GrantFamily.resource``): every access token of it, refreshed ones
included, has that audience, and a refresh naming another resource is ``invalid_target``
(RFC 8707 §2.2, MCP Authorization §2.5 "Token Audience Binding").
"""

from __future__ import annotations

from oauth.grants.errors import InvalidTargetError
from oauth.models import Client, RegistrationPolicy
from oauth.oidc import tokens as oidc_tokens


def allowed_resources(client: Client) -> list[str]:
    """The resources ``client`` may ask a token for: its own, and for a client that
    registered itself (RFC 7591, or a metadata document), those the tenant's registration
    policy opens to such clients (the MCP servers it protects: MCP Authorization §2.5)."""
    if client.registration:
        return [*client.resources, *RegistrationPolicy.load().resources]
    return list(client.resources)


def requested_resource(request, client: Client) -> str:
    """RFC 8707 §2: at most one ``resource``, and one the client may ask for."""
    resource = request.payload.data.get("resource") or ""
    if resource and resource not in allowed_resources(client):
        raise InvalidTargetError("The requested resource is not registered for this client.")
    return resource


def granted_resource(request, client: Client, granted: str) -> str:
    """RFC 8707 §2.2: a ``resource`` at the token endpoint must be registered for the client
    and, when the authorization named one, be that one; without it, the authorized one."""
    requested = requested_resource(request, client)
    if requested and granted and requested != granted:
        raise InvalidTargetError("The requested resource is not the one that was authorized.")
    return requested or granted


def token_audience(request, client: Client, resource: str) -> str:
    """The audience stored with the access token: the resource, or for RFC 9068 JWT access
    tokens the tenant's default (``oidc.tokens.access_token_audience``: never a client_id)."""
    if not oidc_tokens.uses_jwt_access_tokens(client):
        return resource
    try:
        return oidc_tokens.access_token_audience(resource=resource, issuer=request.issuer)
    except oidc_tokens.AudienceError as error:
        raise InvalidTargetError(str(error)) from None
