"""Signed request objects (RFC 9101, OIDC Core §6.1) at the authorization endpoint and
inside a pushed request (RFC 9126 §3): verified with the client's registered alg and keys,
``iss``/``aud``/``exp``/``nbf``/``client_id`` checked, their parameters replacing the query's;
and every refusal (unsigned, bad signature, expired, wrong audience, a client without an
alg, an alg its profile forbids, request_uri by reference)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.oauth.test_par import authorize, code_from, push
from tests.support.factories import (
    assert_error,
    exchange_code,
    make_user,
    make_web_client,
    pkce_pair,
    signed_in,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def ec_key():
    return ECKey.generate_key("P-256", parameters={"kid": "ro-ec"})


def keyed_client(tenant, key, alg: str = "ES256", **options):
    return make_web_client(
        tenant,
        jwks={"keys": [key.as_dict(private=False)]},
        request_object_signing_alg=alg,
        **options,
    )


def request_object(tenant, client, key, challenge: str, alg: str = "ES256", **claims) -> str:
    now = int(time.time())
    body = {
        "iss": client.client_id,
        "aud": tenant.issuer,
        "client_id": client.client_id,
        "exp": now + 300,
        "nbf": now - 5,
        "iat": now,
        "response_type": "code",
        "redirect_uri": client.redirect_uris[0],
        "scope": "api read",
        "state": "st-object",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    header = {"alg": alg, "kid": key.kid, "typ": "oauth-authz-req+jwt"}
    return jwt.encode(header, body, key, algorithms=[alg])


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(tenant, client) -> str:
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "aud": tenant.issuer,
        "client_id": client.client_id,
        "exp": now + 300,
        "response_type": "code",
        "redirect_uri": client.redirect_uris[0],
    }
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}."


def by_value(web, client, value: str, **query):
    return web.get(
        "/oauth/authorize", {"client_id": client.client_id, "request": value, **query}, secure=True
    )


def test_a_signed_request_object_replaces_the_query(tenant, ec_key):
    client = keyed_client(tenant, ec_key)
    verifier, challenge = pkce_pair()
    web = signed_in(tenant, make_user(tenant))
    value = request_object(tenant, client, ec_key, challenge, scope="read")
    response = by_value(web, client, value, scope="api read", state="query-state")
    if response.status_code == 200:  # consent: the form carries the request object on
        assert value.encode() in response.content
        from tests.support.factories import post_form

        response = post_form(
            web, "/oauth/consent",
            {"client_id": client.client_id, "request": value, "decision": "allow"},
        )  # fmt: skip
    code = code_from(response, tenant)
    from tests.support.factories import query_of

    assert query_of(response["Location"])["state"] == "st-object"
    token = exchange_code(tenant, client, code, verifier)
    assert token.status_code == 200, token.content
    assert token.json()["scope"] == "read"
    remember_secret(token.json()["access_token"])
    remember_secret(token.json().get("refresh_token"))


def test_a_request_object_inside_a_pushed_request(tenant_a, ec_key):
    client = keyed_client(tenant_a, ec_key)
    verifier, challenge = pkce_pair()
    value = request_object(tenant_a, client, ec_key, challenge)
    from tests.support.factories import post_form

    response = post_form(
        tenant_a.client(), "/oauth/par", {"request": value, "client_id": client.client_id},
        **client.basic(),
    )  # fmt: skip
    assert response.status_code == 201, response.content
    request_uri = remember_secret(response.json()["request_uri"])
    web = signed_in(tenant_a, make_user(tenant_a))
    code = code_from(authorize(web, client, request_uri), tenant_a)
    token = exchange_code(tenant_a, client, code, verifier)
    assert token.status_code == 200, token.content
    remember_secret(token.json()["access_token"])
    remember_secret(token.json().get("refresh_token"))


def _refusals(tenant, client, key):
    challenge = pkce_pair()[1]
    other = ECKey.generate_key("P-256", parameters={"kid": key.kid})
    now = int(time.time())
    return {
        "unsigned": unsigned(tenant, client),
        "other key": request_object(tenant, client, other, challenge),
        "expired": request_object(tenant, client, key, challenge, exp=now - 120, nbf=now - 400),
        "not yet": request_object(tenant, client, key, challenge, nbf=now + 600, exp=now + 900),
        "too long": request_object(tenant, client, key, challenge, exp=now + 86400),
        "no exp": request_object(tenant, client, key, challenge, exp=None),
        "wrong aud": request_object(tenant, client, key, challenge, aud="https://other.example"),
        "wrong iss": request_object(tenant, client, key, challenge, iss="someone-else"),
        "wrong client_id": request_object(tenant, client, key, challenge, client_id="x"),
        "nested": request_object(tenant, client, key, challenge, request_uri="urn:x"),
        "nul": request_object(tenant, client, key, challenge, nonce="a\x00b"),
    }


@pytest.mark.parametrize(
    "case",
    ["unsigned", "other key", "expired", "not yet", "too long", "no exp", "wrong aud",
     "wrong iss", "wrong client_id", "nested", "nul"],
)  # fmt: skip
def test_bad_request_objects_are_refused_at_both_endpoints(tenant_a, ec_key, case):
    client = keyed_client(tenant_a, ec_key)
    value = _refusals(tenant_a, client, ec_key)[case]
    web = signed_in(tenant_a, make_user(tenant_a))
    page = by_value(web, client, value)
    assert page.status_code == 400, (case, page.status_code)
    assert "Location" not in page
    from tests.support.factories import post_form

    pushed = post_form(
        tenant_a.client(), "/oauth/par", {"request": value, "client_id": client.client_id},
        **client.basic(),
    )  # fmt: skip
    assert_error(pushed, 400, "invalid_request_object")


def test_a_client_without_an_alg_gets_request_not_supported(tenant_a, ec_key):
    client = make_web_client(tenant_a)
    web = signed_in(tenant_a, make_user(tenant_a))
    value = request_object(tenant_a, client, ec_key, pkce_pair()[1])
    page = by_value(web, client, value)
    assert page.status_code == 400 and b"not registered to send request objects" in page.content
    from tests.support.factories import post_form

    pushed = post_form(tenant_a.client(), "/oauth/par", {"request": value}, **client.basic())
    assert_error(pushed, 400, "request_not_supported")


def test_an_alg_the_fapi_profile_forbids_is_refused(tenant_a):
    """The tenant turned FAPI 2.0 on after the client registered RS256 for its request
    objects (FAPI 2.0 §5.4.1: PS256, ES256, EdDSA only). The client authenticates as the
    profile requires (``private_key_jwt`` with PS256, §5.3.2.1 item 4), so the push reaches
    the request object's check: 400 ``invalid_request_object`` (RFC 9126 §2.3, RFC 9101
    §6.3), where the same push signed PS256 is accepted."""
    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache
    from tests.support.assertions import assertion_auth
    from tests.support.factories import post_form

    key = RSAKey.generate_key(2048, parameters={"kid": "ro-rsa"})
    client = keyed_client(tenant_a, key, alg="RS256", auth_method="private_key_jwt")
    with tenant_a.context():
        IssuerSettings.objects.update(security_profile="fapi2")
    clear_issuer_policy_cache()

    def fapi_push(value: str):
        auth = assertion_auth(client.client_id, key, tenant_a.issuer, alg="PS256")
        return post_form(tenant_a.client(), "/oauth/par", {"request": value, **auth})

    value = request_object(tenant_a, client, key, pkce_pair()[1], alg="RS256")
    body = assert_error(fapi_push(value), 400, "invalid_request_object")
    assert "RS256 is not allowed by its security profile" in body["error_description"]
    # The check is the profile's, not the signature's: with the alg moved to PS256 (as the
    # console would, now that RS256 is refused) the same client's push is accepted.
    with tenant_a.context():
        from oauth.models import Client

        Client.objects.filter(client_id=client.client_id).update(request_object_signing_alg="PS256")
    accepted = fapi_push(request_object(tenant_a, client, key, pkce_pair()[1], alg="PS256"))
    assert accepted.status_code == 201, accepted.content
    remember_secret(accepted.json()["request_uri"])
    # At the authorization endpoint, FAPI 2.0 takes pushed requests only.
    web = signed_in(tenant_a, make_user(tenant_a))
    page = by_value(web, client, value)
    assert page.status_code == 400 and b"pushed authorization request" in page.content


def test_registration_refuses_none_and_an_alg_without_keys(tenant_a):
    from oauth.client_metadata import ClientError, ClientMetadata

    with tenant_a.context():
        with pytest.raises(ClientError, match="request_object_signing_alg must be one of"):
            ClientMetadata(
                name="x", redirect_uris=["https://app.example.com/cb"],
                request_object_signing_alg="none",
            )  # fmt: skip
        with pytest.raises(ClientError, match="FAPI 2.0 profile allows"):
            ClientMetadata(
                name="x", redirect_uris=["https://app.example.com/cb"],
                jwks={"keys": [ECKey.generate_key("P-256").as_dict()]},
                request_object_signing_alg="RS256", security_profile="fapi2",
            )  # fmt: skip
        with pytest.raises(ClientError, match="needs the client's keys"):
            ClientMetadata(
                name="x", redirect_uris=["https://app.example.com/cb"],
                request_object_signing_alg="ES256",
            )  # fmt: skip


def test_discovery_advertises_request_objects_and_par(tenant_a):
    doc = tenant_a.client().get("/.well-known/openid-configuration", secure=True).json()
    assert doc["request_parameter_supported"] is True
    assert doc["request_uri_parameter_supported"] is False
    assert "none" not in doc["request_object_signing_alg_values_supported"]
    assert "PS256" in doc["request_object_signing_alg_values_supported"]
    assert doc["pushed_authorization_request_endpoint"] == f"{tenant_a.issuer}/oauth/par"
    assert doc["require_pushed_authorization_requests"] is False
    rfc8414 = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert rfc8414["pushed_authorization_request_endpoint"] == f"{tenant_a.issuer}/oauth/par"


def test_push_of_the_same_request_objects_state_is_kept(tenant_a, ec_key):
    """The pushed parameters are the request object's, not the body's (RFC 9126 §3)."""
    client = keyed_client(tenant_a, ec_key)
    _verifier, challenge = pkce_pair()
    value = request_object(tenant_a, client, ec_key, challenge)
    response = push(tenant_a, client, None, request=value, state="body-state")
    assert response.status_code == 201, response.content
    request_uri = remember_secret(response.json()["request_uri"])
    web = signed_in(tenant_a, make_user(tenant_a))
    from tests.support.factories import query_of

    location = authorize(web, client, request_uri)["Location"]
    assert query_of(location)["state"] == "st-object"
