"""The UserInfo endpoint's logic (OIDC Core §5.3), a protected resource (RFC 6750).

The access token comes in the ``Authorization: Bearer`` header or a form body (RFC 6750
§2.1, §2.2), never in the URL; it is looked up by digest in this tenant's schema, and the
claims released are those of its scope (Core §5.4, ``claims.user_claims``). A DPoP-bound
token comes as ``Authorization: DPoP`` with its proof, and only so (RFC 9449 §7.1,
``oauth.dpop``).
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth import dpop, selectors
from oauth.models import Client
from oauth.oidc.claims import is_openid_scope, user_claims


@dataclass
class BearerError(Exception):
    """An RFC 6750 §3 answer: ``error`` empty when the request carried no token at all."""

    status: int
    error: str = ""
    description: str = ""
    scope: str = ""
    #: The challenge's scheme: "DPoP" for a DPoP-bound token (RFC 9449 §7.1).
    scheme: str = "Bearer"
    #: RFC 9449 §9: a server nonce, sent back in the ``DPoP-Nonce`` header.
    nonce: str = ""
    #: RFC 9449 §7.1: the proof algs a DPoP challenge names.
    algs: str = ""

    def www_authenticate(self, realm: str) -> str:
        parts = [f'realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        if self.algs:
            parts.append(f'algs="{self.algs}"')
        return f"{self.scheme} " + ", ".join(parts)

    def body(self) -> dict:
        if not self.error:
            return {}
        return {"error": self.error, "error_description": self.description}


def bearer_token(authorization: str | None, form_token: str | None, query_token: str | None):
    """The access token of a protected-resource request (RFC 6750 §2).

    The ``Authorization: Bearer`` (or RFC 9449 §7.1 ``DPoP``) header (§2.1) or, in a form
    POST, ``access_token`` (§2.2).
    The URI query (§2.3) is refused: tokens in URLs end up in logs (RFC 9700 §2.4). More
    than one method is ``invalid_request`` (§2); none at all is a bare 401 (§3.1).
    """
    header_token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "dpop") or not value.strip() or " " in value.strip():
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


def authorization_scheme(authorization: str | None) -> str:
    """ "dpop" for ``Authorization: DPoP`` (RFC 9449 §7.1), else "bearer"."""
    scheme = (authorization or "").partition(" ")[0].lower()
    return "dpop" if scheme == "dpop" else "bearer"


def check_dpop_binding(row, *, access_token: str, scheme: str, http_request) -> None:
    """RFC 9449 §7.1: a DPoP-bound token only with the DPoP scheme and a proof of its key
    (a bound token sent as a bearer token, or a stolen one with another key, is refused);
    a bearer token never with the DPoP scheme."""
    if row.dpop_jkt is None:
        if scheme == "dpop":
            raise BearerError(
                401, "invalid_token", "This access token is not DPoP-bound; send it as Bearer."
            )
        return
    challenge = {"scheme": dpop.SCHEME, "algs": " ".join(dpop.proof_algs(row.client))}
    if scheme != "dpop":
        raise BearerError(
            401,
            "invalid_token",
            "This access token is DPoP-bound; send it as Authorization: DPoP with a proof.",
            **challenge,
        )
    try:
        dpop.verify_resource_proof(
            http_request, access_token=access_token, bound_jkt=row.dpop_jkt, client=row.client
        )
    except dpop.UseDPoPNonceError as error:
        raise BearerError(
            401, error.error, error.description, nonce=error.nonce, **challenge
        ) from None
    except dpop.InvalidDPoPProofError as error:
        raise BearerError(401, error.error, error.description, **challenge) from None


def userinfo_response(
    access_token: str, *, scheme: str = "bearer", http_request=None
) -> tuple[dict, Client]:
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
    check_dpop_binding(row, access_token=access_token, scheme=scheme, http_request=http_request)
    user = row.user if row.user_id is not None else None
    if user is None or not user.is_active:
        raise BearerError(401, "invalid_token", "The access token has no active user.")
    if not is_openid_scope(row.scope):
        raise BearerError(
            403, "insufficient_scope", "The access token lacks the openid scope.", "openid"
        )
    return user_claims(user, row.scope), row.client
