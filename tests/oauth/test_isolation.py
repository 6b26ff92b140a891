"""A client, token or code of tenant A fails at every endpoint of tenant B."""

import json

import pytest

from tests.support.factories import (
    active,
    assert_error,
    authorize_params,
    client_credentials_token,
    exchange_code,
    get_code,
    introspect,
    make_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    refresh,
    revoke,
    signed_in,
    user_tokens,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_client(tenant_a):
    return make_client(tenant_a, can_introspect=True)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_client_of_a_cannot_authenticate_at_b(tenant_b, a_client, path):
    body = {"grant_type": "client_credentials", "token": "x" * 43}
    response = post_form(tenant_b.client(), path, body, **a_client.basic())
    assert_error(response, 401, "invalid_client")


def test_token_of_a_is_unknown_to_bs_introspection(tenant_a, tenant_b, a_client):
    token = client_credentials_token(tenant_a, a_client)["access_token"]
    b_rs = make_client(tenant_b, can_introspect=True)
    assert introspect(tenant_b, b_rs, token).json() == {"active": False}
    assert introspect(tenant_a, a_client, token).json()["active"] is True


def test_revoking_a_token_of_a_at_b_changes_nothing(tenant_a, tenant_b, a_client):
    token = client_credentials_token(tenant_a, a_client)["access_token"]
    b_client = make_client(tenant_b)
    assert revoke(tenant_b, b_client, token).status_code == 200  # unknown there (RFC 7009)
    assert active(tenant_a, token)


def test_refresh_token_of_a_fails_at_b(tenant_a, tenant_b):
    a_web = make_web_client(tenant_a)
    tokens = user_tokens(tenant_a, a_web)
    b_web = make_web_client(tenant_b)
    assert_error(refresh(tenant_b, b_web, tokens["refresh_token"]), 400, "invalid_grant")
    assert_error(refresh(tenant_b, a_web, tokens["refresh_token"]), 401, "invalid_client")
    assert active(tenant_a, tokens["refresh_token"])


def test_code_of_a_fails_at_b(tenant_a, tenant_b):
    a_web, b_web = make_web_client(tenant_a), make_web_client(tenant_b)
    verifier, challenge = pkce_pair()
    code = get_code(tenant_a, signed_in(tenant_a, make_user(tenant_a)), a_web, challenge)
    assert_error(exchange_code(tenant_b, b_web, code, verifier), 400, "invalid_grant")
    assert_error(exchange_code(tenant_b, a_web, code, verifier), 401, "invalid_client")
    assert exchange_code(tenant_a, a_web, code, verifier).status_code == 200


def test_client_of_a_is_unknown_at_bs_authorization_endpoint(tenant_a, tenant_b):
    a_web = make_web_client(tenant_a)
    web = signed_in(tenant_b, make_user(tenant_b))
    response = web.get("/oauth/authorize", authorize_params(a_web), secure=True)
    assert response.status_code == 400
    assert "Location" not in response


def test_session_of_a_means_nothing_at_b(tenant_a, tenant_b):
    b_web = make_web_client(tenant_b)
    web_a = signed_in(tenant_a, make_user(tenant_a))
    cookie = web_a.cookies["sessionid"].value
    web_b = tenant_b.client()
    web_b.cookies["sessionid"] = cookie
    response = web_b.get("/oauth/authorize", authorize_params(b_web), secure=True)
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login?")


def test_consent_for_a_client_of_a_is_refused_at_b(tenant_a, tenant_b):
    a_web = make_web_client(tenant_a)
    web = signed_in(tenant_b, make_user(tenant_b))
    response = post_form(web, "/oauth/consent", {**authorize_params(a_web), "decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response


def test_metadata_of_b_names_only_bs_issuer(tenant_a, tenant_b):
    doc = tenant_b.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert tenant_a.host not in json.dumps(doc)
