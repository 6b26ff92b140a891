"""OAuth 2.0 Token Exchange (RFC 8693) at the token endpoint.

::

    client (S1) --- subject_token (a user's access token or id_token, of this tenant)
                    [actor_token (S1's own token): delegation]
                    [resource | audience] [scope] [requested_token_type] ---> /oauth/token
               <--- access_token, issued_token_type, token_type Bearer, expires_in, scope

Impersonation (no ``actor_token``, §1.1): the issued token stands for the subject token's
user (its ``sub``) and keeps any ``act`` chain the subject token carried, so an exchange never
hides who acted before. Delegation (``actor_token``): the issued token carries ``act``
(§4.1) naming the actor's ``sub`` (its user, or its client_id for a client's own token),
with the subject token's chain nested inside it: a token of user A exchanged by S1 and the
result exchanged by S2 carries ``act: {sub: S2, act: {sub: S1}}``. An actor token that is
itself a delegated token (with ``act``) is refused: the actor names itself, the chain comes
from the subject.

Policy, per client:

- only a confidential client registered with the token-exchange grant type exchanges
  (``unauthorized_client`` otherwise, RFC 6749 §5.2);
- the target (``resource`` or ``audience``, §2.1; one value, as each of our tokens has one
  audience) must be the subject token's own audience or one of the client's
  ``token_exchange_audiences``; anything else is ``invalid_target`` (§2.2.2). Without a
  target the issued token has the subject token's audience;
- the scope is the subject token's, or a narrower ``scope``; never wider (``invalid_scope``);
- the lifetime is the client's (else the tenant's) access token lifetime, never beyond the
  subject token's expiry (nor the actor token's);
- ``requested_token_type`` may only be ``...:token-type:access_token`` (the default): no
  refresh token is issued (§2.2.1: OPTIONAL; the exchanged token lives at most as long as
  its subject token, and the client exchanges again), and id_tokens are issued only by the
  authorization code flow.

Which subject and actor tokens are accepted: ``oauth.exchange.selectors``. The issued token is
stored like any other (digest only, its client the exchanging one, ``act`` in ``Token.act``
for introspection), in the grant family of its subject token, so revoking the user's grant
revokes what was exchanged from it; every exchange is audited (``oauth.exchange.services``).
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from django.utils import timezone

from oauth import selectors
from oauth.client_auth import BASIC, POST
from oauth.exchange import ACCEPTED_TOKEN_TYPES, ACCESS_TOKEN_TYPE, ISSUED_TOKEN_TYPES
from oauth.exchange.selectors import ExchangedToken, exchanged_token
from oauth.exchange.services import exchanged_token_issue
from oauth.grant_types import TOKEN_EXCHANGE
from oauth.grants import resources
from oauth.grants.errors import InvalidTargetError, safe_text
from oauth.models import Client, Token
from oauth.oidc import tokens as oidc_tokens

#: The deepest ``act`` chain an exchange builds: a bound on how far tokens are passed on.
MAX_ACT_DEPTH = 8


@dataclass(frozen=True)
class Exchange:
    """What a validated exchange issues, resolved by ``TokenExchangeGrant``."""

    subject: ExchangedToken
    actor: ExchangedToken | None
    scope: str
    audience: str
    expires_in: int
    act: dict | None


def _presented(data: dict, name: str) -> tuple[str, str]:
    """``name`` and ``name_type`` (RFC 8693 §2.1: each REQUIRED with the other)."""
    value, token_type = data.get(name), data.get(f"{name}_type")
    if not value:
        raise InvalidRequestError(f"The {name} parameter is missing.")
    if not token_type:
        raise InvalidRequestError(f"The {name}_type parameter is missing (RFC 8693 section 2.1).")
    if token_type not in ACCEPTED_TOKEN_TYPES:
        raise InvalidRequestError(
            f"The {name}_type {safe_text(token_type)} is not supported; this server accepts "
            f"{' and '.join(ACCEPTED_TOKEN_TYPES)}."
        )
    return value, token_type


def _depth(act) -> int:
    depth = 0
    while isinstance(act, dict):
        depth, act = depth + 1, act.get("act")
    return depth


def delegation_chain(subject: ExchangedToken, actor: ExchangedToken | None) -> dict | None:
    """RFC 8693 §4.1: the issued token's ``act``. Delegation puts the actor outermost and
    the subject token's chain (its prior actors) inside; impersonation keeps the subject
    token's chain as it was."""
    if actor is None:
        return subject.act
    if actor.act:
        raise InvalidGrantError(
            "The actor_token is itself a delegated token (it has an act claim); present the "
            "actor's own token."
        )
    act = {"sub": actor.sub}
    if subject.act:
        act["act"] = subject.act
    if _depth(act) > MAX_ACT_DEPTH:
        raise InvalidGrantError(
            f"The delegation chain would be longer than {MAX_ACT_DEPTH} actors."
        )
    return act


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    """RFC 8693 §2 at the token endpoint, for confidential clients (``client_secret_basic``
    or ``_post``) registered with the token-exchange grant type."""

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST]

    def validate_token_request(self) -> None:
        """RFC 8693 §2.1, §2.2.2: authenticate the client, check its policy and both tokens,
        and resolve what to issue into ``request.exchange``."""
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for token exchange; an admin can add the "
                f"grant type {TOKEN_EXCHANGE} to it."
            )
        request = self.request
        request.client = client
        data = request.payload.data
        requested = data.get("requested_token_type") or ACCESS_TOKEN_TYPE
        if requested not in ISSUED_TOKEN_TYPES:
            raise InvalidRequestError(
                f"The requested_token_type {safe_text(requested)} is not supported; this "
                f"server issues {' and '.join(ISSUED_TOKEN_TYPES)} by token exchange."
            )
        subject_value, subject_type = _presented(data, "subject_token")
        actor_presented = None
        if data.get("actor_token") or data.get("actor_token_type"):
            actor_presented = _presented(data, "actor_token")
        subject = self._token(subject_value, subject_type, "subject_token")
        if subject.user is None:
            raise InvalidGrantError(
                "The subject_token is a client's own token (client credentials); token "
                "exchange acts for users: present a token issued for a user."
            )
        actor = self._token(*actor_presented, "actor_token") if actor_presented else None
        act = delegation_chain(subject, actor)
        audience = self._audience(data, client, subject)
        request.exchange = Exchange(
            subject=subject,
            actor=actor,
            scope=self._scope(data.get("scope"), subject),
            audience=audience,
            expires_in=self._lifetime(client, subject, actor),
            act=act,
        )

    def _token(self, value: str, token_type: str, name: str) -> ExchangedToken:
        return exchanged_token(
            value=value,
            token_type=token_type,
            issuer=self.request.issuer,
            client=self.request.client,
            name=name,
        )

    def _audience(self, data: dict, client: Client, subject: ExchangedToken) -> str:
        """RFC 8693 §2.1 ``resource`` / ``audience``, §2.2.2 ``invalid_target``: the subject
        token's own audience, or one the client's policy lists; RFC 9068 JWTs get the
        tenant's default audience when there is none (``resources.token_audience``)."""
        targets = list(dict.fromkeys(t for t in (data.get("resource"), data.get("audience")) if t))
        if len(targets) > 1:
            raise InvalidTargetError(
                "Name one target, as resource or as audience: an exchanged token has one audience."
            )
        target = targets[0] if targets else subject.audience
        allowed = [*client.token_exchange_audiences, subject.audience]
        if target and target not in allowed:
            raise InvalidTargetError(
                "This client may not request tokens for that audience; an admin can add it "
                "to the client's token exchange audiences."
            )
        return resources.token_audience(self.request, client, target)

    @staticmethod
    def _scope(requested: str | None, subject: ExchangedToken) -> str:
        """Never wider than the subject token's scope (RFC 8693 §2.1 ``scope``, §5)."""
        if not requested:
            return subject.scope
        granted = set(scope_to_list(subject.scope))
        scopes = list(dict.fromkeys(scope_to_list(requested)))
        if any(scope not in granted for scope in scopes):
            raise InvalidScopeError(
                "The requested scope is wider than the subject token's "
                f"({safe_text(subject.scope) or 'no scope'})."
            )
        return list_to_scope(scopes)

    @staticmethod
    def _lifetime(client: Client, subject: ExchangedToken, actor: ExchangedToken | None) -> int:
        """The client's (else the tenant's) access token lifetime, cut to end no later than
        the subject token (and the actor token)."""
        jwt = oidc_tokens.uses_jwt_access_tokens(client)
        lifetime = (
            client.access_token_lifetime or selectors.issuer_policy(fresh=jwt).access_token_lifetime
        )
        now = timezone.now()
        ends = [subject.expires_at] + ([actor.expires_at] if actor is not None else [])
        remaining = int(min(end - now for end in ends).total_seconds())
        if remaining < 1:
            raise InvalidGrantError("The subject_token or actor_token has expired.")
        return min(lifetime, remaining)

    @hooked
    def create_token_response(self):
        """RFC 8693 §2.2.1: ``access_token``, ``issued_token_type``, ``token_type``
        (Bearer), ``expires_in``, ``scope``; no refresh token."""
        exchange = self.request.exchange
        token = self.generate_token(
            scope=exchange.scope, expires_in=exchange.expires_in, include_refresh_token=False
        )
        self.save_token(token)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        return 200, token, self.TOKEN_RESPONSE_HEADER


def save_token(token: dict, request) -> Token:
    """Store the exchanged token with its audit row (``oauth.exchange.services``); for an
    RFC 9068 client the opaque value in ``token`` is first replaced by a JWT with ``act``."""
    exchange: Exchange = request.exchange
    client = request.client
    jti = None
    if oidc_tokens.uses_jwt_access_tokens(client):
        token["access_token"], jti = oidc_tokens.build_jwt_access_token(
            issuer=request.issuer,
            client=client,
            user=exchange.subject.user,
            scope=token.get("scope"),
            audience=exchange.audience,
            expires_in=token["expires_in"],
            act=exchange.act,
            jkt=request.dpop_jkt,
        )
    actor = exchange.actor
    return exchanged_token_issue(
        client=client,
        token=token,
        user_id=exchange.subject.user.pk,
        audience=exchange.audience,
        act=exchange.act,
        jti=jti,
        dpop_jkt=request.dpop_jkt,
        family_id=exchange.subject.family_id,
        record={
            "subject": exchange.subject.sub,
            "subject_type": exchange.subject.kind,
            "actor": actor.sub if actor is not None else None,
            "actor_type": actor.kind if actor is not None else None,
            "audience": exchange.audience,
            "scope": exchange.scope,
        },
    )
