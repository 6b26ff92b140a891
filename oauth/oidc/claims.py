"""Scopes and the standard claims they release (OIDC Core §5.1, §5.4).

``openid`` yields ``sub`` (the user's UUID, ``user.sub``) and nothing else; ``profile`` adds
``name``, ``given_name``, ``family_name`` and ``preferred_username``; ``email`` adds
``email`` and a boolean ``email_verified``. Empty values are left out (Core §5.3.2). They
are served at userinfo; the id_token of the code flow carries ``sub`` and the protocol
claims only, since an access token for userinfo is always issued with it (Core §5.4).
``updated_at`` is not served: users have no modification time yet.
"""

from __future__ import annotations

#: The scope values with an OIDC meaning (Core §5.4) and the claims each releases.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
}
#: Claims an id_token of this server may carry (Core §2).
ID_TOKEN_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "acr",
    "amr",
    "sid",
)


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
