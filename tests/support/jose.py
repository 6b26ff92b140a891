"""The tests' independent JOSE verifier: jwcrypto, never the joserfc the product signs with.

A library cannot vouch for itself, so tokens are checked the way a relying party with another
implementation would: the signature against the served JWK Set (RFC 7515 §5.2, the key chosen
by ``kid``), the alg against an allow-list, kids against RFC 7638 thumbprints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

#: What jwcrypto raises for a token it does not accept (bad signature, unknown kid, alg).
VerificationFailed = JWException


@dataclass(frozen=True)
class Verified:
    header: dict[str, Any]
    claims: dict[str, Any]


def key_set(jwks: dict) -> jwk.JWKSet:
    return jwk.JWKSet.from_json(json.dumps(jwks))


def thumbprint(key: dict) -> str:
    """RFC 7638 §3 SHA-256 thumbprint, as jwcrypto computes it."""
    return jwk.JWK(**key).thumbprint()


def verify(token: str, jwks: dict | jwk.JWK | jwk.JWKSet, algorithms) -> Verified:
    """The header and claims of ``token`` once jwcrypto has verified its signature.

    ``jwks`` is a JWK Set document (or jwcrypto key / key set); only ``algorithms`` are
    accepted. Claims are not validated (exp, aud ...): that is the caller's test.
    """
    keys = key_set(jwks) if isinstance(jwks, dict) else jwks
    signed = jws.JWS()
    signed.allowed_algs = list(algorithms)
    signed.deserialize(token)
    signed.verify(keys)
    claims = json.loads(signed.payload)
    if not isinstance(claims, dict):
        raise VerificationFailed("the JWT claims set is not a JSON object")
    return Verified(header=signed.jose_header, claims=claims)
