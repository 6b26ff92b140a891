"""JWK material through joserfc: generated, exported as public JWKs, thumbprinted, parsed.

Keys (RFC 7517 §4, RFC 7518 §3.3, §3.4 and §6)
    Each tenant has an RSA 2048 key for RS256 and an EC P-256 key for ES256 (and, once
    needed, another RSA 2048 key for PS256, RFC 7518 §3.5). The ``kid`` is
    the key's RFC 7638 JWK thumbprint (SHA-256 over the required members, base64url), so it
    names the key material itself and two tenants can never publish the same ``kid`` for
    different keys. A published JWK carries the public members of its key type (RFC 7518
    §6.2.1, §6.3.1) plus ``kid``, ``use: sig`` and ``alg`` (RFC 7517 §4.2, §4.4, §4.5).

Parsed keys are memoised, keyed by their ciphertext or their JWK, so a cached key can only
ever be that key. Nothing here reads the database or the app registry.
"""

from __future__ import annotations

import functools
import json

from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from oauth.signing.constants import RSA_KEY_SIZE, SUPPORTED_ALGS
from oauth.signing.encryption import decrypt_private_key

SigningJWK = RSAKey | ECKey

#: RFC 7518 §3.1: the key type each supported alg signs with (P-256 for ES256, §3.4).
_KEY_TYPES: dict[str, type[SigningJWK]] = {"RS256": RSAKey, "ES256": ECKey, "PS256": RSAKey}


def _unsupported(alg: str) -> ValueError:
    return ValueError(f"unsupported signing alg {alg!r}; use one of {', '.join(SUPPORTED_ALGS)}")


def generate_key(alg: str) -> SigningJWK:
    """A new private key for ``alg``: RSA 2048 for RS256 (RFC 7518 §3.3), P-256 for ES256."""
    if alg in ("RS256", "PS256"):  # RFC 7518 §3.5: PSS keys are 2048 bits or larger too
        return RSAKey.generate_key(RSA_KEY_SIZE)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    raise _unsupported(alg)


def private_key_pem(key: SigningJWK) -> bytes:
    """PKCS#8 PEM of the private key, unencrypted: ``encryption`` encrypts it at rest."""
    return key.as_pem(private=True)


def public_jwk(key: SigningJWK, alg: str) -> dict:
    """The public JWK (RFC 7517 §4) with ``kid`` (RFC 7638 thumbprint), ``use: sig``, ``alg``.

    Private members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``) are never in it.
    """
    return key.as_dict(private=False, kid=key.thumbprint(), use="sig", alg=alg)


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3: SHA-256 of the key type's required members, sorted, without whitespace.

    Members beyond the required ones (``kid``, ``alg``, ``use``) do not count (§3.2).
    """
    return JWKRegistry.import_key(jwk).thumbprint()


#: Parsed private keys kept per process: a tenant signs with two current keys (RS256, ES256),
#: so 4,096 holds the keys of 2,000 tenants; at 512 the JWT path over 1,000 tenants at random
#: decrypted and parsed a PEM on most requests.
PRIVATE_KEY_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PRIVATE_KEY_CACHE_SIZE)
def load_private_key(encrypted: str, alg: str) -> SigningJWK:
    """The signing key stored as ``encrypted`` (a Fernet token of its PEM), for ``alg``."""
    if alg not in _KEY_TYPES:
        raise _unsupported(alg)
    # Fernet authenticates the ciphertext, so this PEM is exactly the one we generated:
    # OpenSSL's RSA consistency check (~70 ms), which joserfc's PEM import runs, would
    # prove nothing more. So cryptography loads the PEM and joserfc wraps the key.
    native = serialization.load_pem_private_key(
        decrypt_private_key(encrypted), password=None, unsafe_skip_rsa_key_validation=True
    )
    return _KEY_TYPES[alg].import_key(native, {"use": "sig", "alg": alg})


@functools.lru_cache(maxsize=1024)
def _public_key(jwk_json: str) -> SigningJWK:
    return JWKRegistry.import_key(json.loads(jwk_json))


def public_key(jwk: dict) -> SigningJWK:
    """The joserfc key of a stored public JWK (memoised by the JWK's canonical JSON)."""
    return _public_key(json.dumps(jwk, sort_keys=True, separators=(",", ":")))
