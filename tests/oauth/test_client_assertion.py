"""Client authentication by assertion (``oauth.client_assertion``): ``private_key_jwt`` and
``client_secret_jwt`` (RFC 7523 §2.2, §3; OIDC Core §9) at the token, revocation and
introspection endpoints, and FAPI 2.0's part of it (private_key_jwt only, PS256/ES256/EdDSA)."""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.support.assertions import ASSERTION_TYPE, assertion, public_set
from tests.support.factories import (
    assert_error,
    basic_auth,
    client_credentials_token,
    make_client,
    post_form,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def rsa_key():
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture
def ec_key():
    return ECKey.generate_key("P-256", parameters={"kid": f"ec-{uuid.uuid4().hex[:6]}"})


def token_with(tenant, value: str, path: str = "/oauth/token", **extra):
    data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value, **extra}
    if path == "/oauth/token":
        data.setdefault("grant_type", "client_credentials")
    return post_form(tenant.client(), path, data)


def refused(response, words: str) -> None:
    body = assert_error(response, 401, "invalid_client")
    assert words in body["error_description"], body


def key_client(tenant, key, **options):
    options.setdefault("auth_method", "private_key_jwt")
    options.setdefault("jwks", public_set(key))
    return make_client(tenant, **options)


def test_private_key_jwt_gets_a_token_with_the_issuer_or_token_url_as_aud(tenant, ec_key):
    client = key_client(tenant, ec_key)
    assert client.secret is None  # a private_key_jwt client has no secret
    for aud in (tenant.issuer, tenant.issuer + "/oauth/token"):
        response = token_with(tenant, assertion(client.client_id, ec_key, aud))
        assert response.status_code == 200, response.content
        remember_secret(response.json()["access_token"])
        assert response.json()["token_type"] == "Bearer"
    # A body client_id equal to iss and sub is fine; a different one is not.
    ok = token_with(
        tenant, assertion(client.client_id, ec_key, tenant.issuer), client_id=client.client_id
    )
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    refused(
        token_with(tenant, assertion(client.client_id, ec_key, tenant.issuer), client_id="other"),
        "client_id in the body differs",
    )


def test_every_bad_assertion_is_a_clear_401(tenant, ec_key):
    client = key_client(tenant, ec_key)
    cid, aud = client.client_id, tenant.issuer
    value = assertion(cid, ec_key, aud)
    first = token_with(tenant, value)
    assert first.status_code == 200
    remember_secret(first.json()["access_token"])
    refused(token_with(tenant, value), "jti was used before")
    refused(token_with(tenant, assertion(cid, ec_key, "https://elsewhere.example")), "aud must")
    now = int(time.time())
    refused(
        token_with(tenant, assertion(cid, ec_key, aud, exp=now - 120, iat=now - 180)), "expired"
    )
    refused(token_with(tenant, assertion(cid, ec_key, aud, exp=now + 7200)), "at most 3600 s")
    refused(token_with(tenant, assertion(cid, ec_key, aud, exp=None)), "exp")
    refused(token_with(tenant, assertion(cid, ec_key, aud, jti=None)), "jti")
    refused(token_with(tenant, assertion(cid, ec_key, aud, iat=now + 600)), "not valid")
    refused(token_with(tenant, assertion(cid, ec_key, aud, sub="someone-else")), "iss and sub")
    unknown = ECKey.generate_key("P-256", parameters={"kid": "unknown-kid"})
    refused(token_with(tenant, assertion(cid, unknown, aud)), "kid 'unknown-kid'")
    forged = ECKey.generate_key("P-256", parameters={"kid": ec_key.kid})
    refused(token_with(tenant, assertion(cid, forged, aud)), "does not verify")
    # HS256 "signed" with the public key material is another method, not this client's.
    hmac = OctKey.import_key(b"x" * 32, parameters={"kid": ec_key.kid})
    refused(token_with(tenant, assertion(cid, hmac, aud, alg="HS256")), "private_key_jwt")
    # An assertion for another client: its keys do not verify this one's signature.
    other = key_client(tenant, ECKey.generate_key("P-256", parameters={"kid": ec_key.kid}))
    refused(token_with(tenant, assertion(other.client_id, ec_key, aud)), "does not verify")
    refused(
        token_with(tenant, assertion(cid, ec_key, aud), client_assertion_type="urn:x"),
        "client_assertion_type must be",
    )
    refused(token_with(tenant, "not-a-jwt"), "compact form")


def test_an_assertion_with_basic_or_a_secret_is_invalid_request(tenant, ec_key):
    client = key_client(tenant, ec_key)
    value = assertion(client.client_id, ec_key, tenant.issuer)
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": value,
    }
    response = post_form(tenant.client(), "/oauth/token", data, **basic_auth(client.client_id, "x"))
    assert_error(response, 400, "invalid_request")
    response = post_form(tenant.client(), "/oauth/token", {**data, "client_secret": "x"})
    assert_error(response, 400, "invalid_request")


def test_a_pinned_alg_and_unknown_client(tenant, ec_key, rsa_key):
    client = key_client(
        tenant, rsa_key, jwks=public_set(rsa_key, ec_key), token_endpoint_auth_signing_alg="PS256"
    )
    refused(token_with(tenant, assertion(client.client_id, ec_key, tenant.issuer)), "ES256")
    ok = token_with(tenant, assertion(client.client_id, rsa_key, tenant.issuer, alg="PS256"))
    assert ok.status_code == 200, ok.content
    remember_secret(ok.json()["access_token"])
    refused(token_with(tenant, assertion("nobody", ec_key, tenant.issuer)), "no client")


def test_a_jti_used_at_tenant_a_still_works_at_tenant_b(tenant_a, tenant_b, ec_key):
    at_a = key_client(tenant_a, ec_key)
    at_b = key_client(tenant_b, ec_key)
    jti = uuid.uuid4().hex
    first = token_with(tenant_a, assertion(at_a.client_id, ec_key, tenant_a.issuer, jti=jti))
    assert first.status_code == 200
    remember_secret(first.json()["access_token"])
    second = token_with(tenant_b, assertion(at_b.client_id, ec_key, tenant_b.issuer, jti=jti))
    assert second.status_code == 200, second.content
    remember_secret(second.json()["access_token"])
    # ...and an assertion for tenant A's issuer means nothing at B (wrong aud, unknown client).
    refused(token_with(tenant_b, assertion(at_b.client_id, ec_key, tenant_a.issuer)), "aud must")
    refused(token_with(tenant_b, assertion(at_a.client_id, ec_key, tenant_b.issuer)), "no client")


def test_client_secret_jwt_with_hs256(tenant):
    client = make_client(tenant, auth_method="client_secret_jwt")
    key = OctKey.import_key(client.secret.encode())
    value = assertion(client.client_id, key, tenant.issuer, alg="HS256")
    response = token_with(tenant, value)
    assert response.status_code == 200, response.content
    remember_secret(response.json()["access_token"])
    refused(
        token_with(tenant, assertion(client.client_id, key, tenant.issuer, alg="HS512")),
        "allowed here: HS256",
    )
    wrong = OctKey.import_key(b"w" * 43)
    refused(
        token_with(tenant, assertion(client.client_id, wrong, tenant.issuer, alg="HS256")),
        "does not verify",
    )
    # The secret still works as a digest for Basic at revocation (RFC 7009 2.1).
    from oauth.models import Client

    with tenant.context():
        row = Client.objects.get(pk=client.pk)
        assert row.secret_ciphertext and client.secret not in row.secret_ciphertext
        assert row.check_client_secret(client.secret)


def test_rotation_keeps_client_secret_jwt_working_and_other_methods_keep_no_ciphertext(tenant):
    from oauth.models import Client
    from oauth.services.clients import client_rotate_secret

    client = make_client(tenant, auth_method="client_secret_jwt")
    basic = make_client(tenant)
    with tenant.context():
        row = Client.objects.get(pk=client.pk)
        new_secret = remember_secret(client_rotate_secret(client=row))
        assert Client.objects.get(pk=basic.pk).secret_ciphertext == ""
    key = OctKey.import_key(new_secret.encode())
    response = token_with(tenant, assertion(client.client_id, key, tenant.issuer, alg="HS256"))
    assert response.status_code == 200, response.content
    remember_secret(response.json()["access_token"])


def test_assertions_at_revocation_and_introspection(tenant, ec_key):
    client = key_client(tenant, ec_key, can_introspect=True)
    response = token_with(tenant, assertion(client.client_id, ec_key, tenant.issuer))
    token = remember_secret(response.json()["access_token"])
    introspected = token_with(
        tenant,
        assertion(client.client_id, ec_key, tenant.issuer + "/oauth/introspect"),
        path="/oauth/introspect",
        token=token,
    )
    assert introspected.status_code == 200 and introspected.json()["active"] is True
    revoked = token_with(
        tenant,
        assertion(client.client_id, ec_key, tenant.issuer),
        path="/oauth/revoke",
        token=token,
    )
    assert revoked.status_code == 200
    again = token_with(
        tenant,
        assertion(client.client_id, ec_key, tenant.issuer),
        path="/oauth/introspect",
        token=token,
    )
    assert again.json() == {"active": False}


def test_fapi2_client_needs_private_key_jwt_with_fapi_algs(tenant_a, rsa_key, ec_key):
    """Checked at introspection, where nothing but client authentication is at stake (the
    token endpoint also asks FAPI clients for PAR and DPoP, which other features enforce)."""
    from oauth.client_metadata import ClientError

    fapi = key_client(tenant_a, rsa_key, jwks=public_set(rsa_key, ec_key), security_profile="fapi2")
    url = tenant_a.issuer + "/oauth/introspect"

    def introspect(key, alg):
        value = assertion(fapi.client_id, key, url, alg=alg)
        return token_with(tenant_a, value, path="/oauth/introspect", token="x" * 43)

    refused(introspect(rsa_key, "RS256"), "allowed here: PS256, ES256")
    for key, alg in ((rsa_key, "PS256"), (ec_key, "ES256")):
        answer = introspect(key, alg)
        assert answer.status_code == 200 and answer.json() == {"active": False}, answer.content
    with pytest.raises(ClientError, match="FAPI 2.0 profile needs"):
        make_client(tenant_a, security_profile="fapi2")
    with pytest.raises(ClientError, match="private_key_jwt needs"):
        make_client(tenant_a, auth_method="private_key_jwt")
    with pytest.raises(ClientError, match="does not go with"):
        key_client(
            tenant_a, ec_key, security_profile="fapi2", token_endpoint_auth_signing_alg="RS256"
        )


def test_fapi2_tenant_refuses_client_secret_basic_at_every_endpoint(tenant_a):
    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache

    client = make_client(tenant_a, can_introspect=True)
    token = client_credentials_token(tenant_a, client)["access_token"]
    with tenant_a.context():
        IssuerSettings.objects.update(security_profile="fapi2")
        clear_issuer_policy_cache()
    try:
        response = post_form(
            tenant_a.client(),
            "/oauth/token",
            {"grant_type": "client_credentials"},
            **basic_auth(client.client_id, client.secret),
        )
        refused(response, "must use private_key_jwt, not client_secret_basic")
        for path in ("/oauth/introspect", "/oauth/revoke"):
            response = post_form(
                tenant_a.client(),
                path,
                {"token": token},
                **basic_auth(client.client_id, client.secret),
            )
            refused(response, "FAPI 2.0")
        metadata = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True)
        doc = metadata.json()
        assert doc["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert "RS256" not in doc["token_endpoint_auth_signing_alg_values_supported"]
    finally:
        with tenant_a.context():
            IssuerSettings.objects.update(security_profile="")
            clear_issuer_policy_cache()


def test_discovery_advertises_the_assertion_methods_and_algs(tenant):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        doc = tenant.client().get(path, secure=True).json()
        for endpoint in ("token", "revocation", "introspection"):
            methods = doc[f"{endpoint}_endpoint_auth_methods_supported"]
            assert {"private_key_jwt", "client_secret_jwt"} <= set(methods)
            algs = doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
            assert {"PS256", "ES256", "RS256", "HS256"} <= set(algs) and "none" not in algs
        assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
        if "openid" in path:
            assert "PS256" in doc["id_token_signing_alg_values_supported"]


def test_a_request_answered_again_from_a_fresh_client_read_records_its_jti_once(tenant, ec_key):
    """Introspection of an unknown token by a cached client is answered a second time from a
    fresh read (``oauth.server``): the assertion is verified again, not refused as a replay."""
    client = key_client(tenant, ec_key)
    url = tenant.issuer + "/oauth/introspect"
    for _ in range(3):  # the first read fills the client cache; the next ones come from it
        value = assertion(client.client_id, ec_key, url)
        answer = token_with(tenant, value, path="/oauth/introspect", token="y" * 43)
        assert answer.status_code == 200 and answer.json() == {"active": False}, answer.content
    refused(token_with(tenant, value, path="/oauth/introspect", token="y" * 43), "used before")


def _raw_jwt(header, payload, key) -> str:
    """A compact JWS with exactly this header and payload, ES256-signed by ``key`` (joserfc
    would refuse to build some of these)."""
    import base64
    import json as jsonlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (
        f"{part(jsonlib.dumps(header).encode())}.{part(jsonlib.dumps(payload).encode())}"
    )
    der = key.get_op_key("sign").sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return f"{signing_input}.{part(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_the_raw_helper_signs_what_the_server_accepts(tenant_a, ec_key):
    client = key_client(tenant_a, ec_key)
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": tenant_a.issuer,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    response = token_with(tenant_a, _raw_jwt({"alg": "ES256", "kid": ec_key.kid}, claims, ec_key))
    assert response.status_code == 200, response.content
    remember_secret(response.json()["access_token"])


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "crit": "exp"},
        {"alg": "ES256", "crit": ["b64"], "b64": False},
        {"alg": ["ES256"]},
        {"alg": "ES256", "kid": ["a"]},
        {"alg": "none"},
        ["not", "an", "object"],
    ],
)
def test_odd_assertion_headers_are_401_never_500(tenant_a, ec_key, header):
    client = key_client(tenant_a, ec_key)
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": tenant_a.issuer,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    response = token_with(tenant_a, _raw_jwt(header, claims, ec_key))
    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "soon"},
        {"aud": {"x": 1}},
        {"jti": 7},
        {"nbf": "later"},
        {"iat": []},
        {"exp": 10**30},
    ],
)
def test_odd_assertion_claims_are_401_never_500(tenant_a, ec_key, claims):
    client = key_client(tenant_a, ec_key)
    now = int(time.time())
    body = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": tenant_a.issuer,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    header = {"alg": "ES256", "kid": ec_key.kid}
    response = token_with(tenant_a, _raw_jwt(header, body, ec_key))
    assert_error(response, 401, "invalid_client")


def _secret_jwt_token(tenant, client_id: str, secret: str) -> dict:
    """RFC 7523 §2.2: a client_credentials token for an HS256 assertion MACed with the
    client secret; a wrong secret is refused (401 ``invalid_client``, RFC 6749 §5.2)."""
    wrong = assertion(client_id, OctKey.import_key(b"w" * 43), tenant.issuer, alg="HS256")
    refused(token_with(tenant, wrong), "does not verify")
    key = OctKey.import_key(secret.encode())
    response = token_with(tenant, assertion(client_id, key, tenant.issuer, alg="HS256"))
    assert response.status_code == 200, response.content
    return {**response.json(), "access_token": remember_secret(response.json()["access_token"])}


def test_console_registers_a_client_secret_jwt_client_that_then_authenticates(tenant_a):
    """The console's create form (issue 16: "registered through the CLI, console and
    registration endpoint") makes a ``client_secret_jwt`` client (OIDC Core §9) whose shown
    secret MACs its assertions at the token endpoint."""
    from oauth.models import Client
    from tests.oauth.console.test_clients import _ONCE, _secret_of
    from tests.oauth.console.test_console import _staff_client

    admin = _staff_client(tenant_a)
    form = admin.get("/console/clients/")
    assert b'value="client_secret_jwt"' in form.content
    created = admin.post(
        "/console/clients/",
        {
            "name": "HMAC service",
            "kind": "service",
            "scopes": "api",
            "auth_method": "client_secret_jwt",
            "token_endpoint_auth_signing_alg": "HS256",
            "once": _ONCE.search(form.content).group(1).decode(),
        },
    )
    assert created.status_code == 200, created.content[:3000]
    secret = _secret_of(created)
    with tenant_a.context():
        row = Client.objects.get(name="HMAC service")
    assert row.token_endpoint_auth_method == "client_secret_jwt"
    assert row.token_endpoint_auth_signing_alg == "HS256"
    assert row.secret_ciphertext and secret not in row.secret_ciphertext
    token = _secret_jwt_token(tenant_a, row.client_id, secret)
    assert token["token_type"] == "Bearer" and token["scope"] == "api"
    # Its method is the assertion: the same secret over HTTP Basic is refused.
    basic = post_form(tenant_a.client(), "/oauth/token", {"grant_type": "client_credentials"},
                      **basic_auth(row.client_id, secret))  # fmt: skip
    assert_error(basic, 401, "invalid_client")


def test_rfc7591_registers_a_client_secret_jwt_client_that_then_authenticates(tenant_b):
    """RFC 7591 §2 ``token_endpoint_auth_method: client_secret_jwt`` (and OIDC Registration
    §2 ``token_endpoint_auth_signing_alg``): the answer's ``client_secret`` MACs the
    client's assertions; an alg of another family is ``invalid_client_metadata``."""
    from tests.oauth.registration.helpers import register, set_policy

    set_policy(tenant_b, mode="open", allowed_grant_types=["authorization_code",
               "client_credentials"])  # fmt: skip
    body = {
        "client_name": "Registered HMAC client",
        "redirect_uris": ["https://app.example.com/callback"],
        "grant_types": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_jwt",
        "token_endpoint_auth_signing_alg": "HS256",
        "scope": "api",
    }
    response = register(tenant_b, body)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["token_endpoint_auth_method"] == "client_secret_jwt"
    assert answer["token_endpoint_auth_signing_alg"] == "HS256"
    token = _secret_jwt_token(tenant_b, answer["client_id"], answer["client_secret"])
    assert token["token_type"] == "Bearer"
    bad = register(tenant_b, {**body, "token_endpoint_auth_signing_alg": "ES256"})
    assert_error(bad, 400, "invalid_client_metadata")
