"""JWS algorithm lists the server verifies from clients (RFC 7518 §3.1, RFC 8037), in one leaf
module so that the issuer metadata (``oauth.selectors``) and the policies that narrow them
(``oauth.security_profile``, ``oauth.client_assertion``) name the same lists.

Imports nothing of ours.
"""

#: JWS algs we verify from clients (assertions, request objects, DPoP proofs) when no profile
#: narrows them: RFC 7518 §3.1 asymmetric algs and RFC 8037 EdDSA. ``none`` never; HS256 only
#: for ``client_secret_jwt`` (``SECRET_JWT_ALGS``).
ASYMMETRIC_ALGS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
#: RFC 7518 §3.2: HMAC algs, keyed with the client secret (RFC 7523 §2.2 ``client_secret_jwt``).
SECRET_JWT_ALGS: tuple[str, ...] = ("HS256", "HS384", "HS512")
#: What ``client_secret_jwt`` accepts of ``SECRET_JWT_ALGS``: our secrets are 256-bit, and an
#: HMAC key must be at least as long as the hash (RFC 7518 §3.2), so HS256 only.
CLIENT_SECRET_JWT_ALGS: tuple[str, ...] = ("HS256",)
#: FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA (Ed25519) only.
FAPI2_ALGS: tuple[str, ...] = ("PS256", "ES256", "EdDSA")
