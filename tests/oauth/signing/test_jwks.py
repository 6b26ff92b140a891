"""/oauth/jwks (RFC 7517 §5): shape, public members only, RFC 7638 kids, caching, isolation."""

import base64
import hashlib
import json
import time

import pytest
import requests
from jwcrypto import jwk

from tests.support import jose
from tests.support.jwks import fetch_jwks, kids

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
PUBLIC_MEMBERS = {"RSA": {"kty", "n", "e"}, "EC": {"kty", "crv", "x", "y"}}


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 §3, written out independently of the code under test."""
    required = {name: jwk[name] for name in PUBLIC_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _db_kids(tenant, states=("next", "current", "retiring")) -> set[str]:
    from oauth.models import SigningKey

    with tenant.context():
        return set(SigningKey.objects.filter(state__in=states).values_list("kid", flat=True))


@pytest.mark.django_db
def test_jwks_shape_public_members_only_and_cache_headers(tenant_a):
    from oauth.models import IssuerSettings

    response = tenant_a.client().get("/oauth/jwks")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["Access-Control-Allow-Origin"] == "*"
    keys = response.json()["keys"]
    assert [(k["alg"], k["kty"]) for k in keys[:2]] == [("RS256", "RSA"), ("ES256", "EC")]
    assert sorted(k["alg"] for k in keys) == ["ES256", "ES256", "RS256", "RS256"]
    for key in keys:
        assert set(key) == PUBLIC_MEMBERS[key["kty"]] | {"kid", "use", "alg"}
        assert not PRIVATE_MEMBERS & set(key)
        assert key["use"] == "sig"
        assert key["kid"] == _thumbprint(key)
        imported = jwk.JWK(**key)
        assert imported.has_private is False and imported.thumbprint() == key["kid"]
    assert kids(response.json()) == _db_kids(tenant_a)

    with tenant_a.context():
        IssuerSettings.objects.update(jwks_max_age=600)
    assert tenant_a.client().get("/oauth/jwks")["Cache-Control"] == "public, max-age=600"


def test_thumbprint_matches_the_rfc_7638_example():
    from oauth.signing.keys import jwk_thumbprint

    rfc_example = {  # RFC 7638 §3.1
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJ"
        "zKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(rfc_example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_jwks_answers_get_and_head_only(tenant_a, method):
    response = getattr(tenant_a.client(enforce_csrf_checks=True), method)("/oauth/jwks")
    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD"}
    assert tenant_a.client().head("/oauth/jwks").status_code == 200


@pytest.mark.django_db
def test_each_tenant_publishes_only_its_own_keys(tenant_a, tenant_b):
    jwks_a = tenant_a.client().get("/oauth/jwks").json()
    jwks_b = tenant_b.client().get("/oauth/jwks").json()
    assert kids(jwks_a) == _db_kids(tenant_a) and kids(jwks_b) == _db_kids(tenant_b)
    assert kids(jwks_a).isdisjoint(kids(jwks_b))


@pytest.mark.live
def test_live_jwks_per_tenant_over_http(gatehouse_server, tenant_a, tenant_b, commit):
    jwks_a, jwks_b = fetch_jwks(gatehouse_server, tenant_a), fetch_jwks(gatehouse_server, tenant_b)
    with commit():
        assert kids(jwks_a) == _db_kids(tenant_a) and kids(jwks_b) == _db_kids(tenant_b)
    assert kids(jwks_a).isdisjoint(kids(jwks_b))
    url = gatehouse_server.url(tenant_a.host, "/oauth/jwks")
    assert requests.head(url, timeout=10).headers["Cache-Control"].startswith("public, max-age=")
    assert requests.post(url, timeout=10).status_code == 405


@pytest.mark.live
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_jwt_signed_for_tenant_a_fails_at_tenant_b(
    gatehouse_server, tenant_a, tenant_b, commit, alg
):
    from oauth.signing.jws import JWTVerificationError, sign_jwt, verify_jwt

    claims = {"iss": tenant_a.issuer, "sub": "user-1", "exp": int(time.time()) + 300}
    with commit(tenant_a):
        token = sign_jwt(claims, alg=alg)
        assert verify_jwt(token)["sub"] == "user-1"
    jwks_a, jwks_b = fetch_jwks(gatehouse_server, tenant_a), fetch_jwks(gatehouse_server, tenant_b)

    verified = jose.verify(token, jwks_a, [alg])
    assert verified.claims == claims and verified.header["kid"] in kids(jwks_a)
    with pytest.raises(jose.VerificationFailed):
        jose.verify(token, jwks_b, [alg])
    for key in jwks_b["keys"]:  # not even if B's keys are tried one by one, ignoring kid
        if key["alg"] == alg:
            with pytest.raises(jose.VerificationFailed):
                jose.verify(token, jwk.JWK(**key), [alg])
    with commit(tenant_b), pytest.raises(JWTVerificationError):
        verify_jwt(token)
