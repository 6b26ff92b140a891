"""The tokens an exchange is given (RFC 8693 §2.1 ``subject_token`` and ``actor_token``),
read and checked in this tenant only.

Accepted token types (RFC 8693 §3):

``urn:ietf:params:oauth:token-type:access_token``
    An access token this tenant issued, opaque or RFC 9068 JWT, found by its SHA-256 digest
    in this schema (``oauth.selectors.token_by_value``) and live: not expired, not revoked,
    not rotated out, its client enabled and its user active. A JWT is first verified against
    this tenant's keys (``oauth.signing.jws.verify_jwt``, RFC 9068 §4: ``typ: at+jwt``,
    signature, ``exp``) and its ``iss`` must be this issuer; its stored row then answers
    for scope, audience, expiry and ``act``, exactly as for an opaque token.
``urn:ietf:params:oauth:token-type:id_token``
    An id_token this tenant signed (signature, ``exp``, ``iss`` this issuer; OIDC Core
    §3.1.3.7) whose ``aud`` is the exchanging client itself: an id_token is meant for the
    client it was issued to (OIDC Core §2), so another client holding it cannot turn it
    into an access token. Its user must be an active user of this schema. An id_token
    carries no scope: its scope is what the user consented to for that client (the
    remembered consent, OIDC Core §3.1.2.4).

Refresh tokens are not accepted (RFC 8693 §3 lists the type; a refresh token is a credential
of the client it was issued to and is never shown to another party).

A token of another tenant is never looked up there: every query runs on this schema and
signatures are checked against this tenant's keys only, so it is refused like any unknown
token. Every refused token is ``invalid_grant`` (RFC 6749 §5.2: the grant is "invalid,
expired, revoked", as issue 17 asks), where RFC 8693 §2.2.2 would allow ``invalid_request``;
the description says which parameter, never why exactly, so an exchange cannot probe tokens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from authlib.oauth2.rfc6749 import InvalidGrantError
from django.contrib.auth import get_user_model

from oauth import selectors
from oauth.exchange import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE
from oauth.models import Client
from oauth.oidc.tokens import ACCESS_TOKEN_TYP
from oauth.signing import jws

ACCESS = "access_token"
ID_TOKEN = "id_token"


@dataclass(frozen=True)
class ExchangedToken:
    """What an exchange needs of a subject or actor token, never the token itself.

    ``sub`` is the user's ``sub`` for a user's token, the client_id for a client's own
    (client credentials) access token (RFC 9068 §2.2); ``user`` is None for the latter (for
    an access token, a partial row: its ``pk`` and ``is_active``).
    ``audience`` is "" when the token has none usable as an access token's (an id_token's
    ``aud`` is a client_id, RFC 9068 §4). ``act`` is its delegation chain (RFC 8693 §4.1).
    ``family_id`` is the grant family of a user's access token (None for an id_token).
    """

    kind: str
    sub: str
    user: object | None
    scope: str
    audience: str
    expires_at: datetime
    act: dict | None
    family_id: int | None = None


def _refused(name: str, token_type: str) -> InvalidGrantError:
    kind = {ACCESS_TOKEN_TYPE: "access token", ID_TOKEN_TYPE: "id_token"}[token_type]
    return InvalidGrantError(
        f"The {name} is not an active {kind} of this issuer: it is unknown, expired or "
        "revoked, or it was issued by another issuer or to another client."
    )


def exchanged_token(*, value: str, token_type: str, issuer: str, client: Client, name: str):
    """The ``ExchangedToken`` of ``value`` presented as ``token_type`` in parameter ``name``
    (``subject_token`` or ``actor_token``) to ``client``; ``invalid_grant`` if refused.
    ``token_type`` is one of ``oauth.exchange.ACCEPTED_TOKEN_TYPES``."""
    if token_type not in _READERS:
        raise ValueError(f"unsupported token type {token_type!r}")
    found = _READERS[token_type](value, issuer, client)
    if found is None:
        raise _refused(name, token_type)
    return found


def _access_token(value: str, issuer: str, client: Client) -> ExchangedToken | None:
    if jws.unverified_header(value) is not None:
        try:
            claims = jws.verify_jwt(value, typ=ACCESS_TOKEN_TYP)
        except jws.JWTVerificationError:
            return None
        if claims.get("iss") != issuer:
            return None
    found = selectors.token_by_value(value=value, hint=selectors.ACCESS)
    if found is None or found[1] != selectors.ACCESS:
        return None
    row = found[0]
    if row.is_expired() or row.is_revoked() or row.client.disabled:
        return None
    if row.user_id is not None and not row.user.is_active:
        return None
    return ExchangedToken(
        kind=ACCESS,
        sub=str(row.user_id) if row.user_id is not None else row.client.client_id,
        user=row.user if row.user_id is not None else None,
        scope=row.scope,
        audience=row.audience,
        expires_at=row.access_expires_at,
        act=row.act,
        family_id=row.family_id,
    )


def _id_token(value: str, issuer: str, client: Client) -> ExchangedToken | None:
    header = jws.unverified_header(value)
    if header is None or str(header.get("typ", "")).lower().endswith(ACCESS_TOKEN_TYP):
        return None  # an RFC 9068 access token is never an id_token (RFC 9068 §4)
    try:
        claims = jws.verify_jwt(value)
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (jws.JWTVerificationError, KeyError, TypeError, ValueError, OverflowError):
        return None
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if claims.get("iss") != issuer or not isinstance(audiences, list):
        return None
    if client.client_id not in audiences:
        return None
    user = _active_user(claims.get("sub"))
    if user is None:
        return None
    act = claims.get("act")
    return ExchangedToken(
        kind=ID_TOKEN,
        sub=user.sub,
        user=user,
        scope=" ".join(selectors.consented_scopes(user=user, client=client)),
        audience="",
        expires_at=expires_at,
        act=act if isinstance(act, dict) else None,
    )


_READERS = {ACCESS_TOKEN_TYPE: _access_token, ID_TOKEN_TYPE: _id_token}


def _active_user(sub):
    """The active user of this schema whose ``sub`` (a UUID, OIDC Core §2) is ``sub``."""
    try:
        pk = uuid.UUID(str(sub))
    except ValueError:
        return None
    return get_user_model().objects.filter(pk=pk, is_active=True).first()
