"""The UserInfo endpoint's logic (OIDC Core §5.3), a protected resource (RFC 6750).

The access token comes in the ``Authorization: Bearer`` header or a form body (RFC 6750
§2.1, §2.2), never in the URL; it is looked up by digest in this tenant's schema, and the
claims released are those of its scope (Core §5.4, ``claims.user_claims``).
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth import selectors
from oauth.models import Client
from oauth.oidc.claims import is_openid_scope, user_claims


@dataclass
class BearerError(Exception):
    """An RFC 6750 §3 answer: ``error`` empty when the request carried no token at all."""

    status: int
    error: str = ""
    description: str = ""
    scope: str = ""

    def www_authenticate(self, realm: str) -> str:
        parts = [f'realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict:
        if not self.error:
            return {}
        return {"error": self.error, "error_description": self.description}


def bearer_token(authorization: str | None, form_token: str | None, query_token: str | None):
    """The access token of a protected-resource request (RFC 6750 §2).

    The ``Authorization: Bearer`` header (§2.1) or, in a form POST, ``access_token`` (§2.2).
    The URI query (§2.3) is refused: tokens in URLs end up in logs (RFC 9700 §2.4). More
    than one method is ``invalid_request`` (§2); none at all is a bare 401 (§3.1).
    """
    header_token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
            raise BearerError(
                400, "invalid_request", "Send the access token as Authorization: Bearer <token>."
            )
        header_token = value.strip()
    if query_token:
        raise BearerError(
            400,
            "invalid_request",
            "Send the access token in the Authorization header, not in the URL.",
        )
    if header_token and form_token:
        raise BearerError(400, "invalid_request", "Send the access token one way only.")
    token = header_token or form_token
    if not token:
        raise BearerError(401)
    return token


def userinfo_response(access_token: str) -> tuple[dict, Client]:
    """Core §5.3.2: the claims the token's scope releases about its user (§5.4).

    The token is looked up by digest in this tenant's schema only, so another tenant's
    token, opaque or JWT, is unknown here. Revoked, expired, rotated-out, client-only and
    disabled-client tokens are ``invalid_token``; a token without ``openid`` is
    ``insufficient_scope`` (RFC 6750 §3.1).
    """
    found = selectors.token_by_value(value=access_token, hint=selectors.ACCESS, full=True)
    if found is None or found[1] != selectors.ACCESS:
        raise BearerError(401, "invalid_token", "The access token is not valid.")
    row, _kind = found
    if row.is_revoked() or row.is_expired() or row.client.disabled:
        raise BearerError(401, "invalid_token", "The access token is expired or revoked.")
    user = row.user if row.user_id is not None else None
    if user is None or not user.is_active:
        raise BearerError(401, "invalid_token", "The access token has no active user.")
    if not is_openid_scope(row.scope):
        raise BearerError(
            403, "insufficient_scope", "The access token lacks the openid scope.", "openid"
        )
    return user_claims(user, row.scope), row.client
