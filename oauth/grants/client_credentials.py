"""The client credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.hooks import hooked

from oauth.client_auth import ASSERTION_METHODS, BASIC, POST
from oauth.grants import resources, scopes, tokens
from oauth.models import Token
from oauth.services import tokens as token_services


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4 for confidential clients, ``client_secret_basic`` or ``_post``.

    Scope omitted: the client's default scopes; any scope outside the client's allowed
    scopes: ``invalid_scope`` (§3.3). No refresh token (§4.4.3).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST, *ASSERTION_METHODS]

    def validate_requested_scope(self) -> None:
        """Authlib checks the requested scope only against the server-wide
        ``scopes_supported``; RFC 6749 §3.3 needs the client's own scopes (its defaults when
        the request names none), resolved here into ``request.scope``."""
        self.request.scope = scopes.allowed_scope(self.client, self.request.payload.scope)

    def validate_token_request(self) -> None:
        """Authlib's ``validate_token_request`` ignores ``resource``; RFC 8707 §2: it must be
        registered for the client (else ``invalid_target``) and becomes the audience."""
        super().validate_token_request()
        resource = resources.requested_resource(self.request, self.client)
        self.request.audience = resources.token_audience(self.request, self.client, resource)

    @hooked
    def create_token_response(self):
        """RFC 6749 §4.4.3: Authlib's ``create_token_response`` logs the issued token in clear
        at DEBUG level (``log.debug("Issue token %r to %r", ...)``; RFC 6749 §10.3: access
        tokens MUST be kept confidential in storage) and issues ``request.payload.scope``,
        the scope as the client sent it (its default ``BearerTokenGenerator`` resolves it
        again, a custom generator does not). This issues the resolved ``request.scope``
        (RFC 6749 §3.3) and logs nothing."""
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def save_token(token: dict, request) -> Token:
    """Store a client's own access token: one INSERT (the benchmarked hot path)."""
    jti = tokens.jwt_access_token(request, token)
    return token_services.token_issue(
        client=request.client,
        token=token,
        audience=request.audience,
        jti=jti,
        dpop_jkt=request.dpop_jkt,
    )
