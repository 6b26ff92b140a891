"""OpenID Connect for every tenant: claims, id_tokens, JWT access tokens, userinfo, discovery
and RP-initiated logout. Signing and verification are ``oauth.signing``'s, with the tenant's
own keys; nothing here is cached across tenants (DESIGN.md §1).

Claims (OIDC Core §5.1, §5.4)
    ``openid`` yields ``sub`` (the user's UUID, ``user.sub``) and nothing else; ``profile``
    adds ``name``, ``given_name``, ``family_name`` and ``preferred_username``; ``email`` adds
    ``email`` and a boolean ``email_verified``. Empty values are left out (Core §5.3.2).
    They are served at userinfo; the id_token of the code flow carries ``sub`` and the
    protocol claims only, since an access token for userinfo is always issued with it
    (Core §5.4). ``updated_at`` is not served: users have no modification time yet.

id_token (OIDC Core §2, §3.1.3.6)
    ``iss`` (the request's issuer), ``sub``, ``aud`` (exactly the client_id: one audience,
    the authorized party itself, so ``azp`` is never needed), ``exp`` (``ID_TOKEN_LIFETIME``),
    ``iat``, ``auth_time`` (always), ``nonce`` (when the authorization request had one),
    ``at_hash``. Signed RS256 unless the client registered ``id_token_signed_response_alg``
    ES256 (OIDC Registration §2).

JWT access tokens (RFC 9068), per client (``Client.access_token_format = "jwt"``)
    Header ``typ: at+jwt``; ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``,
    ``jti``, ``scope`` and, for user grants, ``auth_time``. ``sub`` is the user's UUID, or
    the client_id for client credentials (§2.2). ``aud`` is the RFC 8707 ``resource`` (the
    grant checks it against the client's ``resources``), else the tenant's
    ``IssuerSettings.default_resource``, else the issuer itself (the only resource it then
    serves is userinfo); never a client_id, so an access token can never pass for an
    id_token (RFC 9068 §4, §5). The token row stores the SHA-256 of the JWT and its ``jti``,
    so revocation and introspection treat it like an opaque token.

RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)
    ``id_token_hint`` is verified with ``signing.verify_jwt`` (current or retiring key of this
    tenant, ``iss`` this issuer, not an ``at+jwt`` access token; expired hints are accepted,
    §2); its ``aud``, or ``client_id``, names the client. ``post_logout_redirect_uri`` must
    exactly match one that client registered (§3) and gets ``state`` back. Without a valid
    hint, or with one for another user than the one signed in, the user confirms first (§6:
    logout requests are a denial-of-service vector).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from authlib.common.urls import add_params_to_uri
from django.urls import reverse

from oauth import selectors, signing
from oauth.models import Client

#: The scope values with an OIDC meaning (Core §5.4) and the claims each releases.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
}
#: Claims an id_token of this server may carry (Core §2).
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash")
#: RFC 9068 §2.1: the ``typ`` header of JWT access tokens (RFC 7515 §4.1.9 short form).
ACCESS_TOKEN_TYP = "at+jwt"
#: Bytes of randomness in a JWT access token's ``jti`` (RFC 7519 §4.1.7).
JTI_BYTES = 24
#: An expired id_token_hint is still a valid hint (RP-Initiated Logout §2); how long after
#: its ``exp`` is bounded anyway by its key: a retired key's tokens verify no more.
ID_TOKEN_HINT_LEEWAY = 366 * 86400


# --- Scopes and claims (Core §5.1, §5.4) --------------------------------------------------


def is_openid_scope(scope: str | None) -> bool:
    """Core §3.1.2.1: an OpenID Connect request has ``openid`` among its scope values."""
    return "openid" in (scope or "").split()


def user_claims(user, scope: str | None) -> dict:
    """The standard claims (Core §5.1) of ``user`` that ``scope`` releases (Core §5.4).

    ``sub`` is always there; any other claim only for its scope, and only when it has a
    value (Core §5.3.2: omitted rather than null or empty).
    """
    scopes = set((scope or "").split())
    claims: dict = {"sub": user.sub}
    if "profile" in scopes:
        values = {
            "name": user.get_full_name(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.get_username(),
        }
        claims.update({name: value for name, value in values.items() if value})
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    return claims


def claims_supported() -> list[str]:
    """Discovery §3 ``claims_supported``: id_token claims, then userinfo claims."""
    names = [*ID_TOKEN_CLAIMS]
    for released in SCOPE_CLAIMS.values():
        names.extend(name for name in released if name not in names)
    return names


# --- id_token (Core §2, §3.1.3.6) ---------------------------------------------------------


def half_hash(value: str, alg: str) -> str:
    """Core §3.1.3.6 ``at_hash`` (and §3.3.2.11 ``c_hash``): base64url of the left half of
    the hash of ``value``, with the hash of ``alg`` (SHA-256 for RS256 and ES256)."""
    if alg not in signing.SUPPORTED_ALGS:
        raise ValueError(f"no hash defined for alg {alg!r}")
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def id_token_alg(client: Client) -> str:
    """The client's ``id_token_signed_response_alg`` (OIDC Registration §2), RS256 by
    default; only algs the tenant holds keys for are accepted."""
    alg = client.id_token_signed_response_alg or signing.DEFAULT_ALG
    if alg not in signing.SUPPORTED_ALGS:
        raise ValueError(
            f"client {client.client_id} asks for id_token alg {alg!r}; this server signs "
            f"with {', '.join(signing.SUPPORTED_ALGS)}"
        )
    return alg


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
    alg: str = signing.DEFAULT_ALG,
    now: int | None = None,
) -> dict:
    """The claims of an id_token for ``user`` at ``client`` (Core §2, §3.1.3.6)."""
    now = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "sub": user.sub,
        "aud": client.client_id,
        "exp": now + signing.ID_TOKEN_LIFETIME,
        "iat": now,
        "auth_time": _timestamp(auth_time),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = half_hash(access_token, alg)
    return claims


def build_id_token(
    *,
    issuer: str,
    client: Client,
    user,
    auth_time: datetime | int,
    nonce: str | None = None,
    access_token: str | None = None,
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
        alg=alg,
    )
    return signing.sign_jwt(claims, alg=alg)


# --- JWT access tokens (RFC 9068, RFC 8707) -----------------------------------------------


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
    auth_time: datetime | int | None = None,
    now: int | None = None,
) -> tuple[str, str]:
    """An RFC 9068 access token and its ``jti``, signed RS256 with the tenant's key.

    ``sub`` is the user's UUID for user grants and the client_id for client credentials
    (RFC 9068 §2.2); ``aud`` is ``audience`` as ``access_token_audience`` resolved it.
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
    if scope:
        claims["scope"] = scope
    if user is not None and auth_time is not None:
        claims["auth_time"] = _timestamp(auth_time)
    return signing.sign_jwt(claims, typ=ACCESS_TOKEN_TYP), jti


# --- Authorization request parameters (Core §3.1.2.1) -------------------------------------


def parse_max_age(value: str | None) -> int | None:
    """Core §3.1.2.1 ``max_age``: a non-negative integer number of seconds, or None.

    Raises ``ValueError`` for anything else (the grant answers ``invalid_request``).
    """
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ValueError("max_age must be a non-negative integer number of seconds.")
    return int(value)


def needs_fresh_login(*, prompts: set[str], max_age: int | None, auth_time: int | None) -> bool:
    """Core §3.1.2.1: ``prompt=login``, ``max_age=0`` (its equivalent), or a login older
    than ``max_age`` seconds means the user signs in again."""
    if "login" in prompts or max_age == 0:
        return True
    if max_age is None:
        return False
    return auth_time is None or time.time() - auth_time > max_age


# --- userinfo (Core §5.3, RFC 6750) -------------------------------------------------------


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
    found = selectors.token_by_value(value=access_token, hint=selectors.ACCESS)
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


# --- Discovery (OpenID Connect Discovery 1.0 §3) ------------------------------------------


def provider_metadata(request) -> dict:
    """Discovery §3: the RFC 8414 metadata of this tenant extended for OpenID Connect.

    Everything advertised is true: id_tokens are signed with the algs the tenant holds keys
    for (RS256 first, as §3 requires); ``request_uri_parameter_supported`` defaults to true
    (§3) and is therefore explicitly false.
    """
    metadata = selectors.authorization_server_metadata(request)
    issuer = metadata["issuer"]
    metadata.update(
        {
            "end_session_endpoint": issuer + reverse("oauth-end-session"),
            "scopes_supported": list(SCOPE_CLAIMS),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(signing.SUPPORTED_ALGS),
            "claims_supported": claims_supported(),
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }
    )
    return metadata


# --- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) -------------------------


@dataclass
class LogoutRequest:
    """A validated logout request. ``redirect_uri`` (with ``state``) is set only when the
    request may be redirected (§3); ``problem`` says what was wrong with it."""

    client: Client | None = None
    hint: dict | None = None
    redirect_uri: str | None = None
    problem: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def hint_subject(self) -> str | None:
        return self.hint.get("sub") if self.hint else None

    def needs_confirmation(self, session_user) -> bool:
        """§6: confirm unless a valid hint names the user who is signed in."""
        if session_user is None:
            return False
        return self.hint is None or self.hint_subject != session_user.sub


LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [value for value in aud if isinstance(value, str)] if isinstance(aud, list) else []


def _segment_json(segment: str):
    """The JSON value of one base64url JWS segment (RFC 7515 §7.1), None if it is not."""
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        return None


def verify_id_token_hint(token: str, *, issuer: str) -> dict | None:
    """The claims of an id_token this tenant issued, or None (RP-Initiated Logout §2).

    Signature by a current or retiring key of this tenant, ``iss`` this issuer, and not an
    access token (``typ: at+jwt``); ``exp`` may have passed.
    """
    header = _segment_json(token.split(".")[0])
    if not isinstance(header, dict) or str(header.get("typ", "")).lower().endswith("at+jwt"):
        return None
    try:
        claims = signing.verify_jwt(token, leeway=ID_TOKEN_HINT_LEEWAY)
    except signing.JWTVerificationError:
        return None
    if claims.get("iss") != issuer or not isinstance(claims.get("sub"), str):
        return None
    return claims


def logout_request(params: dict[str, str], *, issuer: str) -> LogoutRequest:
    """Validate an end-session request (RP-Initiated Logout §2, §3, §4).

    The client is the one ``client_id`` names or, without it, the id_token_hint's single
    audience; when both are given the hint must be for that client. A
    ``post_logout_redirect_uri`` is honoured only if it is registered for that client,
    exactly (§3); on any error nothing is redirected (§4).
    """
    params = {name: params[name] for name in LOGOUT_PARAMETERS if params.get(name)}
    request = LogoutRequest(params=params)
    problems = []
    hint_value = params.get("id_token_hint")
    if hint_value:
        request.hint = verify_id_token_hint(hint_value, issuer=issuer)
        if request.hint is None:
            problems.append("The id_token_hint was not issued by this sign-in service.")
    client_id = params.get("client_id")
    audiences = _audiences(request.hint) if request.hint else []
    if client_id:
        request.client = selectors.client_by_client_id(client_id=client_id)
        if request.client is None:
            problems.append("The client_id names no application of this sign-in service.")
        elif request.hint is not None and client_id not in audiences:
            problems.append("The id_token_hint was issued to another application.")
    elif len(audiences) == 1:
        request.client = selectors.client_by_client_id(client_id=audiences[0])
    target = params.get("post_logout_redirect_uri")
    if target:
        if request.client is None:
            problems.append(
                "A post_logout_redirect_uri needs the client_id or a valid id_token_hint."
            )
        elif target not in request.client.post_logout_redirect_uris:
            problems.append("The post_logout_redirect_uri is not registered for this application.")
    request.problem = " ".join(problems) or None
    if target and request.problem is None:
        state = params.get("state")
        request.redirect_uri = add_params_to_uri(target, [("state", state)]) if state else target
    return request
