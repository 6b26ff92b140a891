"""DPoP proofs (RFC 9449 §4) as a client builds them, with joserfc: one key per client,
and knobs to make every kind of bad proof."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

_MISSING = object()


def ath(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DPoPKey:
    """A client's DPoP key pair: ES256 on P-256, or RSA for RS*/PS*, Ed25519 for EdDSA."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg[:2] in ("RS", "PS"):
            self.key = RSAKey.generate_key(2048)
        elif alg == "EdDSA":
            self.key = OKPKey.generate_key("Ed25519")
        else:
            self.key = ECKey.generate_key()

    @property
    def public_jwk(self) -> dict:
        return self.key.as_dict(private=False)

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        typ=_MISSING,
        jwk: dict | None = None,
        claims: dict | None = None,
    ) -> str:
        header = {"alg": self.alg, "jwk": jwk if jwk is not None else self.public_jwk}
        if typ is _MISSING:
            header["typ"] = "dpop+jwt"
        elif typ is not None:
            header["typ"] = typ
        payload = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
        }
        if access_token is not None:
            payload["ath"] = ath(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        # json.dumps escapes to ASCII, so a claim may even hold a lone surrogate.
        body = json.dumps(payload).encode("ascii")
        return jws.serialize_compact(header, body, self.key, algorithms=[self.alg])


def hs256_proof(method: str, url: str) -> str:
    """A proof MACed with a symmetric key (RFC 9449 §4.3 check 5: never accepted)."""
    key = OctKey.generate_key(256)
    header = {"alg": "HS256", "typ": "dpop+jwt", "jwk": key.as_dict(private=False)}
    payload = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
    return jwt.encode(header, payload, key, algorithms=["HS256"], default_type=None)
