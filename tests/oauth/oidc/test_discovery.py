"""/.well-known/openid-configuration (OpenID Connect Discovery 1.0) per tenant."""

import pytest
import requests
from authlib.oidc import discovery, rpinitiated

pytestmark = pytest.mark.django_db


def _validate(doc: dict) -> None:
    discovery.OpenIDProviderMetadata(doc).validate(
        metadata_classes=[rpinitiated.OpenIDProviderMetadata]
    )


def test_discovery_document_is_valid_and_names_this_tenant(tenant):
    response = tenant.client().get("/.well-known/openid-configuration", secure=True)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"].startswith("public, max-age=")
    doc = response.json()
    _validate(doc)
    issuer = tenant.issuer
    assert doc["issuer"] == issuer
    assert doc["jwks_uri"] == f"{issuer}/oauth/jwks"
    assert doc["userinfo_endpoint"] == f"{issuer}/oauth/userinfo"
    assert doc["end_session_endpoint"] == f"{issuer}/oauth/logout"
    assert doc["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert doc["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert doc["id_token_signing_alg_values_supported"][0] == "RS256"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
    ]
    assert doc["device_authorization_endpoint"] == f"{issuer}/oauth/device_authorization"
    assert {"openid", "profile", "email"} <= set(doc["scopes_supported"])
    assert {"sub", "email", "email_verified", "preferred_username"} <= set(doc["claims_supported"])
    # Defaults that would claim more than the server does are spelled out (Discovery §3).
    assert doc["request_uri_parameter_supported"] is False
    assert doc["request_parameter_supported"] is True  # RFC 9101, OIDC Core §6.1
    assert doc["claims_parameter_supported"] is False


def test_discovery_extends_the_oauth_metadata(tenant):
    web = tenant.client()
    oauth = web.get("/.well-known/oauth-authorization-server", secure=True).json()
    oidc = web.get("/.well-known/openid-configuration", secure=True).json()
    assert {k: v for k, v in oidc.items() if k in oauth} == oauth


def test_advertised_algs_are_the_algs_of_published_keys(tenant):
    web = tenant.client()
    doc = web.get("/.well-known/openid-configuration", secure=True).json()
    jwks = web.get("/oauth/jwks", secure=True).json()
    published = {k["alg"] for k in jwks["keys"]}
    advertised = set(doc["id_token_signing_alg_values_supported"])
    # PS256 keys are made on first need (oauth.signing.constants.LAZY_ALGS), published
    # before they sign once a client asks for PS256 (test_ps256_keys_are_made_on_first_need).
    assert published <= advertised and advertised - published <= {"PS256"}


def test_discovery_answers_get_only(tenant_a):
    web = tenant_a.client()
    assert web.post("/.well-known/openid-configuration", secure=True).status_code == 405
    assert web.head("/.well-known/openid-configuration", secure=True).status_code == 200


@pytest.mark.live
def test_live_issuer_is_the_exact_string_of_each_tenant(
    gatehouse_server, tenant_a, tenant_b, monkeypatch
):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the live server speaks http
    issuers = set()
    for tenant in (tenant_a, tenant_b):
        url = gatehouse_server.url(tenant.host, "/.well-known/openid-configuration")
        doc = requests.get(url, timeout=10).json()
        _validate(doc)
        live_issuer = gatehouse_server.issuer(tenant.host)
        assert doc["issuer"] == live_issuer
        assert url == live_issuer + "/.well-known/openid-configuration"  # Discovery §4.3
        assert doc["jwks_uri"] == live_issuer + "/oauth/jwks"
        assert requests.get(doc["jwks_uri"], timeout=10).status_code == 200
        issuers.add(doc["issuer"])
    assert len(issuers) == 2
