"""The one AuthorizationServer, assembled here for every tenant (DESIGN.md §1).

It holds model classes and registrations only: the token generator, the client
authentication methods (``oauth.client_auth``), the grants and endpoints
(``oauth.grants.*``). Everything tenant-specific is computed per request: the issuer from
the request (``selectors.issuer_for_request``), the issuer policy from the tenant's
``IssuerSettings``, and every query runs on ``connection``, whose search_path the tenant
middleware set.

Requests reach the server as ``oauth.requests.GatehouseRequest``, already parsed by our
strict form parser.
"""

from __future__ import annotations

from contextvars import ContextVar

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Request
from django.http import HttpResponse

from oauth import client_assertion, client_auth, dpop, selectors
from oauth.client_auth import ClientAuthenticationFailed
from oauth.device import endpoint as device_endpoint
from oauth.device import grant as device_code
from oauth.grants import (
    authorization_code,
    client_credentials,
    endpoints,
    pkce,
    refresh_token,
    token_exchange,
)
from oauth.grants.errors import TemporarilyUnavailableError
from oauth.grants.par import PushedAuthorizationEndpoint
from oauth.grants.request_objects import RequestObjects
from oauth.grants.tokens import generate_bearer_token
from oauth.models import Client, Token
from oauth.registration import documents
from oauth.services.tokens import StaleClient
from oauth.signals import token_issued

#: Whether ``query_client`` may answer from the process's client cache: only while a
#: client-credentials request is answered, whose INSERT confirms the client row
#: (``oauth.services.tokens.token_issue``).
_cached_clients: ContextVar[bool] = ContextVar("gatehouse_cached_clients", default=False)
#: Fresh answers tried after a client turned out changed mid-request, before giving up.
STALE_CLIENT_RETRIES = 3


class GatehouseAuthorizationServer(AuthorizationServer):
    """Authlib's Django server with our storage hooks (``query_client``, ``save_token``)."""

    def __init__(self) -> None:
        super().__init__(Client, Token)

    def query_client(self, client_id: str) -> Client | None:
        """The client named ``client_id``; an https URL is a Client ID Metadata Document
        (``oauth.registration.documents``), resolved under the tenant's policy."""
        if documents.is_document_client_id(client_id):
            return documents.document_client_or_none(client_id)
        return selectors.client_by_client_id(client_id=client_id, cached=_cached_clients.get())

    def save_token(self, token: dict, request) -> Token:
        """Authlib's storage hook (RFC 6749 §5.1), called by every grant's
        ``create_token_response`` between generating the token and answering: the grant's
        own ``save_token``, told apart by what its validation put on the request. Only
        digests are stored (DESIGN.md §3). A code exchange consumes the code and a refresh
        rotates the presented token in the same transaction, under a row lock (RFC 6749
        §4.1.2, RFC 9700 §4.14.2); a code or refresh token another request consumed first is
        ``invalid_grant`` here. A DPoP proof binds the tokens to its key first (RFC 9449 §5,
        ``oauth.dpop``), before anything is stored."""
        dpop.bind_token_request(token, request)
        if request.authorization_code is not None:
            row = authorization_code.save_token(token, request)
        elif request.refresh_token is not None:
            row = refresh_token.save_token(token, request)
        elif request.payload.grant_type == token_exchange.TokenExchangeGrant.GRANT_TYPE:
            row = token_exchange.save_token(token, request)
        elif request.payload.grant_type == device_code.GRANT_TYPE:
            row = device_code.save_token(token, request)
        else:
            row = client_credentials.save_token(token, request)
        if request.dpop_jkt is not None and row.dpop_jkt != request.dpop_jkt:
            # Fail closed: a grant whose storage forgot the binding must not hand out a
            # "DPoP" token that works as a bearer token.
            raise RuntimeError("a DPoP-bound token was stored without its key thumbprint")
        token_issued.send(
            sender=type(self),
            grant_type=request.payload.grant_type,
            client_id=request.client.client_id,
        )
        return row

    def authenticate_client(self, request, methods, endpoint="token") -> Client:
        """Authlib's ``ClientAuthentication`` with our registered methods. When none of them
        authenticates the client, Authlib raises a generic ``invalid_client``: 400 unless
        ``client_secret_basic`` is among ``methods``, with a challenge lacking the realm RFC
        7617 §2 requires. It becomes a 401 that says why (``client_auth.refusal``)."""
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except ClientAuthenticationFailed:
            raise
        except InvalidClientError:
            raise client_auth.refusal(
                request, methods=methods, endpoint=endpoint, query_client=self.query_client
            ) from None
        # CORS answers the authenticated client's registered origins (oauth.cors).
        request.http_request.oauth_client = client
        return client

    def create_oauth2_request(self, request) -> OAuth2Request:
        """Authlib's ``DjangoOAuth2Request`` reads parameters from the query string and the
        body together and keeps empty and repeated values (see ``oauth.requests``); requests
        arrive here already parsed, as ``GatehouseRequest``."""
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a GatehouseRequest with oauth.requests.oauth_request()")

    def create_token_response(self, request=None) -> HttpResponse:
        """Authlib's ``get_token_grant`` answers a request without ``grant_type`` with
        ``unsupported_grant_type`` ("grant_type=None is not supported"); RFC 6749 §5.2: a
        missing required parameter is ``invalid_request``."""
        if not request.payload.grant_type:
            error = InvalidRequestError("The grant_type parameter is missing.")
            return self.handle_error_response(request, error)
        if request.payload.grant_type != "client_credentials":
            return super().create_token_response(request)
        # The hot path: the client may come from the process's cache, confirmed by the
        # INSERT (oauth.services.tokens.token_issue).
        return self._with_cached_clients(request, super().create_token_response)

    def create_endpoint_response(self, name, request=None):
        """Introspection, a resource server's hot path, may take the caller from the
        process's client cache: the token query confirms it (``oauth.grants.endpoints``)."""
        if name != endpoints.IntrospectionEndpoint.ENDPOINT_NAME:
            return super().create_endpoint_response(name, request)
        return self._with_cached_clients(
            request,
            lambda req: super(GatehouseAuthorizationServer, self).create_endpoint_response(
                name, req
            ),
        )

    def _with_cached_clients(self, request, answer) -> HttpResponse:
        """``answer(request)`` with ``query_client`` allowed to use the client cache; when
        the client turns out changed mid-request (``StaleClient``), answered again from a
        fresh read (``PolicyChanged`` when it was the issuer policy); after
        ``STALE_CLIENT_RETRIES`` such turns, 503 ``temporarily_unavailable``."""
        reset = _cached_clients.set(True)
        try:
            for _ in range(STALE_CLIENT_RETRIES):
                try:
                    return answer(request)
                except StaleClient as stale:
                    selectors.forget_cached_client(client_id=str(stale))
                    # The statement confirmed neither: the client, or an aged issuer policy,
                    # changed. A changed policy answers the request again from the start.
                    if not selectors.policy_still_current():
                        raise selectors.PolicyChanged from None
                    _cached_clients.set(False)
        finally:
            _cached_clients.reset(reset)
        error = TemporarilyUnavailableError("The client changed during the request; retry.")
        return self.handle_error_response(request, error)


def json_error(error: OAuth2Error) -> HttpResponse:
    """An RFC 6749 §5.2 error answer outside Authlib (parsing, wrong method)."""
    return server.handle_error_response(None, error)


#: Extensions of the authorization-code grant, applied at both the authorization and the
#: token endpoint: PKCE (RFC 7636, S256 only) and the id_token (OIDC Core §3.1.3.3).
CODE_GRANT_EXTENSIONS: list = [pkce.CodeChallenge(required=True), authorization_code.OpenIDToken()]

server = GatehouseAuthorizationServer()
server.register_token_generator("default", generate_bearer_token)
server.register_client_auth_method(client_auth.BASIC, client_auth.authenticate_client_secret_basic)
server.register_client_auth_method(client_auth.POST, client_auth.authenticate_client_secret_post)
server.register_client_auth_method(client_auth.NONE, client_auth.authenticate_none)
server.register_client_auth_method(
    client_auth.PRIVATE_KEY_JWT, client_assertion.authenticate_private_key_jwt
)
server.register_client_auth_method(
    client_auth.SECRET_JWT, client_assertion.authenticate_client_secret_jwt
)
server.register_grant(client_credentials.ClientCredentialsGrant)
server.register_grant(authorization_code.AuthorizationCodeGrant, CODE_GRANT_EXTENSIONS)
server.register_grant(refresh_token.RefreshTokenGrant)
server.register_grant(token_exchange.TokenExchangeGrant)
server.register_grant(device_code.DeviceCodeGrant, [device_code.DeviceOpenIDToken()])
server.register_endpoint(endpoints.RevocationEndpoint)
server.register_endpoint(endpoints.IntrospectionEndpoint)
server.register_endpoint(device_endpoint.DeviceAuthorizationEndpoint)
server.register_endpoint(PushedAuthorizationEndpoint)
server.register_extension(RequestObjects())
