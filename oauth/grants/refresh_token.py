"""The refresh token grant (RFC 6749 §6) with rotation on every use and reuse detection
(RFC 9700 §4.14.2); races and reuse are decided in
``oauth.services.tokens.refresh_token_rotate``."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidGrantError, grants
from authlib.oauth2.rfc6749.hooks import hooked

from oauth import dpop, selectors
from oauth.client_auth import ASSERTION_METHODS, BASIC, NONE, POST
from oauth.grants import resources, tokens
from oauth.models import Client, Token
from oauth.services import tokens as token_services


@dataclass(frozen=True)
class RefreshCredential:
    """A refresh token as Authlib's ``RefreshTokenGrant`` uses it (``check_client``,
    ``get_scope``). It grants what the user granted its family (``GrantFamily.scope``), the
    scope RFC 6749 §6 compares a refresh request with and issues when the request names
    none. ``Token.get_scope()`` is the scope of the access token issued with it, which a
    narrower refresh narrowed: Authlib's default storage keeps only that one, so after one
    narrower refresh the originally granted scope would be lost."""

    row: Token

    def check_client(self, client: Client) -> bool:
        return self.row.check_client(client)

    def get_scope(self) -> str:
        return self.row.family.scope


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use: each refresh adds a member to the grant family and retires the
    presented one. A narrower ``scope`` narrows only the new access token."""

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST, NONE, *ASSERTION_METHODS]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        """Authlib's ``validate_token_request`` ignores ``resource``; RFC 8707 §2.2: it must be
        registered for the client and be the one the grant was authorized for; it becomes
        the new access token's audience (else the presented token's)."""
        super().validate_token_request()
        request = self.request
        row = request.refresh_token.row
        resource = resources.granted_resource(request, request.client, row.family.resource)
        request.audience = resources.token_audience(
            request, request.client, resource or row.audience
        )

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        """The token row of this refresh token, however it ended: revoked, expired and rotated
        out ones are told apart in ``save_token``, where reuse revokes the family."""
        row = selectors.refresh_token_by_value(value=refresh_token)
        if row is None or row.family_id is None:
            # Authlib would answer a bare invalid_grant; say what is wrong (RFC 6749 §5.2).
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.")
        return RefreshCredential(row)

    def authenticate_user(self, refresh_token: RefreshCredential):
        user = refresh_token.row.user
        return user if user is not None and user.is_active else None

    @hooked
    def create_token_response(self):
        """RFC 6749 §6: Authlib's ``create_token_response`` without its
        ``log.debug("Issue token %r to %r", token, client)``, which writes the new access and
        refresh token in clear to the log at DEBUG level (RFC 6749 §10.3-10.4: they MUST be
        kept confidential in storage), and with ``invalid_grant`` for a refresh token whose
        user is gone, where Authlib answers ``invalid_request`` (RFC 6749 §5.2: a grant no
        longer valid)."""
        refresh_token = self.request.refresh_token
        user = self.authenticate_user(refresh_token)
        if not user:
            raise InvalidGrantError("The user of this refresh token is not active.")
        token = self.issue_token(user, refresh_token)
        self.request.user = user
        self.save_token(token)
        self.revoke_old_credential(refresh_token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def revoke_old_credential(self, refresh_token: RefreshCredential) -> None:
        """Authlib calls this after ``save_token``, so between the two a concurrent refresh
        could rotate the same token (RFC 9700 §4.14.2). The presented token is retired in
        ``save_token`` instead, under the family's row lock."""


def save_token(token: dict, request) -> Token:
    """Rotate ``request.refresh_token`` into ``token`` (``services.tokens.refresh_token_rotate``).
    A token retired within the tenant's reuse window is a lost race, later it is reuse and
    revokes the family; either way, like a revoked or expired one, ``invalid_grant``."""
    row = request.refresh_token.row
    dpop.check_refresh_binding(request, bound_jkt=row.dpop_jkt)
    jti = tokens.jwt_access_token(request, token, user=request.user, auth_time=row.family.auth_time)
    result = token_services.refresh_token_rotate(
        token_id=row.pk,
        family_id=row.family_id,
        client=request.client,
        token=token,
        jti=jti,
        audience=request.audience,
        dpop_jkt=request.dpop_jkt,
        reuse_window=selectors.issuer_policy(fresh=True).refresh_reuse_window,
    )
    if result.outcome is not token_services.Rotation.ROTATED:
        raise InvalidGrantError(result.description)
    return result.token
