"""The logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).

A JWT signed with the tenant's current key for the client's id_token alg (§2.4: as for
id_tokens; ``oauth.oidc.tokens.id_token_alg``), header ``typ: logout+jwt`` (§2.4, the
explicit typing of RFC 8725 §3.11, so it cannot pass for an id_token), claims ``iss``,
``aud`` (the client_id), ``iat``, ``exp`` (short: ``TOKEN_LIFETIME_SECONDS``, default
2 minutes), ``jti`` (fresh per token, §2.4: a client may reject replays), ``events`` with
the back-channel logout member (an empty object), ``sub`` and ``sid``, and never ``nonce``
(§2.4: prohibited, so a logout token can never be used as an id_token).
"""

from __future__ import annotations

import secrets
import time

from kernel.conf import setting
from oauth.models import Client
from oauth.oidc.tokens import JTI_BYTES, id_token_alg
from oauth.signing.jws import sign_jwt

#: §2.4 ``events``: the member that makes a Security Event Token a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4 (RFC 8725 §3.11): the ``typ`` header of logout tokens.
LOGOUT_TOKEN_TYP = "logout+jwt"


def logout_token_claims(
    *, issuer: str, client: Client, sub: str, sid: str, now: int | None = None
) -> dict:
    """The claims of a logout token for ``client`` (§2.4). ``sid`` may be "" for a sign-out
    of all the user's sessions (then ``sub`` alone identifies the user)."""
    now = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + int(setting("BACKCHANNEL_LOGOUT")["TOKEN_LIFETIME_SECONDS"]),
        "jti": secrets.token_urlsafe(JTI_BYTES),
        "events": {LOGOUT_EVENT: {}},
        "sub": sub,
    }
    if sid:
        claims["sid"] = sid
    return claims


def build_logout_token(*, issuer: str, client: Client, sub: str, sid: str) -> str:
    """A signed logout token (§2.4) for ``client``."""
    claims = logout_token_claims(issuer=issuer, client=client, sub=sub, sid=sid)
    return sign_jwt(claims, alg=id_token_alg(client), typ=LOGOUT_TOKEN_TYP)
