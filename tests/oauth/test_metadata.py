"""Authorization server metadata (RFC 8414), per tenant issuer."""

import pytest
from authlib.oauth2 import rfc8414, rfc9207

pytestmark = pytest.mark.django_db


def test_metadata_lists_every_endpoint_of_this_tenant(tenant):
    response = tenant.client().get("/.well-known/oauth-authorization-server", secure=True)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    doc = response.json()
    issuer = tenant.issuer
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert doc["token_endpoint"] == f"{issuer}/oauth/token"
    assert doc["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert doc["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
    ]
    assert doc["device_authorization_endpoint"] == f"{issuer}/oauth/device_authorization"
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
    rfc8414.AuthorizationServerMetadata(doc).validate(
        metadata_classes=[rfc9207.AuthorizationServerMetadata]
    )


def test_each_tenant_has_its_own_issuer(tenant_a, tenant_b):
    a = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    b = tenant_b.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert a["issuer"] == tenant_a.issuer and b["issuer"] == tenant_b.issuer
    assert a["issuer"] != b["issuer"]


def test_issuer_follows_the_forwarded_scheme_behind_a_proxy(tenant_a, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = tenant_a.client().get(
        "/.well-known/oauth-authorization-server", HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.json()["issuer"] == tenant_a.issuer


def test_metadata_only_answers_get(tenant_a):
    response = tenant_a.client().post("/.well-known/oauth-authorization-server", secure=True)
    assert response.status_code == 405
    preflight = tenant_a.client().options(
        "/.well-known/oauth-authorization-server", secure=True, HTTP_ORIGIN="https://x.example"
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"


def test_grant_types_supported_are_the_grants_the_server_registers():
    from oauth.selectors import GRANT_TYPES_SUPPORTED
    from oauth.server import server

    registered = [grant.GRANT_TYPE for grant, _extensions in server._token_grants]
    assert sorted(registered) == sorted(GRANT_TYPES_SUPPORTED)
