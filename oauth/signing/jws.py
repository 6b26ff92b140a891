"""JWTs signed and verified with this tenant's keys: joserfc does the JOSE, this the policy.

Signing (RFC 7515 §5.1, §7.1 compact serialisation; RFC 7519 §7.1)
    RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); ES256 is ECDSA P-256 with
    SHA-256, signature as the 64-byte R || S (RFC 7518 §3.4); PS256 is RSASSA-PSS with
    SHA-256 and MGF1 (RFC 7518 §3.5), its key made on first need
    (``services.signing_keys_ensure``). The header carries ``alg``, the signing key's
    ``kid`` (RFC 7515 §4.1.4) and, when asked, ``typ`` (§4.1.9;
    ``at+jwt`` for RFC 9068 access tokens). ``exp`` is bounded by the tenant's longest
    token lifetime: that bound is what lets a rotated-out key leave JWKS (OIDC Core
    §10.1.1).

Verifying (RFC 7515 §5.2; RFC 7519 §7.2; RFC 8725 §2.1, §3.1)
    Only RS256, ES256 and PS256, only under the ``kid`` of one of this tenant's current or
    retiring keys of that alg: never ``none``, never HMAC keyed with a public key, never another
    tenant's key (each schema holds its own keys). ``crit`` (RFC 7515 §4.1.11) may name no
    extension: this issuer understands none, so ``b64: false`` (RFC 7797) is refused too.
    Other unknown header parameters are ignored (RFC 7515 §4). ``exp`` is required and,
    like ``nbf``, checked with the caller's leeway (RFC 7519 §4.1.4, §4.1.5). Malformed
    input of any shape raises ``JWTVerificationError``, never anything else.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from joserfc.registry import JWS_HEADER_REGISTRY, HeaderParameter

from oauth.signing import selectors, services
from oauth.signing.constants import DEFAULT_ALG, LAZY_ALGS, SUPPORTED_ALGS
from oauth.signing.context import SigningContext, signing_context
from oauth.signing.keys import load_private_key, public_key


class JWTVerificationError(ValueError):
    """A JWT that this tenant did not sign, or that is malformed, expired or not yet valid."""


class _GatehouseJWSRegistry(jws.JWSRegistry):
    """joserfc's JWS registry narrowed to what this issuer signs.

    ``kid`` is required (RFC 7515 §4.1.4 makes it optional; every key of ours has one, and
    joserfc would otherwise take a key set's only key for a JWS without one). ``b64`` is not
    registered, so a ``crit: ["b64"]`` JWS (RFC 7797), which joserfc accepts by default, is
    an unsupported critical header here.
    """

    default_header_registry = {
        **{name: value for name, value in JWS_HEADER_REGISTRY.items() if name != "b64"},
        "kid": HeaderParameter("Key ID", "str", required=True),
    }


# strict_check_header=False: RFC 7515 §4 says unknown header parameters MUST be ignored
# (joserfc's default refuses them); critical ones are still refused through ``crit``.
_REGISTRY = _GatehouseJWSRegistry(algorithms=SUPPORTED_ALGS, strict_check_header=False)


class _NumericDateEncoder(json.JSONEncoder):
    def default(self, value):
        if isinstance(value, datetime):
            return int(value.timestamp())  # RFC 7519 §2 NumericDate
        raise TypeError(f"{type(value).__name__} is not JSON serialisable in a JWT")


def sign_jwt(
    claims: dict,
    *,
    alg: str = DEFAULT_ALG,
    typ: str | None = None,
    context: SigningContext | None = None,
) -> str:
    """Sign ``claims`` with this tenant's current ``alg`` key; header carries its ``kid``.

    ``typ`` sets the header's ``typ`` (``"at+jwt"`` for RFC 9068 §2.1 access tokens).
    ``datetime`` claim values become NumericDates (RFC 7519 §2). ``claims`` must hold an
    integer ``exp`` (RFC 7519 §4.1.4) no later than now + ``max_signed_token_lifetime()``.
    The key and that bound come from ``signing_context(alg)`` (one statement), or from
    ``context`` when the caller read it already for this token.
    """
    if context is None or context.key.alg != alg:
        try:
            context = signing_context(alg)
        except selectors.SigningKeyUnavailable:
            if alg not in LAZY_ALGS:
                raise
            services.signing_keys_ensure(alg=alg)
            context = signing_context(alg)
    key = context.key
    exp = claims.get("exp")
    if isinstance(exp, datetime):
        exp = int(exp.timestamp())
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise ValueError("a JWT this issuer signs needs an integer exp claim (RFC 7519 §4.1.4)")
    limit = int(timezone.now().timestamp()) + context.max_lifetime
    if exp > limit:
        raise ValueError(
            f"exp is {exp - limit} s beyond the longest token lifetime this tenant allows; "
            "a rotated-out key would leave JWKS before the token expired"
        )
    header = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    token = jwt.encode(
        header,
        dict(claims),  # joserfc converts datetime exp/iat/nbf in place: not the caller's dict
        load_private_key(key.private_key, alg),
        registry=_REGISTRY,
        encoder_cls=_NumericDateEncoder,
        default_type=None,
    )
    services.signing_key_used(key)
    return token


def _parse(token: str) -> tuple[jws.CompactSignature, dict, dict]:
    """The compact JWS, its header and its claims, none of them verified yet."""
    try:
        compact = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
        header, claims = compact.headers(), json.loads(compact.payload)
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("a JOSE header and a JWT claims set are JSON objects")
        _REGISTRY.check_header(header)
    # joserfc raises JoseError for most malformations, but not for all: nested JSON in the
    # header or payload raises RecursionError, a crit that is not a list TypeError.
    except (JoseError, ValueError, TypeError, AttributeError, RecursionError):
        raise JWTVerificationError("malformed JWT") from None
    return compact, header, claims


def unverified_header(token: str) -> dict | None:
    """The JOSE header (RFC 7515 §4) of a well-formed compact JWS, unverified; else None."""
    try:
        return _parse(token)[1]
    except JWTVerificationError:
        return None


def _media_type(value: str) -> str:
    # RFC 7515 §4.1.9: "application/" may be omitted from typ; compare case-insensitively.
    value = value.lower()
    return value.removeprefix("application/")


def verify_jwt(
    token: str, *, typ: str | None = None, now: datetime | None = None, leeway: int = 0
) -> dict:
    """Claims of a JWT this tenant signed, after checking signature, ``exp`` and ``nbf``.

    Accepts only RS256/ES256/PS256 under the ``kid`` of one of this tenant's current or retiring
    keys of that alg (``selectors.verification_keys``). ``typ``, if given, must match the
    header's (RFC 7515 §4.1.9 short form, case-insensitive). It does NOT check ``iss``,
    ``aud``, ``nonce`` or anything else token-specific: the caller does. Raises
    ``JWTVerificationError``.
    """
    now = now or timezone.now()
    compact, header, claims = _parse(token)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in SUPPORTED_ALGS or not isinstance(kid, str):
        raise JWTVerificationError("unsupported alg or missing kid")
    if typ is not None and _media_type(str(header.get("typ", ""))) != _media_type(typ):
        raise JWTVerificationError("unexpected typ")
    # joserfc picks the key by kid and the header's alg (each JWK carries its alg), checks
    # its type (RSA for RS256, EC P-256 for ES256) and the signature.
    keys = KeySet([public_key(jwk) for jwk in selectors.verification_keys(now)["keys"]])
    try:
        valid = jws.validate_compact(compact, keys, registry=_REGISTRY)
    except InvalidKeyIdError:
        raise JWTVerificationError("unknown kid") from None
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise JWTVerificationError("bad signature")
    # Only exp and nbf: JWTClaimsRegistry.validate would also refuse an iat ahead of this
    # process's clock, which the tokens of a server with a faster clock may have.
    checks = JWTClaimsRegistry(now=now.timestamp(), leeway=leeway)
    try:
        checks.validate_exp(claims["exp"])
    except (KeyError, JoseError):
        raise JWTVerificationError("expired or without exp") from None
    if claims.get("nbf") is not None:
        try:
            checks.validate_nbf(claims["nbf"])
        except JoseError:
            raise JWTVerificationError("not yet valid") from None
    return claims
