"""The token-exchange policy of a client (RFC 8693): set with the CLI, the console and dynamic
registration, audited, and enforced at the token endpoint."""

import pytest
from django.core.management.base import CommandError

from tests.oauth.console.test_clients import _edit_data, _events
from tests.oauth.console.test_console import _staff_client
from tests.oauth.exchange.helpers import TOKEN_EXCHANGE, exchange, exchanged, make_exchanger
from tests.oauth.registration.helpers import register, set_policy
from tests.support.factories import (
    RegisteredClient,
    assert_error,
    make_web_client,
    register_client_cli,
    user_tokens,
)

pytestmark = pytest.mark.django_db

DOWNSTREAM = "https://downstream.example.com"


def _client_row(tenant, client_id: str):
    from oauth.models import Client

    with tenant.context():
        return Client.objects.get(client_id=client_id)


def test_the_cli_registers_an_exchanging_client_with_its_audiences(tenant_a):
    result = register_client_cli(
        "--tenant", tenant_a.slug, "--name", "Gateway",
        "--grant-type", TOKEN_EXCHANGE,
        "--token-exchange-audience", DOWNSTREAM,
        "--token-exchange-audience", "urn:example:ledger",
    )  # fmt: skip
    row = _client_row(tenant_a, result["client_id"])
    assert row.grant_types == [TOKEN_EXCHANGE]
    assert row.token_exchange_audiences == [DOWNSTREAM, "urn:example:ledger"]
    (event,) = _events(tenant_a, "client.created", result["client_id"])
    assert event.changes["exchange_audiences"] == {
        "old": None,
        "new": [DOWNSTREAM, "urn:example:ledger"],
    }
    # The CLI's client exchanges for the audience it was given.
    gateway = RegisteredClient(result["client_id"], result["client_secret"], row.pk, tenant_a)
    tokens = user_tokens(tenant_a, make_web_client(tenant_a))
    answer = exchange(tenant_a, gateway, tokens["access_token"], audience=DOWNSTREAM)
    assert answer.status_code == 200

    with pytest.raises(CommandError, match="only used with the token-exchange grant"):
        register_client_cli(
            "--tenant", tenant_a.slug, "--name", "No grant",
            "--token-exchange-audience", DOWNSTREAM,
        )  # fmt: skip


def test_the_console_edits_the_exchange_policy_and_audits_it(tenant_a):
    service = make_exchanger(tenant_a, name="Portal")
    tokens = user_tokens(tenant_a, make_web_client(tenant_a))
    assert_error(
        exchange(tenant_a, service, tokens["access_token"], audience=DOWNSTREAM),
        400,
        "invalid_target",
    )
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{service.client_id}/edit/"
    page = admin.get(url)
    assert page.status_code == 200 and b"Token exchange audiences" in page.content
    edit = _edit_data(
        grant_types=["client_credentials", TOKEN_EXCHANGE],
        redirect_uris="",
        scopes="api read",
        token_exchange_audiences=f"{DOWNSTREAM}\nurn:example:ledger\n",
    )
    bad = admin.post(url, {**edit, "token_exchange_audiences": "two words"})
    assert bad.status_code == 400 and b"printable characters without spaces" in bad.content
    saved = admin.post(url, edit)
    assert saved.status_code == 302, saved.content[:2000]
    row = _client_row(tenant_a, service.client_id)
    assert row.token_exchange_audiences == [DOWNSTREAM, "urn:example:ledger"]
    (event,) = _events(tenant_a, "client.updated", service.client_id)
    assert event.changes["exchange_audiences"] == {
        "old": [],
        "new": [DOWNSTREAM, "urn:example:ledger"],
    }
    detail = admin.get(f"/console/clients/{service.client_id}/")
    assert b'id="token-exchange-audiences"><code>https://downstream.example.com</code>' in (
        detail.content
    )
    # The edited policy holds at once.
    body = exchanged(tenant_a, service, tokens["access_token"], audience=DOWNSTREAM)
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    # Taking the grant type away stops the exchanges.
    admin.post(url, {**edit, "grant_types": ["client_credentials"], "token_exchange_audiences": ""})
    assert_error(exchange(tenant_a, service, tokens["access_token"]), 400, "unauthorized_client")


def test_self_registered_clients_get_the_grant_only_if_the_tenant_allows_it(tenant_a):
    body = {
        "client_name": "Agent",
        "grant_types": [TOKEN_EXCHANGE],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    set_policy(tenant_a, mode="open")
    refused = register(tenant_a, body)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
    set_policy(tenant_a, mode="open", allowed_grant_types=[TOKEN_EXCHANGE])
    response = register(tenant_a, body)
    assert response.status_code == 201, response.content
    assert response.json()["grant_types"] == [TOKEN_EXCHANGE]
    public = register(tenant_a, {**body, "token_endpoint_auth_method": "none"})
    assert public.status_code == 400 and "public client" in public.json()["error_description"]
