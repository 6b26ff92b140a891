"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

``id_token_hint`` is verified with ``oauth.signing.jws.verify_jwt`` (current or retiring key
of this tenant, ``iss`` this issuer, not an ``at+jwt`` access token; expired hints are
accepted, §2); its ``aud``, or ``client_id``, names the client. ``post_logout_redirect_uri``
must exactly match one that client registered (§3) and gets ``state`` back. Without a valid
hint, or with one for another user than the one signed in, the user confirms first (§6:
logout requests are a denial-of-service vector).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from authlib.common.urls import add_params_to_uri

from oauth import selectors
from oauth.models import Client
from oauth.signing.jws import JWTVerificationError, unverified_header, verify_jwt

#: An expired id_token_hint is still a valid hint (RP-Initiated Logout §2); how long after
#: its ``exp`` is bounded anyway by its key: a retired key's tokens verify no more.
ID_TOKEN_HINT_LEEWAY = 366 * 86400
LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


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


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [value for value in aud if isinstance(value, str)] if isinstance(aud, list) else []


def verify_id_token_hint(token: str, *, issuer: str) -> dict | None:
    """The claims of an id_token this tenant issued, or None (RP-Initiated Logout §2).

    Signature by a current or retiring key of this tenant, ``iss`` this issuer, and not an
    access token (``typ: at+jwt``, RFC 9068 §2.1, §4); ``exp`` may have passed.
    """
    header = unverified_header(token)
    if header is None or str(header.get("typ", "")).lower().endswith("at+jwt"):
        return None
    try:
        claims = verify_jwt(token, leeway=ID_TOKEN_HINT_LEEWAY)
    except JWTVerificationError:
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
