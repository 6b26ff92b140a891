"""CORS for browser clients on token, revocation and introspection."""

import pytest

from tests.support.factories import make_client, post_form
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

APP = "https://spa.example.com"
ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]


def preflight(tenant, path, origin, method="POST"):
    return tenant.client().options(
        path,
        secure=True,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


@pytest.mark.parametrize("path", ENDPOINTS)
def test_preflight_for_a_registered_origin(tenant_a, path):
    make_client(tenant_a, cors_origins=[APP])
    response = preflight(tenant_a, path, APP)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Methods"] == "POST"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response
    assert "Origin" in response["Vary"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_preflight_for_an_unknown_origin_grants_nothing(tenant_a, path):
    make_client(tenant_a, cors_origins=[APP])
    response = preflight(tenant_a, path, "https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in response
    wrong_method = preflight(tenant_a, path, APP, method="PUT")
    assert "Access-Control-Allow-Origin" not in wrong_method


def test_origin_registered_in_another_tenant_is_not_allowed(tenant_a, tenant_b):
    make_client(tenant_b, cors_origins=["https://bravo-app.example.com"])
    response = preflight(tenant_a, "/oauth/token", "https://bravo-app.example.com")
    assert "Access-Control-Allow-Origin" not in response


def test_token_response_allows_only_the_authenticated_clients_origins(tenant_a):
    client = make_client(tenant_a, cors_origins=[APP])
    make_client(tenant_a, cors_origins=["https://other.example.com"])
    ok = post_form(
        tenant_a.client(),
        "/oauth/token",
        {"grant_type": "client_credentials"},
        HTTP_ORIGIN=APP,
        **client.basic(),
    )
    remember_secret(ok.json()["access_token"])
    assert ok["Access-Control-Allow-Origin"] == APP
    assert "*" not in ok["Access-Control-Allow-Origin"]
    elsewhere = post_form(
        tenant_a.client(),
        "/oauth/token",
        {"grant_type": "client_credentials"},
        HTTP_ORIGIN="https://other.example.com",
        **client.basic(),
    )
    remember_secret(elsewhere.json()["access_token"])
    assert "Access-Control-Allow-Origin" not in elsewhere


def test_error_answers_are_readable_by_a_registered_origin(tenant_a):
    make_client(tenant_a, cors_origins=[APP])
    response = post_form(
        tenant_a.client(), "/oauth/token", {"grant_type": "client_credentials"}, HTTP_ORIGIN=APP
    )
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == APP


def test_no_origin_no_cors_headers(tenant_a):
    client = make_client(tenant_a, cors_origins=[APP])
    response = post_form(
        tenant_a.client(), "/oauth/token", {"grant_type": "client_credentials"}, **client.basic()
    )
    remember_secret(response.json()["access_token"])
    assert "Access-Control-Allow-Origin" not in response
