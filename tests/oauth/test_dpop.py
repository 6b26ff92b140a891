"""DPoP (RFC 9449) in process: proofs at the token endpoint, bound tokens, introspection,
userinfo, server nonces, and the walls between tenants."""

import base64
import json
import re
import time

import pytest

from tests.support import jose
from tests.support.dpop import DPoPKey, hs256_proof
from tests.support.factories import (
    assert_error,
    exchange_code,
    get_code,
    introspect,
    make_client,
    make_public_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    refresh,
    remember_tokens,
    signed_in,
    token_request,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}


def token_url(tenant) -> str:
    return tenant.issuer + "/oauth/token"


def userinfo_url(tenant) -> str:
    return tenant.issuer + "/oauth/userinfo"


def dpop_token(tenant, client, key: DPoPKey, url: str | None = None, **proof) -> dict:
    proof_value = key.proof("POST", url or token_url(tenant), **proof)
    response = token_request(tenant, CC, client, HTTP_DPOP=proof_value)
    assert response.status_code == 200, response.content
    return remember_tokens(response.json())


def claims_of(jwt: str) -> dict:
    segment = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def stored_jkt(tenant, access_token: str):
    from kernel import credentials
    from oauth.models import Token

    with tenant.context():
        row = Token.objects.get(access_digest=credentials.digest(access_token))
        return row.dpop_jkt


@pytest.fixture
def nonce_required(tenant_a, tenant_b):
    """Both tenants require DPoP server nonces (RFC 9449 §8) for the test."""
    from oauth.models import IssuerSettings

    def switch(value: bool) -> None:
        for tenant in (tenant_a, tenant_b):
            with tenant.context():
                row = IssuerSettings.load()
                row.dpop_nonce_required = value
                row.save()

    switch(True)
    yield
    switch(False)


# --- Token endpoint: the happy paths --------------------------------------------------------------


def test_client_credentials_token_is_bound_and_introspection_shows_cnf(tenant):
    client = make_client(tenant)
    rs = make_client(tenant, name="RS", can_introspect=True)
    key = DPoPKey()
    body = dpop_token(tenant, client, key)
    assert body["token_type"] == "DPoP"
    assert stored_jkt(tenant, body["access_token"]) == key.jkt
    info = introspect(tenant, rs, body["access_token"]).json()
    assert info["active"] is True
    assert info["token_type"] == "DPoP"
    assert info["cnf"] == {"jkt": key.jkt}
    # RFC 7638 as another implementation computes it.
    assert key.jkt == jose.thumbprint(key.public_jwk)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256", "EdDSA"])
def test_every_advertised_kind_of_key_binds(tenant_a, alg):
    client = make_client(tenant_a)
    key = DPoPKey(alg)
    body = dpop_token(tenant_a, client, key)
    assert body["token_type"] == "DPoP"
    assert stored_jkt(tenant_a, body["access_token"]) == key.jkt


def test_without_a_proof_the_token_stays_a_bearer_token(tenant_a):
    client = make_client(tenant_a)
    rs = make_client(tenant_a, name="RS", can_introspect=True)
    response = token_request(tenant_a, CC, client)
    body = remember_tokens(response.json())
    assert body["token_type"] == "Bearer"
    assert stored_jkt(tenant_a, body["access_token"]) is None
    info = introspect(tenant_a, rs, body["access_token"]).json()
    assert info["token_type"] == "Bearer" and "cnf" not in info


def test_jwt_access_token_carries_cnf_jkt(tenant_a):
    client = make_client(tenant_a, access_token_format="jwt")
    key = DPoPKey("PS256")
    body = dpop_token(tenant_a, client, key)
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}


def test_dpop_required_client_is_refused_without_a_proof(tenant_a):
    client = make_client(tenant_a, dpop_bound_access_tokens=True)
    body = assert_error(token_request(tenant_a, CC, client), 400, "invalid_dpop_proof")
    assert "DPoP" in body["error_description"]
    assert dpop_token(tenant_a, client, DPoPKey())["token_type"] == "DPoP"


def test_fapi_client_proofs_take_fapi_algs_only(tenant_a):
    """FAPI 2.0 §5.4.1: PS256, ES256, EdDSA; the profile's algs are the proof's allow-list."""
    from joserfc.jwk import ECKey

    from oauth import dpop
    from oauth.models import Client
    from oauth.security_profile import requirements
    from tests.support.assertions import public_set

    keys = public_set(ECKey.generate_key("P-256", parameters={"kid": "fapi-dpop"}))
    client = make_client(
        tenant_a, security_profile="fapi2", auth_method="private_key_jwt", jwks=keys
    )
    url = token_url(tenant_a)
    with tenant_a.context():
        needs = requirements(Client.objects.get(pk=client.pk))
        assert needs.dpop_required
        with pytest.raises(dpop.InvalidDPoPProofError, match="signed with one of"):
            dpop.verify_proof(
                DPoPKey("RS256").proof("POST", url), method="POST", url=url, algs=needs.signing_algs
            )
        key = DPoPKey("PS256")
        proof = dpop.verify_proof(
            key.proof("POST", url), method="POST", url=url, algs=needs.signing_algs
        )
        assert proof.jkt == key.jkt


# --- Token endpoint: every refusal --------------------------------------------------------------


def _refused(tenant, client, proof: str) -> dict:
    response = token_request(tenant, CC, client, HTTP_DPOP=proof)
    return assert_error(response, 400, "invalid_dpop_proof")


def test_replayed_jti_is_refused(tenant):
    client = make_client(tenant)
    key = DPoPKey()
    proof = key.proof("POST", token_url(tenant))
    assert token_request(tenant, CC, client, HTTP_DPOP=proof).status_code == 200
    body = _refused(tenant, client, proof)
    assert "used before" in body["error_description"]
    # The same jti in a fresh proof is a replay too.
    jti = claims_of(proof)["jti"]
    _refused(tenant, client, key.proof("POST", token_url(tenant), jti=jti))


@pytest.mark.parametrize(
    "make_proof, words",
    [
        (lambda t, k: k.proof("POST", t.issuer + "/oauth/introspect"), "htu"),
        (lambda t, k: k.proof("POST", "https://evil.example/oauth/token"), "htu"),
        (lambda t, k: k.proof("GET", t.issuer + "/oauth/token"), "htm"),
        (lambda t, k: k.proof("POST", t.issuer + "/oauth/token", iat=time.time() - 300), "iat"),
        (lambda t, k: k.proof("POST", t.issuer + "/oauth/token", iat=time.time() + 300), "iat"),
        (lambda t, k: k.proof("POST", t.issuer + "/oauth/token", typ=None), "typ"),
        (lambda t, k: k.proof("POST", t.issuer + "/oauth/token", typ="JWT"), "typ"),
        (
            lambda t, k: k.proof(
                "POST", t.issuer + "/oauth/token", jwk=k.key.as_dict(private=True)
            ),
            "private",
        ),
        (
            lambda t, k: k.proof("POST", t.issuer + "/oauth/token", jwk=DPoPKey().public_jwk),
            "signature",
        ),
        (lambda t, k: hs256_proof("POST", t.issuer + "/oauth/token"), "signed with one of"),
        (lambda t, k: "not-a-jwt", "one proof"),
        (
            lambda t, k: (
                k.proof("POST", t.issuer + "/oauth/token")
                + ","
                + k.proof("POST", t.issuer + "/oauth/token")
            ),
            "exactly one",
        ),
    ],
    ids=[
        "other-endpoint",
        "other-host",
        "other-method",
        "stale-iat",
        "future-iat",
        "no-typ",
        "wrong-typ",
        "private-jwk",
        "other-key",
        "hs256",
        "garbage",
        "two-headers",
    ],
)
def test_bad_proofs_are_refused(tenant_a, make_proof, words):
    client = make_client(tenant_a)
    body = _refused(tenant_a, client, make_proof(tenant_a, DPoPKey()))
    assert words in body["error_description"], body


@pytest.mark.parametrize(
    "value",
    ["é.é.é", "a" * 9000, "..", "e30.e30.", "W10.W10.AA", "eyJhbGciOiJFUzI1NiJ9.!!!.@@@"],
    ids=["non-ascii", "oversized", "empty-parts", "empty-objects", "arrays", "bad-base64"],
)
def test_odd_dpop_headers_get_a_clean_answer(tenant_a, value):
    client = make_client(tenant_a)
    _refused(tenant_a, client, value)


def test_odd_claims_get_a_clean_answer(tenant_a):
    client = make_client(tenant_a)
    key = DPoPKey()
    url = token_url(tenant_a)
    for claims in (
        {"iat": "now"},
        {"iat": True},
        {"iat": 1e300},
        {"jti": 42},
        {"jti": ""},
        {"jti": "x" * 300},
        {"htm": ["POST"]},
        {"htu": {"url": url}},
        {"htu": "http://[::1"},
    ):
        body = _refused(tenant_a, client, key.proof("POST", url, claims=claims))
        assert body["error_description"], claims


def test_htu_is_compared_after_normalisation(tenant_a):
    """RFC 9449 §4.3: scheme and host case, default port; query and fragment ignored."""
    client = make_client(tenant_a)
    scheme, host = tenant_a.issuer.split("://")
    url = f"{scheme.upper()}://{host.upper()}:443/oauth/token?x=1#f"
    assert dpop_token(tenant_a, client, DPoPKey(), url=url)["token_type"] == "DPoP"
    # The path is not case-folded.
    _refused(tenant_a, client, DPoPKey().proof("POST", f"{scheme}://{host}/OAUTH/TOKEN"))


def test_proof_htu_uses_the_issuer_not_the_host_header(tenant_a):
    """The Host header ``A.gatehouse.test:443`` routes to the tenant; the proof is for the
    issuer's URL, and one naming the raw Host header's spelling is compared normalised."""
    client = make_client(tenant_a)
    web = tenant_a.client(HTTP_HOST=tenant_a.host.upper() + ".")
    proof = DPoPKey().proof("POST", token_url(tenant_a))
    response = post_form(web, "/oauth/token", CC, HTTP_DPOP=proof, **client.basic())
    assert response.status_code == 200, response.content
    remember_tokens(response.json())


# --- Code flow and refresh ------------------------------------------------------------------------


def _code_tokens(tenant, client, key: DPoPKey | None, user=None) -> dict:
    user = user or make_user(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, signed_in(tenant, user), client, challenge, scope="openid api")
    extra = {"HTTP_DPOP": key.proof("POST", token_url(tenant))} if key else {}
    response = exchange_code(tenant, client, code, verifier, **extra)
    assert response.status_code == 200, response.content
    return remember_tokens(response.json())


def _refresh(tenant, client, refresh_token: str, key: DPoPKey | None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    extra = {"HTTP_DPOP": key.proof("POST", token_url(tenant))} if key else {}
    if client.secret is None:
        data["client_id"] = client.client_id
        return post_form(tenant.client(), "/oauth/token", data, **extra)
    return token_request(tenant, data, client, **extra)


def test_public_client_refresh_needs_the_same_key(tenant):
    client = make_public_client(tenant)
    key = DPoPKey()
    body = _code_tokens(tenant, client, key)
    assert body["token_type"] == "DPoP"
    assert stored_jkt(tenant, body["access_token"]) == key.jkt
    # Without a proof, or with another key: refused, and the refresh token still works.
    assert_error(_refresh(tenant, client, body["refresh_token"], None), 400, "invalid_dpop_proof")
    assert_error(
        _refresh(tenant, client, body["refresh_token"], DPoPKey()), 400, "invalid_dpop_proof"
    )
    response = _refresh(tenant, client, body["refresh_token"], key)
    assert response.status_code == 200, response.content
    refreshed = remember_tokens(response.json())
    assert refreshed["token_type"] == "DPoP"
    assert stored_jkt(tenant, refreshed["access_token"]) == key.jkt


def test_confidential_client_refresh_is_bound_by_client_authentication(tenant_a):
    client = make_web_client(tenant_a)
    key = DPoPKey()
    body = _code_tokens(tenant_a, client, key)
    assert body["token_type"] == "DPoP"
    # RFC 9449 §5: a confidential client's refresh token is not bound to the key; a new key
    # (say, after the client rotated it) binds the new access token.
    other = DPoPKey()
    response = _refresh(tenant_a, client, body["refresh_token"], other)
    assert response.status_code == 200, response.content
    refreshed = remember_tokens(response.json())
    assert stored_jkt(tenant_a, refreshed["access_token"]) == other.jkt


def test_dpop_jkt_binds_the_code_to_a_key(tenant):
    """RFC 9449 §10: the code goes only with a proof of the key the request named."""
    client = make_public_client(tenant)
    key = DPoPKey()
    verifier, challenge = pkce_pair()
    web = signed_in(tenant, make_user(tenant))
    code = get_code(tenant, web, client, challenge, scope="openid api", dpop_jkt=key.jkt)
    # No proof, or a thief's key: refused, and the code is still its client's.
    for extra in ({}, {"HTTP_DPOP": DPoPKey().proof("POST", token_url(tenant))}):
        refused = exchange_code(tenant, client, code, verifier, **extra)
        body = assert_error(refused, 400, "invalid_dpop_proof")
        assert "dpop_jkt" in body["error_description"]
    proof = key.proof("POST", token_url(tenant))
    response = exchange_code(tenant, client, code, verifier, HTTP_DPOP=proof)
    assert response.status_code == 200, response.content
    body = remember_tokens(response.json())
    assert body["token_type"] == "DPoP" and stored_jkt(tenant, body["access_token"]) == key.jkt


def test_malformed_dpop_jkt_goes_back_to_the_client(tenant_a):
    from tests.support.factories import authorize_params, query_of

    client = make_public_client(tenant_a)
    _verifier, challenge = pkce_pair()
    web = signed_in(tenant_a, make_user(tenant_a))
    params = authorize_params(client, challenge, dpop_jkt="not-a-thumbprint")
    response = web.get("/oauth/authorize", params, secure=True)
    assert response.status_code == 302
    query = query_of(response["Location"])
    assert query["error"] == "invalid_request" and "dpop_jkt" in query["error_description"]


# --- Userinfo (RFC 9449 §7) -----------------------------------------------------------------------


def _userinfo(tenant, access_token: str, *, scheme: str = "DPoP", proof: str | None = None):
    extra = {"HTTP_AUTHORIZATION": f"{scheme} {access_token}"}
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return tenant.client().get("/oauth/userinfo", secure=True, **extra)


def _challenge(response) -> tuple[str, dict]:
    header = response["WWW-Authenticate"]
    return header.split(" ", 1)[0], dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_userinfo_accepts_a_dpop_token_with_its_proof(tenant):
    client = make_web_client(tenant, scopes=["openid", "api"])
    key = DPoPKey()
    user = make_user(tenant)
    body = _code_tokens(tenant, client, key, user=user)
    token = body["access_token"]
    proof = key.proof("GET", userinfo_url(tenant), access_token=token)
    response = _userinfo(tenant, token, proof=proof)
    assert response.status_code == 200, response.content
    assert response.json()["sub"] == str(user.sub)
    # The proof is single use at the resource too.
    replayed = _userinfo(tenant, token, proof=proof)
    assert replayed.status_code == 401
    assert _challenge(replayed) == ("DPoP", _challenge(replayed)[1])
    assert _challenge(replayed)[1]["error"] == "invalid_dpop_proof"


def test_userinfo_refusals(tenant_a):
    client = make_web_client(tenant_a, scopes=["openid", "api"])
    key = DPoPKey()
    token = _code_tokens(tenant_a, client, key)["access_token"]
    url = userinfo_url(tenant_a)

    # A DPoP-bound token used as a bearer token (§7.1).
    as_bearer = _userinfo(tenant_a, token, scheme="Bearer")
    assert as_bearer.status_code == 401
    assert _challenge(as_bearer)[1]["error"] == "invalid_token"
    # ... even with a valid proof alongside.
    with_proof = _userinfo(
        tenant_a, token, scheme="Bearer", proof=key.proof("GET", url, access_token=token)
    )
    assert with_proof.status_code == 401 and with_proof.json()["error"] == "invalid_token"

    # A stolen DPoP token presented with the thief's key.
    thief = DPoPKey()
    stolen = _userinfo(tenant_a, token, proof=thief.proof("GET", url, access_token=token))
    assert stolen.status_code == 401
    scheme, params = _challenge(stolen)
    assert scheme == "DPoP" and params["error"] == "invalid_dpop_proof"
    assert "ES256" in params["algs"].split() and "HS256" not in params["algs"]
    assert "another key" in params["error_description"]

    # The right key, but the proof names another token (ath), or none, or another URL.
    for proof in (
        key.proof("GET", url, access_token="another-token"),
        key.proof("GET", url, claims={"ath": "\ud800"}),
        key.proof("GET", url),
        key.proof("GET", tenant_a.issuer + "/oauth/token", access_token=token),
        key.proof("POST", url, access_token=token),
    ):
        response = _userinfo(tenant_a, token, proof=proof)
        assert response.status_code == 401, response.content
        assert response.json()["error"] == "invalid_dpop_proof"
    # No proof at all.
    assert _userinfo(tenant_a, token).json()["error"] == "invalid_dpop_proof"

    # And the token still works for its holder.
    ok = _userinfo(tenant_a, token, proof=key.proof("GET", url, access_token=token))
    assert ok.status_code == 200, ok.content


def test_bearer_token_with_the_dpop_scheme_is_refused(tenant_a):
    client = make_web_client(tenant_a, scopes=["openid", "api"])
    token = _code_tokens(tenant_a, client, None)["access_token"]
    key = DPoPKey()
    response = _userinfo(
        tenant_a,
        token,
        proof=key.proof("GET", userinfo_url(tenant_a), access_token=token),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert _userinfo(tenant_a, token, scheme="Bearer").status_code == 200


# --- Server nonces (§8) and tenants ---------------------------------------------------------------


def test_nonce_flow(tenant, nonce_required):
    client = make_client(tenant)
    key = DPoPKey()
    first = token_request(tenant, CC, client, HTTP_DPOP=key.proof("POST", token_url(tenant)))
    assert_error(first, 400, "use_dpop_nonce")
    nonce = first["DPoP-Nonce"]
    assert nonce
    for bad in ("not-the-nonce", "\ud800"):
        wrong = key.proof("POST", token_url(tenant), nonce=bad)
        assert_error(token_request(tenant, CC, client, HTTP_DPOP=wrong), 400, "use_dpop_nonce")
    body = dpop_token(tenant, client, key, nonce=nonce)
    assert body["token_type"] == "DPoP"


def test_userinfo_nonce_flow(tenant_a, nonce_required):
    client = make_web_client(tenant_a, scopes=["openid", "api"])
    key = DPoPKey()
    url = userinfo_url(tenant_a)
    first = token_request(
        tenant_a, CC, make_client(tenant_a), HTTP_DPOP=key.proof("POST", token_url(tenant_a))
    )
    nonce = first["DPoP-Nonce"]
    user = make_user(tenant_a)
    verifier, challenge = pkce_pair()
    code = get_code(tenant_a, signed_in(tenant_a, user), client, challenge, scope="openid api")
    proof = key.proof("POST", token_url(tenant_a), nonce=nonce)
    body = remember_tokens(exchange_code(tenant_a, client, code, verifier, HTTP_DPOP=proof).json())
    token = body["access_token"]
    response = _userinfo(tenant_a, token, proof=key.proof("GET", url, access_token=token))
    assert response.status_code == 401
    assert _challenge(response)[1]["error"] == "use_dpop_nonce"
    assert response["DPoP-Nonce"] == nonce
    ok = _userinfo(tenant_a, token, proof=key.proof("GET", url, access_token=token, nonce=nonce))
    assert ok.status_code == 200, ok.content


def test_a_nonce_of_tenant_a_means_nothing_at_b(tenant_a, tenant_b, nonce_required):
    key = DPoPKey()
    client_a, client_b = make_client(tenant_a), make_client(tenant_b)
    nonce_a = token_request(
        tenant_a, CC, client_a, HTTP_DPOP=key.proof("POST", token_url(tenant_a))
    )["DPoP-Nonce"]
    at_b = token_request(
        tenant_b, CC, client_b, HTTP_DPOP=key.proof("POST", token_url(tenant_b), nonce=nonce_a)
    )
    assert_error(at_b, 400, "use_dpop_nonce")
    assert at_b["DPoP-Nonce"] != nonce_a
    assert dpop_token(tenant_a, client_a, key, nonce=nonce_a)["token_type"] == "DPoP"


def test_a_jti_of_tenant_a_means_nothing_at_b(tenant_a, tenant_b):
    key = DPoPKey()
    client_a, client_b = make_client(tenant_a), make_client(tenant_b)
    jti = remember_secret("shared-jti-" + str(time.time_ns()))
    dpop_token(tenant_a, client_a, key, jti=jti)
    # B's replay cache does not know A's jti ...
    assert dpop_token(tenant_b, client_b, key, jti=jti)["token_type"] == "DPoP"
    # ... and each tenant still refuses its own replay.
    _refused(tenant_a, client_a, key.proof("POST", token_url(tenant_a), jti=jti))
    _refused(tenant_b, client_b, key.proof("POST", token_url(tenant_b), jti=jti))


def test_a_dpop_token_of_a_is_unknown_at_b(tenant_a, tenant_b):
    client = make_web_client(tenant_a, scopes=["openid", "api"])
    key = DPoPKey()
    token = _code_tokens(tenant_a, client, key)["access_token"]
    response = _userinfo(
        tenant_b, token, proof=key.proof("GET", userinfo_url(tenant_b), access_token=token)
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_metadata_advertises_dpop_algs(tenant_a):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        doc = tenant_a.client().get(path, secure=True).json()
        algs = doc["dpop_signing_alg_values_supported"]
        assert "ES256" in algs and "PS256" in algs
        assert not {"HS256", "none"} & set(algs)


def test_a_fapi_tenant_advertises_the_fapi_algs(tenant_a):
    from oauth.models import IssuerSettings

    with tenant_a.context():
        row = IssuerSettings.load()
        row.security_profile = "fapi2"
        row.save()
    doc = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert doc["dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]


def test_refresh_helper_unchanged_for_bearer_tokens(tenant_a):
    """Plain refresh (no DPoP anywhere) still works: the binding is opt-in."""
    client = make_public_client(tenant_a)
    body = _code_tokens(tenant_a, client, None)
    response = refresh(tenant_a, client, body["refresh_token"])
    assert response.status_code == 200, response.content
    assert remember_tokens(response.json())["token_type"] == "Bearer"


def test_a_client_changed_mid_request_is_answered_with_the_same_proof(tenant_a, settings):
    """The hot path answers again from a fresh client read when the cached one turned out
    changed (``oauth.server``): the proof verified in the first pass is not a replay in the
    second, and the second pass applies the fresh client's requirements."""
    from django.utils import timezone

    from oauth import selectors
    from oauth.models import Client

    settings.GATEHOUSE = {**settings.GATEHOUSE, "CLIENT_CACHE_SECONDS": 300}
    selectors._client_cache.clear()
    try:
        client = make_client(tenant_a)
        remember_tokens(token_request(tenant_a, CC, client).json())  # now cached
        with tenant_a.context():  # changed elsewhere: this process's cache is stale
            Client.objects.filter(pk=client.pk).update(updated_at=timezone.now())
        key = DPoPKey()
        body = dpop_token(tenant_a, client, key)
        assert body["token_type"] == "DPoP"
        assert stored_jkt(tenant_a, body["access_token"]) == key.jkt
        # Turned DPoP-only elsewhere: the fresh read refuses a request without a proof.
        with tenant_a.context():
            Client.objects.filter(pk=client.pk).update(
                dpop_bound_access_tokens=True, updated_at=timezone.now()
            )
        assert_error(token_request(tenant_a, CC, client), 400, "invalid_dpop_proof")
    finally:
        selectors._client_cache.clear()
