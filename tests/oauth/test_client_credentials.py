"""client_credentials (RFC 6749 §4.4) with client_secret_basic and client_secret_post."""

import pytest

from tests.support.factories import (
    assert_error,
    assert_no_store,
    client_credentials_token,
    make_client,
    post_form,
    token_request,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def test_basic_auth_issues_a_bearer_token_without_refresh_token(tenant):
    client = make_client(tenant)
    response = token_request(tenant, {"grant_type": "client_credentials"}, client)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert_no_store(response)
    body = response.json()
    remember_secret(body["access_token"])
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "api read"  # scope omitted: the client's default scopes
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    assert len(body["access_token"]) == 43  # 256 bits, base64url


def test_post_auth_for_a_client_registered_for_it(tenant):
    client = make_client(tenant, auth_method="client_secret_post")
    response = post_form(
        tenant.client(),
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
            "scope": "read",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "read"
    remember_secret(response.json()["access_token"])


def test_default_scopes_when_scope_is_omitted(tenant):
    client = make_client(tenant, scopes=["api", "read", "write"], default_scopes=["read"])
    assert client_credentials_token(tenant, client)["scope"] == "read"


def test_subset_of_allowed_scopes(tenant):
    client = make_client(tenant)
    assert client_credentials_token(tenant, client, scope="api")["scope"] == "api"


@pytest.mark.parametrize("scope", ["admin", "api admin", "API"])
def test_scope_outside_the_allowed_scopes_is_invalid_scope(tenant, scope):
    client = make_client(tenant)
    response = token_request(tenant, {"grant_type": "client_credentials", "scope": scope}, client)
    assert_error(response, 400, "invalid_scope")


def test_client_without_the_grant_is_unauthorized_client(tenant):
    client = make_client(
        tenant,
        grant_types=["authorization_code"],
        redirect_uris=["https://app.example.com/cb"],
    )
    response = token_request(tenant, {"grant_type": "client_credentials"}, client)
    assert_error(response, 400, "unauthorized_client")


def test_unknown_grant_type_is_unsupported_grant_type(tenant):
    client = make_client(tenant)
    response = token_request(tenant, {"grant_type": "password"}, client)
    assert_error(response, 400, "unsupported_grant_type")


def test_missing_grant_type_is_invalid_request(tenant):
    client = make_client(tenant)
    response = token_request(tenant, {"scope": "api"}, client)
    assert_error(response, 400, "invalid_request")


def test_lifetime_from_client_then_tenant_policy(tenant):
    from oauth.services.issuer import issuer_settings_update

    with tenant.context():
        issuer_settings_update(access_token_lifetime=120)
    assert client_credentials_token(tenant, make_client(tenant))["expires_in"] == 120
    own = make_client(tenant, access_token_lifetime=45)
    assert client_credentials_token(tenant, own)["expires_in"] == 45


def test_resource_indicator_is_checked_and_becomes_the_audience(tenant):
    from tests.support.factories import introspect

    client = make_client(tenant, resources=["https://api.example.com"])
    body = client_credentials_token(tenant, client, resource="https://api.example.com")
    info = introspect(tenant, client, body["access_token"]).json()
    assert info["aud"] == "https://api.example.com"
    response = token_request(
        tenant,
        {"grant_type": "client_credentials", "resource": "https://other.example.com"},
        client,
    )
    assert_error(response, 400, "invalid_target")


def test_token_issued_signal_carries_grant_type_and_client_id(tenant):
    from oauth.signals import token_issued

    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["grant_type"], kwargs["client_id"]))

    token_issued.connect(receiver)
    try:
        client = make_client(tenant)
        client_credentials_token(tenant, client)
    finally:
        token_issued.disconnect(receiver)
    assert seen == [("client_credentials", client.client_id)]


def test_hot_path_is_a_client_lookup_and_one_insert(tenant, django_assert_max_num_queries):
    client = make_client(tenant)
    client_credentials_token(tenant, client)  # warms the host and issuer-policy caches
    with django_assert_max_num_queries(3) as captured:
        client_credentials_token(tenant, client)
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert statements.count("INSERT") == 1
    # The policy comes from the cache: at most the INSERT names it (to confirm it unchanged).
    assert not any(
        "issuersettings" in q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith("INSERT")
    )


def test_disabled_client_cannot_get_tokens(tenant):
    from oauth.models import Client

    client = make_client(tenant)
    with tenant.context():
        Client.objects.filter(pk=client.pk).update(disabled=True)
    response = token_request(tenant, {"grant_type": "client_credentials"}, client)
    assert_error(response, 401, "invalid_client")
