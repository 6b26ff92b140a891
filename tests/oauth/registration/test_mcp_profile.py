"""The MCP authorization profile on self-registered clients: a grant bound to the resource
its authorization named (RFC 8707), public clients' refresh rotation, incremental consent and
what the consent page shows."""

from __future__ import annotations

import pytest

from tests.oauth.registration.helpers import (
    MCP_RESOURCE,
    as_registered,
    native_client_body,
    register,
    set_policy,
)
from tests.support.factories import (
    assert_error,
    authorize_params,
    exchange_code,
    get_code,
    introspect,
    make_client,
    make_user,
    pkce_pair,
    post_form,
    refresh,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db

OTHER_RESOURCE = "https://other.example.com/mcp"


@pytest.fixture
def mcp_client(tenant_a):
    set_policy(tenant_a, mode="open", resources=[MCP_RESOURCE, OTHER_RESOURCE])
    response = register(tenant_a, native_client_body())
    assert response.status_code == 201, response.content
    return as_registered(tenant_a, response.json())


def _tokens(tenant, client, user=None, **extra) -> dict:
    user = user or make_user(tenant)
    verifier, challenge = pkce_pair()
    web = signed_in(tenant, user)
    code = get_code(tenant, web, client, challenge, **extra)
    response = exchange_code(tenant, client, code, verifier)
    assert response.status_code == 200, response.content
    return remember_tokens(response.json())


def _audience(tenant, token: str) -> str:
    rs = make_client(tenant, name="MCP server", can_introspect=True)
    body = introspect(tenant, rs, token).json()
    assert body["active"], body
    return body.get("aud", "")


def test_every_access_token_of_the_grant_has_the_resource_as_audience(tenant_a, mcp_client):
    tokens = _tokens(tenant_a, mcp_client, resource=MCP_RESOURCE)
    assert _audience(tenant_a, tokens["access_token"]) == MCP_RESOURCE
    refreshed = refresh(tenant_a, mcp_client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    again = remember_tokens(refreshed.json())
    assert _audience(tenant_a, again["access_token"]) == MCP_RESOURCE
    named = remember_tokens(
        refresh(tenant_a, mcp_client, again["refresh_token"], resource=MCP_RESOURCE).json()
    )
    assert _audience(tenant_a, named["access_token"]) == MCP_RESOURCE


def test_a_refresh_for_another_resource_is_invalid_target(tenant_a, mcp_client):
    tokens = _tokens(tenant_a, mcp_client, resource=MCP_RESOURCE)
    response = refresh(tenant_a, mcp_client, tokens["refresh_token"], resource=OTHER_RESOURCE)
    assert_error(response, 400, "invalid_target")
    response = refresh(
        tenant_a, mcp_client, tokens["refresh_token"], resource="https://unknown.example/"
    )
    assert_error(response, 400, "invalid_target")
    # The refused refreshes rotated nothing: the refresh token still works, for the resource.
    ok = refresh(tenant_a, mcp_client, tokens["refresh_token"])
    assert ok.status_code == 200, ok.content
    remember_tokens(ok.json())


def test_a_resource_outside_the_policy_is_invalid_target_at_authorization(tenant_a, mcp_client):
    web = signed_in(tenant_a, make_user(tenant_a))
    _verifier, challenge = pkce_pair()
    params = authorize_params(mcp_client, challenge, resource="https://elsewhere.example/mcp")
    response = web.get("/oauth/authorize", params)
    assert response.status_code == 302
    assert "error=invalid_target" in response["Location"]


def test_the_policy_resources_do_not_open_to_console_clients(tenant_a, mcp_client):
    from tests.support.factories import make_public_client

    console = make_public_client(tenant_a)
    web = signed_in(tenant_a, make_user(tenant_a))
    _verifier, challenge = pkce_pair()
    response = web.get(
        "/oauth/authorize", authorize_params(console, challenge, resource=MCP_RESOURCE)
    )
    assert "error=invalid_target" in response["Location"]


def test_a_public_clients_refresh_token_always_rotates(tenant_a, mcp_client):
    tokens = _tokens(tenant_a, mcp_client, resource=MCP_RESOURCE)
    first = refresh(tenant_a, mcp_client, tokens["refresh_token"])
    body = remember_tokens(first.json())
    assert body["refresh_token"] != tokens["refresh_token"]
    replay = refresh(tenant_a, mcp_client, tokens["refresh_token"])
    assert_error(replay, 400, "invalid_grant")


def test_tenant_as_self_registered_client_is_unknown_at_tenant_b(tenant_a, tenant_b, mcp_client):
    set_policy(tenant_b, mode="open", resources=[MCP_RESOURCE])
    web = signed_in(tenant_b, make_user(tenant_b))
    _verifier, challenge = pkce_pair()
    response = web.get("/oauth/authorize", authorize_params(mcp_client, challenge))
    assert response.status_code == 400
    assert b"not known" in response.content


# --- consent -----------------------------------------------------------------------------------


def test_step_up_asks_only_for_the_new_scopes_and_grants_the_union(tenant_a, mcp_client):
    user = make_user(tenant_a)
    first = _tokens(tenant_a, mcp_client, user=user, scope="api")
    assert first["scope"] == "api"

    web = signed_in(tenant_a, user)
    verifier, challenge = pkce_pair()
    params = authorize_params(mcp_client, challenge, scope="read")
    page = web.get("/oauth/authorize", params)
    assert page.status_code == 200
    text = page.content.decode()
    assert "“read”" in text and "“api”" not in text
    assert "already has the access you allowed before" in text
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 302
    from tests.support.factories import query_of

    code = query_of(response["Location"])["code"]
    tokens = remember_tokens(exchange_code(tenant_a, mcp_client, code, verifier).json())
    assert set(tokens["scope"].split()) == {"api", "read"}


def test_a_first_consent_lists_every_requested_scope(tenant_a, mcp_client):
    web = signed_in(tenant_a, make_user(tenant_a))
    _verifier, challenge = pkce_pair()
    text = web.get("/oauth/authorize", authorize_params(mcp_client, challenge)).content.decode()
    assert "“api”" in text and "“read”" in text
    assert "already has" not in text


def test_the_consent_page_shows_the_redirect_host_and_warns_on_loopback_clients(
    tenant_a, mcp_client
):
    web = signed_in(tenant_a, make_user(tenant_a))
    _verifier, challenge = pkce_pair()
    text = web.get("/oauth/authorize", authorize_params(mcp_client, challenge)).content.decode()
    assert '<strong id="redirect-host">127.0.0.1</strong>' in text
    assert 'id="loopback-warning"' in text


def test_a_web_client_gets_no_loopback_warning_but_is_marked_self_registered(tenant_a):
    set_policy(tenant_a, mode="open")
    body = register(
        tenant_a,
        {"client_name": "Web", "redirect_uris": ["https://app.example.com/cb"], "scope": "api"},
    ).json()
    client = as_registered(tenant_a, body)
    web = signed_in(tenant_a, make_user(tenant_a))
    _verifier, challenge = pkce_pair()
    text = web.get(
        "/oauth/authorize", authorize_params(client, challenge, scope="api")
    ).content.decode()
    assert '<strong id="redirect-host">app.example.com</strong>' in text
    assert "loopback-warning" not in text
    assert 'id="self-registered"' in text
