"""The tokens a grant issues: opaque bearer tokens (registered with
``register_token_generator``) and RFC 9068 JWT access tokens for clients that ask for them."""

from __future__ import annotations

from kernel import credentials
from oauth import selectors
from oauth.models import Client
from oauth.oidc import tokens as oidc_tokens
from oauth.signing.constants import DEFAULT_ALG
from oauth.signing.context import signing_context


def generate_bearer_token(
    grant_type: str,
    client: Client,
    user=None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict:
    """The token response body (RFC 6749 §5.1, RFC 6750): 256-bit random opaque tokens.

    Authlib's token generator signature. ``scope`` arrives resolved (the grant checked it
    against the client), so it is used as is. The lifetime is the client's, else the
    tenant's ``IssuerSettings``.
    """
    if expires_in is None:
        # JWT access tokens: ``jwt_access_token`` sets it again from the fresh lifetime.
        policy = selectors.issuer_policy()
        expires_in = client.access_token_lifetime or policy.access_token_lifetime
    token = {
        "access_token": credentials.new_secret(),
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if include_refresh_token:
        token["refresh_token"] = credentials.new_secret()
    if scope:
        token["scope"] = scope
    return token


def jwt_access_token(request, token: dict, *, user=None, auth_time=None) -> str | None:
    """RFC 9068: for a client registered with ``access_token_format=jwt``, replace the opaque
    access token in ``token`` by a JWT (``typ: at+jwt``, built by ``oidc``) signed with the
    tenant's current key (``oauth.signing``) and return its ``jti``; None for opaque clients.
    Its audience is ``request.audience``, which the grant resolved (``resources``).

    Called by the grants' storage, just before the token is stored: Authlib calls token
    generators without the request, so they cannot know the tenant's issuer or the audience.
    Like an opaque token the JWT is stored as a digest, so introspection and revocation treat
    both formats alike; resource servers may also verify it offline against JWKS.
    """
    client = request.client
    if not oidc_tokens.uses_jwt_access_tokens(client):
        return None
    # One statement for the key and the lifetimes (``oauth.signing.context``), read fresh:
    # ``sign_jwt`` bounds ``exp`` by them, so the tenant's lifetime comes from the same read
    # rather than from the process's few-seconds-old policy.
    context = signing_context(DEFAULT_ALG)
    if not client.access_token_lifetime:
        token["expires_in"] = context.access_token_lifetime
    token["access_token"], jti = oidc_tokens.build_jwt_access_token(
        issuer=request.issuer,
        client=client,
        user=user,
        scope=token.get("scope"),
        jkt=request.dpop_jkt,
        audience=request.audience,
        expires_in=token["expires_in"],
        auth_time=auth_time,
        context=context,
    )
    return jti
