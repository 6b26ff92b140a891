"""The JWTs this issuer hands out: id_tokens and RFC 9068 access tokens.

id_token (OIDC Core §2, §3.1.3.6)
    ``iss`` (the request's issuer), ``sub``, ``aud`` (exactly the client_id: one audience,
    the authorized party itself, so ``azp`` is never needed), ``exp``
    (``ID_TOKEN_LIFETIME``), ``iat``, ``auth_time`` (always), ``nonce`` (when the
    authorization request had one), ``at_hash``, ``acr`` (always) and ``amr`` (when the
    sign-in's methods are known), as ``oauth.oidc.acr`` defines them (RFC 8176), ``sid``
    (the browser session, Back-Channel Logout 1.0 §2.1, when known). Signed
    RS256 unless the client registered ``id_token_signed_response_alg`` ES256 or PS256 (OIDC
    Registration §2). Under the FAPI 2.0 profile (``oauth.security_profile``) id_tokens and
    JWT access tokens are signed with the client's alg if FAPI 2.0 §5.4.1 allows it, else
    PS256: never RS256.

JWT access tokens (RFC 9068), per client (``Client.access_token_format = "jwt"``)
    Header ``typ: at+jwt`` (§2.1); ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``,
    ``iat``, ``jti``, ``scope`` and, for user grants, ``auth_time`` (§2.2). ``sub`` is the
    user's UUID, or the client_id for client credentials (§2.2). ``aud`` is the RFC 8707
    ``resource`` (the grant checks it against the client's ``resources``), else the
    tenant's ``IssuerSettings.default_resource``, else the issuer itself (the only resource
    it then serves is userinfo); never a client_id, so an access token can never pass for
    an id_token (RFC 9068 §4, §5). The token row stores the SHA-256 of the JWT and its
    ``jti``, so revocation and introspection treat it like an opaque token. A DPoP-bound
    token carries its key's thumbprint as ``cnf.jkt`` (RFC 9449 §6.1).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from joserfc.util import urlsafe_b64encode

from oauth import selectors
from oauth.models import Client
from oauth.oidc import acr
from oauth.security_profile import requirements
from oauth.signing.constants import DEFAULT_ALG, ID_TOKEN_LIFETIME, SUPPORTED_ALGS
from oauth.signing.context import SigningContext
from oauth.signing.jws import sign_jwt

#: RFC 9068 §2.1: the ``typ`` header of JWT access tokens (RFC 7515 §4.1.9 short form).
ACCESS_TOKEN_TYP = "at+jwt"
#: Bytes of randomness in a JWT access token's ``jti`` (RFC 7519 §4.1.7).
JTI_BYTES = 24


def half_hash(value: str, alg: str) -> str:
    """Core §3.1.3.6 ``at_hash`` (and §3.3.2.11 ``c_hash``): base64url of the left half of
    the hash of ``value``, with the hash of ``alg`` (SHA-256 for RS256, ES256 and PS256)."""
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"no hash defined for alg {alg!r}")
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return urlsafe_b64encode(digest[: len(digest) // 2]).decode("ascii")


#: FAPI 2.0 §5.4.1: the alg a FAPI client's JWTs are signed with when its own is not allowed.
FAPI2_SIGNING_ALG = "PS256"


def id_token_alg(client: Client) -> str:
    """The client's ``id_token_signed_response_alg`` (OIDC Registration §2), RS256 by
    default; only algs the tenant holds keys for are accepted. Under FAPI 2.0 an alg the
    profile does not allow (RS256) becomes PS256 (§5.4.1)."""
    alg = client.id_token_signed_response_alg or DEFAULT_ALG
    if alg not in SUPPORTED_ALGS:
        raise ValueError(
            f"client {client.client_id} asks for id_token alg {alg!r}; this server signs "
            f"with {', '.join(SUPPORTED_ALGS)}"
        )
    return _profile_alg(client, alg)


def access_token_alg(client: Client) -> str:
    """RS256 for RFC 9068 access tokens, or under FAPI 2.0 the client's id_token alg when
    the profile allows it, else PS256 (§5.4.1)."""
    return id_token_alg(client) if requirements(client).fapi2 else DEFAULT_ALG


def _profile_alg(client: Client, alg: str) -> str:
    needs = requirements(client)
    return FAPI2_SIGNING_ALG if needs.fapi2 and alg not in needs.signing_algs else alg


def _timestamp(value: datetime | int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def id_token_claims(
    *,
    issuer: str,
    client: Client,
    user,
    auth_time: datetime | int,
    nonce: str | None = None,
    access_token: str | None = None,
    amr: list[str] | None = None,
    alg: str = DEFAULT_ALG,
    now: int | None = None,
    sid: str | None = None,
) -> dict:
    """The claims of an id_token for ``user`` at ``client`` (Core §2, §3.1.3.6)."""
    now = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "sub": user.sub,
        "aud": client.client_id,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "auth_time": _timestamp(auth_time),
        "acr": acr.acr_for(amr or []),
    }
    if amr:
        claims["amr"] = list(amr)
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = half_hash(access_token, alg)
    if sid:
        claims["sid"] = sid
    return claims


def build_id_token(
    *,
    issuer: str,
    client: Client,
    user,
    auth_time: datetime | int,
    nonce: str | None = None,
    access_token: str | None = None,
    amr: list[str] | None = None,
    sid: str | None = None,
) -> str:
    """A signed id_token (Core §2) with the tenant's current key for the client's alg."""
    alg = id_token_alg(client)
    claims = id_token_claims(
        issuer=issuer,
        client=client,
        user=user,
        auth_time=auth_time,
        nonce=nonce,
        access_token=access_token,
        amr=amr,
        alg=alg,
        sid=sid,
    )
    return sign_jwt(claims, alg=alg)


class AudienceError(ValueError):
    """No usable ``aud`` for a JWT access token (the grant answers ``invalid_target``)."""


def uses_jwt_access_tokens(client: Client) -> bool:
    return client.access_token_format == Client.AccessTokenFormat.JWT


def access_token_audience(*, resource: str, issuer: str) -> str:
    """RFC 9068 §3 ``aud``: the requested ``resource`` (already checked against the
    client's registered resources, RFC 8707 §2), else the tenant's default resource, else
    the issuer. Never a client_id (RFC 9068 §4: an access token must not be mistaken for
    an id_token); the default resource is the only value an operator sets freely, so it is
    the one checked."""
    if resource:
        return resource
    audience = selectors.issuer_policy().default_resource or issuer
    if Client.objects.filter(client_id=audience).exists():
        raise AudienceError(
            "The tenant's default resource names a client; set it to the URI of an API."
        )
    return audience


def build_jwt_access_token(
    *,
    issuer: str,
    client: Client,
    user,
    scope: str | None,
    audience: str,
    expires_in: int,
    jkt: str | None = None,
    auth_time: datetime | int | None = None,
    now: int | None = None,
    act: dict | None = None,
    context: SigningContext | None = None,
) -> tuple[str, str]:
    """An RFC 9068 access token and its ``jti``, signed with the tenant's key
    (``access_token_alg``: RS256, under FAPI 2.0 PS256 or ES256).

    ``sub`` is the user's UUID for user grants and the client_id for client credentials
    (RFC 9068 §2.2); ``aud`` is ``audience`` as ``access_token_audience`` resolved it;
    ``act`` is the delegation chain of a token issued by token exchange (RFC 8693 §4.1).
    ``context``: the tenant's signing context, when the caller read it already.
    """
    now = int(time.time()) if now is None else now
    jti = secrets.token_urlsafe(JTI_BYTES)
    claims = {
        "iss": issuer,
        "exp": now + int(expires_in),
        "aud": audience,
        "sub": user.sub if user is not None else client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "jti": jti,
    }
    if jkt:
        claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1: bound to this DPoP key
    if scope:
        claims["scope"] = scope
    if user is not None and auth_time is not None:
        claims["auth_time"] = _timestamp(auth_time)
    if act:
        claims["act"] = act
    return sign_jwt(
        claims, alg=access_token_alg(client), typ=ACCESS_TOKEN_TYP, context=context
    ), jti
