"""The pushed authorization request endpoint, ``/oauth/par`` (RFC 9126 §2), an Authlib
``Endpoint`` registered on the server (``oauth.server``).

RFC 9126 §2.1: the client authenticates as at the token endpoint, with its registered method
(``Client.check_endpoint_auth_method(method, "par")``; every method the server registers,
``oauth.client_auth.TOKEN_ENDPOINT_AUTH_METHODS``), and sends the authorization request's
parameters in the body, or a signed request object in ``request`` (RFC 9126 §3). They are
validated exactly as the authorization endpoint validates them, by the same grant and the
same request-object hook (``oauth.grants.request_objects``): redirect URI exact match,
response type, scope, PKCE S256, resource, the client's profile. The answer is 201 with a
single-use ``request_uri`` and its ``expires_in`` (§2.2), stored by ``oauth.pushed_requests``.
Errors are RFC 9126 §2.3 JSON: 400 with the grant's error code (``invalid_request``,
``invalid_scope``, ``invalid_request_object``...), 401 ``invalid_client``; never a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest

from oauth import client_auth, pushed_requests
from oauth.grants.errors import TemporarilyUnavailableError
from oauth.requests import GatehouseRequest

#: Client authentication parameters: not part of the authorization request (RFC 6749
#: §2.3.1, RFC 7521 §4.2).
CLIENT_AUTH_PARAMETERS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
]


@dataclass
class PushedAuthorizationRequest(EndpointRequest):
    """A validated push: the authenticated client and the parameters to store."""

    params: dict | None = None


class PushedAuthorizationEndpoint(Endpoint):
    """RFC 9126 §2."""

    ENDPOINT_NAME = "par"

    def validate_request(self, request) -> PushedAuthorizationRequest:
        """RFC 9126 §2.1: authenticate the client, then validate its authorization request
        as ``/oauth/authorize`` would (``get_authorization_grant`` runs the request-object
        hook; ``validate_consent_request`` the grant's checks and its extensions)."""
        client = self.server.authenticate_client(
            request, list(client_auth.TOKEN_ENDPOINT_AUTH_METHODS), endpoint="par"
        )
        datalist = request.payload.datalist
        if datalist.get("client_id", [client.client_id]) != [client.client_id]:
            raise InvalidRequestError("The client_id differs from the authenticated client.")
        params = {k: v for k, v in datalist.items() if k not in CLIENT_AUTH_PARAMETERS}
        params["client_id"] = [client.client_id]
        pushed = GatehouseRequest(request.http_request, params)
        pushed.pushing = True
        try:
            grant = self.server.get_authorization_grant(pushed)
            grant.validate_no_multiple_request_parameter(pushed)
            grant.validate_consent_request()
        except OAuth2Error as error:
            # RFC 9126 §2.3: a JSON error response, never a redirect.
            error.redirect_uri = None
            error.state = None
            raise
        return PushedAuthorizationRequest(
            request=request, client=client, params=pushed.payload.datalist
        )

    def create_response(self, validated: PushedAuthorizationRequest):
        """RFC 9126 §2.2: 201 with ``request_uri`` and ``expires_in``."""
        try:
            request_uri, expires_in = pushed_requests.push(
                client_id=validated.client.client_id, params=validated.params
            )
        except pushed_requests.PushedRequestError as error:
            raise TemporarilyUnavailableError(str(error)) from None
        return 201, {"request_uri": request_uri, "expires_in": expires_in}, _HEADERS
