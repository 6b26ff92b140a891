"""sign_jwt / verify_jwt: what the id_token and JWT access token code builds on."""

import base64
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support import jose

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict) -> str:
    return _b64(json.dumps(value).encode())


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_sign_jwt_uses_the_current_key_and_sets_kid_and_typ(tenant_a, alg):
    from oauth.signing.jws import sign_jwt
    from oauth.signing.selectors import jwks_document, verification_keys

    exp = timezone.now() + timedelta(minutes=5)
    with tenant_a.context():
        token = sign_jwt({"sub": "u", "exp": exp, "aud": ["api"]}, alg=alg, typ="at+jwt")
        current = next(k for k in jwks_document()["keys"] if k["alg"] == alg)
        verified = jose.verify(token, verification_keys(), [alg])
    assert verified.header == {"alg": alg, "kid": current["kid"], "typ": "at+jwt"}
    assert verified.claims == {"sub": "u", "exp": int(exp.timestamp()), "aud": ["api"]}


def test_verification_keys_are_current_and_retiring_only(tenant_a):
    from oauth.signing.selectors import jwks_document, verification_keys
    from oauth.signing.services import rotate

    with tenant_a.context():
        outcome = rotate(force=True)
        verifying = {k["kid"] for k in verification_keys()["keys"]}
        published = {k["kid"] for k in jwks_document()["keys"]}
    assert verifying == set(outcome.current.values()) | set(outcome.retiring.values())
    assert published == verifying | set(outcome.next.values())


def test_verify_jwt_rejects_forgeries_and_expired_tokens(tenant_a):
    from oauth.signing.jws import JWTVerificationError, sign_jwt, verify_jwt
    from oauth.signing.selectors import jwks_document

    with tenant_a.context():
        token = sign_jwt({"sub": "u", "exp": int(time.time()) + 60}, typ="at+jwt")
        assert verify_jwt(token, typ="application/at+jwt")["sub"] == "u"
        header, payload, signature = token.split(".")
        rsa_jwk = next(k for k in jwks_document()["keys"] if k["alg"] == "RS256")

        tampered = _segment({"sub": "admin", "exp": int(time.time()) + 60})
        unsigned = _segment({"alg": "none", "kid": rsa_jwk["kid"]})
        hs_header = _segment({"alg": "HS256", "kid": rsa_jwk["kid"]})
        # "HMAC keyed with the public key" confusion (RFC 8725 §2.1)
        hs_mac = hmac.new(json.dumps(rsa_jwk).encode(), f"{hs_header}.{payload}".encode(), "sha256")
        forgeries = [
            f"{header}.{tampered}.{signature}",
            f"{unsigned}.{payload}.",
            f"{hs_header}.{payload}.{_b64(hs_mac.digest())}",
            f"{_segment({'alg': 'RS256', 'kid': 'nope'})}.{payload}.{signature}",
            "not-a-jwt",
            f"{header}.{payload}",
        ]
        for forged in forgeries:
            with pytest.raises(JWTVerificationError):
                verify_jwt(forged)
        with pytest.raises(JWTVerificationError, match="typ"):
            verify_jwt(token, typ="JWT")
        with pytest.raises(JWTVerificationError, match="expired"):
            verify_jwt(token, now=timezone.now() + timedelta(seconds=61))
        later = sign_jwt({"exp": int(time.time()) + 60, "nbf": int(time.time()) + 30})
        with pytest.raises(JWTVerificationError, match="not yet"):
            verify_jwt(later)


def test_sign_jwt_without_a_current_key_says_what_to_do(tenant_a):
    from oauth.models import SigningKey
    from oauth.signing.jws import sign_jwt
    from oauth.signing.selectors import SigningKeyUnavailable

    with tenant_a.context():
        SigningKey.objects.filter(alg="ES256", state="current").delete()
        with pytest.raises(SigningKeyUnavailable, match="rotate_signing_keys"):
            sign_jwt({"exp": int(time.time()) + 60}, alg="ES256")
        with pytest.raises(ValueError, match="unsupported"):
            sign_jwt({"exp": int(time.time()) + 60}, alg="HS256")
