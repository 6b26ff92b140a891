"""What this issuer signs, checked by another JOSE implementation (jwcrypto), and what it
refuses to verify, forged with that implementation or by hand.

Positive: id_tokens (OIDC Core §2), RFC 9068 access tokens and the JWK Set (RFC 7517 §5) as a
relying party with jwcrypto sees them: signatures verify against the served JWKS for RS256
and ES256 (RFC 7518 §3.3, §3.4), each kid is the RFC 7638 thumbprint, typ is at+jwt only on
access tokens (RFC 9068 §2.1). Negative: ``verify_jwt`` refuses other tenants' keys, next keys,
alg "none" and HMAC keyed with a public key (RFC 8725 §2.1, §3.1), tampering, critical
extensions and RFC 7797 unencoded payloads (RFC 7515 §4.1.11), a JWS without kid, and
malformed input of every shape, with ``JWTVerificationError`` and nothing else.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from jwcrypto import jwk, jws

from tests.support import jose
from tests.support.factories import (
    client_credentials_token,
    make_client,
    make_user,
    make_web_client,
    user_tokens,
)

pytestmark = pytest.mark.django_db

API = "https://api.example.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value) -> str:
    return _b64(json.dumps(value).encode())


def _served_jwks(tenant) -> dict:
    response = tenant.client().get("/oauth/jwks", secure=True)
    assert response.status_code == 200
    return response.json()


def _stored_key(tenant, alg: str, state: str = "current"):
    """A tenant key's kid and private key, read the way an attacker with the database and
    the encryption key would: to sign tokens our code never made."""
    from oauth.models import SigningKey
    from oauth.signing.encryption import decrypt_private_key

    with tenant.context():
        key = SigningKey.objects.get(alg=alg, state=state)
        pem = decrypt_private_key(key.private_key)
    return key.kid, serialization.load_pem_private_key(pem, password=None)


def _rs256_by_hand(tenant, header: dict, payload: str | bytes, *, encode_payload=True) -> str:
    """RS256 over ``header``.``payload`` with the tenant's current RSA key (RFC 7515 §5.1),
    whatever the header says: jwcrypto refuses to sign some of the headers tested here."""
    _, private = _stored_key(tenant, "RS256")
    payload = payload.encode() if isinstance(payload, str) else payload
    body = _b64(payload) if encode_payload else payload.decode()
    signing_input = f"{_segment(header)}.{body}".encode()
    signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64(signature)}"


def _claims(**extra) -> dict:
    return {"sub": "user-1", "exp": int(time.time()) + 300, **extra}


def _rejected(tenant, token, **options) -> str:
    from oauth.signing.jws import JWTVerificationError, verify_jwt

    with tenant.context(), pytest.raises(JWTVerificationError) as raised:
        verify_jwt(token, **options)
    return str(raised.value)


# --- what we sign verifies elsewhere ---------------------------------------------------------


def test_served_jwks_kids_are_rfc_7638_thumbprints_by_jwcrypto(tenant):
    keys = _served_jwks(tenant)["keys"]
    assert sorted(key["alg"] for key in keys) == ["ES256", "ES256", "RS256", "RS256"]
    for key in keys:
        imported = jwk.JWK(**key)
        assert not imported.has_private
        assert key["kid"] == jose.thumbprint(key) == imported.thumbprint()
        assert key["use"] == "sig"
    jose.key_set(_served_jwks(tenant))  # the whole set imports, too


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_id_tokens_verify_with_jwcrypto_against_the_served_jwks(tenant, alg):
    client = make_web_client(tenant, scopes=["openid"], id_token_signed_response_alg=alg)
    body = user_tokens(tenant, client, make_user(tenant), scope="openid")
    jwks = _served_jwks(tenant)

    verified = jose.verify(body["id_token"], jwks, [alg])
    signing_key = next(key for key in jwks["keys"] if key["kid"] == verified.header["kid"])
    assert verified.header == {"alg": alg, "kid": jose.thumbprint(signing_key)}
    assert signing_key["alg"] == alg  # no typ on an id_token: it is no access token
    assert verified.claims["aud"] == client.client_id and verified.claims["iss"] == tenant.issuer
    other = "ES256" if alg == "RS256" else "RS256"
    with pytest.raises(jose.VerificationFailed):
        jose.verify(body["id_token"], jwks, [other])


def test_rfc_9068_access_tokens_verify_with_jwcrypto(tenant):
    client = make_client(tenant, access_token_format="jwt", resources=[API])
    token = client_credentials_token(tenant, client, resource=API)["access_token"]
    jwks = _served_jwks(tenant)

    verified = jose.verify(token, jwks, ["RS256"])
    assert verified.header["typ"] == "at+jwt" and verified.header["alg"] == "RS256"
    assert verified.header["kid"] in {jose.thumbprint(key) for key in jwks["keys"]}
    assert verified.claims["aud"] == API and verified.claims["client_id"] == client.client_id


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_sign_jwt_output_verifies_with_jwcrypto_for_each_alg(tenant_a, alg):
    from oauth.signing.jws import sign_jwt

    with tenant_a.context():
        token = sign_jwt(_claims(aud=["api"]), alg=alg, typ="at+jwt")
    jwks = _served_jwks(tenant_a)
    verified = jose.verify(token, jwks, [alg])
    assert verified.header["typ"] == "at+jwt"
    assert verified.claims["aud"] == ["api"]
    if alg == "ES256":  # RFC 7518 §3.4: R || S, 32 bytes each, not DER
        assert len(base64.urlsafe_b64decode(token.split(".")[2] + "==")) == 64


# --- what we refuse --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_another_tenants_token_is_refused_here_and_by_jwcrypto(tenant_a, tenant_b, alg):
    from oauth.signing.jws import sign_jwt

    with tenant_b.context():
        token = sign_jwt(_claims(), alg=alg)
    assert jose.verify(token, _served_jwks(tenant_b), [alg])
    with pytest.raises(jose.VerificationFailed):
        jose.verify(token, _served_jwks(tenant_a), [alg])
    assert _rejected(tenant_a, token) == "unknown kid"


def test_a_published_next_key_has_signed_nothing_yet(tenant_a):
    next_kid, private = _stored_key(tenant_a, "ES256", state="next")
    key = jwk.JWK.from_pyca(private)
    signed = jws.JWS(json.dumps(_claims()).encode())
    signed.add_signature(key, protected=json.dumps({"alg": "ES256", "kid": next_kid}))
    token = signed.serialize(compact=True)
    assert jose.verify(token, _served_jwks(tenant_a), ["ES256"])  # it is published
    assert _rejected(tenant_a, token) == "unknown kid"


def test_forgeries_built_with_jwcrypto_are_refused(tenant_a):
    from oauth.signing.jws import sign_jwt

    jwks = _served_jwks(tenant_a)
    rsa = next(key for key in jwks["keys"] if key["alg"] == "RS256")
    ec = next(key for key in jwks["keys"] if key["alg"] == "ES256")
    public_pem = jwk.JWK(**rsa).export_to_pem()
    payload = json.dumps(_claims(sub="admin")).encode()

    def forged(key, header: dict) -> str:
        signed = jws.JWS(payload)
        signed.allowed_algs = [header["alg"]]
        signed.add_signature(key, protected=json.dumps(header))
        return signed.serialize(compact=True)

    # RFC 8725 §2.1: HMAC keyed with the public key, as PEM and as its JWK.
    for secret in (public_pem, json.dumps(rsa).encode()):
        hmac_key = jwk.JWK(kty="oct", k=_b64(secret))
        assert _rejected(tenant_a, forged(hmac_key, {"alg": "HS256", "kid": rsa["kid"]})) == (
            "unsupported alg or missing kid"
        )
    # An attacker's own keys: under our kid, under theirs, or embedded in the header.
    attacker_rsa = jwk.JWK.generate(kty="RSA", size=2048)
    attacker_ec = jwk.JWK.generate(kty="EC", crv="P-256")
    assert _rejected(tenant_a, forged(attacker_rsa, {"alg": "RS256", "kid": rsa["kid"]})) == (
        "bad signature"
    )
    assert _rejected(tenant_a, forged(attacker_ec, {"alg": "ES256", "kid": ec["kid"]})) == (
        "bad signature"
    )
    own_kid = {"alg": "RS256", "kid": attacker_rsa.thumbprint()}
    assert _rejected(tenant_a, forged(attacker_rsa, own_kid)) == "unknown kid"
    embedded = {"alg": "ES256", "kid": ec["kid"], "jwk": attacker_ec.export_public(as_dict=True)}
    assert _rejected(tenant_a, forged(attacker_ec, embedded)) == "bad signature"
    # The right kid under the other alg (an RSA key named for ES256).
    assert _rejected(tenant_a, forged(attacker_ec, {"alg": "ES256", "kid": rsa["kid"]})) == (
        "unknown kid"
    )

    with tenant_a.context():
        genuine = sign_jwt(_claims())
    header, _, signature = genuine.split(".")
    tampered = f"{header}.{_b64(payload)}.{signature}"
    with pytest.raises(jose.VerificationFailed):
        jose.verify(tampered, jwks, ["RS256"])
    assert _rejected(tenant_a, tampered) == "bad signature"


def test_alg_none_is_refused_with_or_without_a_signature(tenant_a):
    rsa_kid, _ = _stored_key(tenant_a, "RS256")
    payload = _segment(_claims())
    for alg in ("none", "None", "NONE"):
        header = _segment({"alg": alg, "kid": rsa_kid})
        for token in (f"{header}.{payload}.", f"{header}.{payload}.{_b64(b'x' * 256)}"):
            assert _rejected(tenant_a, token) == "unsupported alg or missing kid"


def test_a_validly_signed_jws_is_still_refused_without_kid_or_with_critical_extensions(tenant_a):
    """Headers joserfc alone would accept: it takes a key set's only matching key for a JWS
    without kid, and it implements RFC 7797 ``b64: false``; this issuer uses neither."""
    from oauth.signing.jws import verify_jwt

    rsa_kid, _ = _stored_key(tenant_a, "RS256")
    payload = json.dumps(_claims(), separators=(",", ":"))
    ok = _rs256_by_hand(tenant_a, {"alg": "RS256", "kid": rsa_kid, "x-note": "ignored"}, payload)
    with tenant_a.context():
        assert verify_jwt(ok)["sub"] == "user-1"  # RFC 7515 §4: unknown members are ignored

    assert _rejected(tenant_a, _rs256_by_hand(tenant_a, {"alg": "RS256"}, payload)) == (
        "malformed JWT"
    )
    assert _rejected(tenant_a, _rs256_by_hand(tenant_a, {"alg": "RS256", "kid": 7}, payload))
    unencoded = {"alg": "RS256", "kid": rsa_kid, "b64": False, "crit": ["b64"]}
    token = _rs256_by_hand(tenant_a, unencoded, payload, encode_payload=False)
    assert _rejected(tenant_a, token) == "malformed JWT"
    no_crit = {"alg": "RS256", "kid": rsa_kid, "b64": False}
    assert _rejected(tenant_a, _rs256_by_hand(tenant_a, no_crit, payload, encode_payload=False))
    critical = {"alg": "RS256", "kid": rsa_kid, "exp-check": 1, "crit": ["exp-check"]}
    assert _rejected(tenant_a, _rs256_by_hand(tenant_a, critical, payload)) == "malformed JWT"


@pytest.mark.parametrize(
    "payload",
    [
        '{"sub":"u"}',  # RFC 7519 §4.1.4: this issuer requires exp
        '{"exp":NaN}',  # never expires by comparison; not a NumericDate
        '{"exp":Infinity}',
        '{"exp":"9999999999"}',
        '{"exp":true}',
        '{"exp":9999999999,"nbf":"0"}',
        "[1]",
        '"a string"',
    ],
)
def test_validly_signed_claims_of_the_wrong_type_are_refused(tenant_a, payload):
    rsa_kid, _ = _stored_key(tenant_a, "RS256")
    _rejected(tenant_a, _rs256_by_hand(tenant_a, {"alg": "RS256", "kid": rsa_kid}, payload))


def test_exp_and_nbf_are_checked_with_the_callers_leeway_and_iat_is_not(tenant_a):
    from datetime import UTC, datetime

    from oauth.signing.jws import sign_jwt, verify_jwt

    now = int(time.time())
    with tenant_a.context():
        # iat ahead of this clock (another server's is fast): not a reason to refuse.
        token = sign_jwt({"exp": now + 100, "nbf": now + 20, "iat": now + 60})
        at = lambda offset: datetime.fromtimestamp(now + offset, tz=UTC)  # noqa: E731
        assert verify_jwt(token, now=at(30))["iat"] == now + 60
        assert verify_jwt(token, now=at(10), leeway=10)
        assert verify_jwt(token, now=at(105), leeway=10)
    assert _rejected(tenant_a, token, now=at(10), leeway=5) == "not yet valid"
    assert _rejected(tenant_a, token, now=at(100)) == "expired or without exp"
    assert _rejected(tenant_a, token, now=at(110), leeway=10) == "expired or without exp"


def _nested(depth: int) -> str:
    return _b64(("[" * depth + "]" * depth).encode())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "...",
        f"{_nested(100_000)}.e30.sig",  # RecursionError inside json
        f"{_segment({'alg': 'RS256', 'kid': 'k'})}.{_nested(100_000)}.sig",
        f"{_segment(['alg'])}.e30.sig",  # a header that is not an object
        f"{_segment('alg kid')}.e30.sig",
        f"{_segment({'alg': 'RS256', 'kid': 'k', 'crit': 5})}.e30.sig",
        f"{_segment({'alg': 'RS256', 'kid': 'k', 'crit': {'a': 1}})}.e30.sig",
        f"{_segment({'alg': ['RS256'], 'kid': 'k'})}.e30.sig",
        f"{_segment({'alg': 'RS256', 'kid': ['k']})}.e30.sig",
        f"{_segment({'alg': 'RS256', 'kid': 'k', 'typ': {'a': 1}})}.e30.sig",
        f"{_segment({'alg': 'RS256', 'kid': 'k'})}.e30.!!!",
        f"{_segment({'alg': 'RS256', 'kid': 'k'})}.{'A' * 200_000}.sig",  # joserfc size limit
        "é.é.é",
        "eyJhbGciOiJSUzI1NiJ9\x00.e30.sig",
        None,
        123,
        b"a.b.c",
        ["a", "b", "c"],
    ],
)
def test_malformed_input_of_any_shape_is_a_verification_error(tenant_a, token):
    _rejected(tenant_a, token)
    _rejected(tenant_a, token, typ="at+jwt")


def test_unverified_header_reads_a_header_without_trusting_it(tenant_a):
    from oauth.signing.jws import sign_jwt, unverified_header

    with tenant_a.context():
        token = sign_jwt(_claims(), typ="at+jwt")
    assert unverified_header(token)["typ"] == "at+jwt"
    for malformed in ("not.a.jwt", f"{_nested(100_000)}.e30.sig", f"{_segment([1])}.e30.x"):
        assert unverified_header(malformed) is None
