"""Token revocation (RFC 7009) and introspection (RFC 7662), Authlib's endpoints with our
storage hooks."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from oauth import dpop, selectors
from oauth.client_auth import ASSERTION_METHODS, BASIC, NONE, POST
from oauth.models import Client, Token
from oauth.services import tokens as token_services


@dataclass(frozen=True)
class PresentedToken:
    """A token as presented to revocation or introspection: its row and which of the row's
    two values (``selectors.ACCESS`` or ``selectors.REFRESH``) it is. A row holds an access
    token and its refresh token, each with its own expiry, where Authlib's ``TokenMixin``
    knows one."""

    row: Token
    kind: str

    def check_client(self, client: Client) -> bool:
        return self.row.check_client(client)

    def is_expired(self) -> bool:
        if self.kind == selectors.ACCESS:
            return self.row.is_expired()
        return self.row.is_refresh_expired()

    def is_revoked(self) -> bool:
        return self.row.is_revoked()


#: The introspecting client, when it came from the process's client cache: the token
#: query confirms it (``selectors.token_by_value``), set per request in ``check_params``.
_caller_to_confirm: ContextVar[Client | None] = ContextVar("gatehouse_caller", default=None)


def _query_token(
    token_string: str, token_type_hint: str | None, *, confirm: Client | None = None
) -> PresentedToken | None:
    found = selectors.token_by_value(value=token_string, hint=token_type_hint, confirm=confirm)
    if confirm is not None and (found is None or not found[0].confirmed):
        # Unconfirmed: the caller changed, or no row could say. Answer again from a fresh
        # read of the client (oauth.server): an unknown token costs that one more query.
        raise token_services.StaleClient(confirm.client_id)
    return PresentedToken(*found) if found is not None else None


def _check_token_present(request) -> None:
    """Authlib's ``check_params`` refuses a ``token_type_hint`` it does not know with
    ``unsupported_token_type``. RFC 7009 §2.1 and RFC 7662 §2.1: the hint only orders the
    search, which extends to every token type when the hint is wrong, so only a missing
    ``token`` is an error (``unsupported_token_type`` is for token types the server cannot
    revoke, RFC 7009 §2.2.1)."""
    if not request.form.get("token"):
        raise InvalidRequestError("The token parameter is missing.")


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009. Confidential clients authenticate with a secret; a public client names
    itself with ``client_id`` (§2.1). Unknown, expired or already revoked tokens: 200
    (§2.2). Another client's token: refused with ``invalid_grant``, nothing revoked."""

    CLIENT_AUTH_METHODS = [BASIC, POST, NONE, *ASSERTION_METHODS]

    def check_params(self, request, client) -> None:
        _check_token_present(request)

    def query_token(self, token_string: str, token_type_hint: str | None):
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token: PresentedToken, request) -> None:
        token_services.token_revoke(token=token.row, kind=token.kind)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662. Answers the token's own client and clients marked ``can_introspect``;
    anyone else, and every revoked, expired, rotated-out or unknown token, gets
    ``{"active": false}`` (§2.2, §4: no token scanning)."""

    CLIENT_AUTH_METHODS = [BASIC, POST, *ASSERTION_METHODS]

    def check_params(self, request, client) -> None:
        _check_token_present(request)
        _caller_to_confirm.set(client if getattr(client, "from_cache", False) else None)

    def query_token(self, token_string: str, token_type_hint: str | None):
        return _query_token(token_string, token_type_hint, confirm=_caller_to_confirm.get())

    def check_permission(self, token: PresentedToken, client: Client, request) -> bool:
        return token.row.client_id == client.pk or client.can_introspect

    def introspect_token(self, token: PresentedToken) -> dict:
        """RFC 7662 §2.2 for a token Authlib found neither expired nor revoked. A disabled
        client's tokens, and a deactivated user's, stop working at once: the console's
        "Disable" is the tenant admin's kill switch."""
        row = token.row
        if row.client.disabled or (row.user_id is not None and not row.user.is_active):
            return {"active": False}
        if token.kind == selectors.ACCESS:
            expires_at, token_type, scope = row.access_expires_at, "Bearer", row.scope
            if row.dpop_jkt:  # RFC 9449 §6.2
                token_type = dpop.SCHEME
        else:
            expires_at, token_type = row.refresh_expires_at, "refresh_token"
            scope = row.family.scope if row.family_id else row.scope
        payload = {
            "active": True,
            "client_id": row.client.client_id,
            "scope": scope,
            "exp": int(expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "token_type": token_type,
        }
        if row.user_id is not None:
            payload["sub"] = str(row.user_id)
        if row.audience:
            payload["aud"] = row.audience
        if row.act:
            payload["act"] = row.act  # RFC 8693 §4.1, §2.2.1: a token issued by delegation
        if token.kind == selectors.ACCESS:
            payload.update(dpop.confirmation(row))
        return payload

    def create_endpoint_response(self, request):
        """Authlib's response, plus ``iss`` in an active answer (RFC 7662 §2.2): the tenant's
        issuer comes from the request, which Authlib does not pass to ``introspect_token``."""
        status, body, headers = super().create_endpoint_response(request)
        if body.get("active"):
            body["iss"] = request.issuer
        return status, body, headers
