"""Clients for the device grant (RFC 8628) can be registered every way a client can: the
operator CLI, the console, and RFC 7591 dynamic registration when the tenant's policy
allows the grant type; and the grant type's rules hold (refresh only with a user grant)."""

from __future__ import annotations

import re

import pytest

from oauth.client_metadata import ClientError, ClientMetadata
from oauth.grant_types import DEVICE_CODE
from tests.oauth.console.test_console import _staff_client
from tests.oauth.device.helpers import poll, started
from tests.oauth.registration.helpers import register, set_policy
from tests.support.factories import RegisteredClient, assert_error, register_client_cli

pytestmark = pytest.mark.django_db

_ONCE = re.compile(rb'name="once" value="([^"]+)"')


def test_cli_registers_a_public_device_client_that_works(tenant_a):
    result = register_client_cli(
        "--tenant", tenant_a.slug,
        "--name", "CLI tool",
        "--grant-type", DEVICE_CODE,
        "--grant-type", "refresh_token",
        "--auth-method", "none",
        "--scope", "api",
    )  # fmt: skip
    assert result["client_secret"] is None
    client = RegisteredClient(result["client_id"], None, 0, tenant_a)
    data = started(tenant_a, client)
    assert_error(poll(tenant_a, client, data["device_code"]), 400, "authorization_pending")


def test_console_registers_a_device_client(tenant_a):
    from oauth.models import Client

    admin = _staff_client(tenant_a)
    once = _ONCE.search(admin.get("/console/clients/").content).group(1).decode()
    page = admin.post(
        "/console/clients/",
        {"name": "Set-top box", "kind": "device", "scopes": "api", "once": once},
    )
    assert page.status_code in (200, 302), page.content[:500]
    with tenant_a.context():
        client = Client.objects.get(name="Set-top box")
    assert client.grant_types == [DEVICE_CODE, "refresh_token"]
    assert client.token_endpoint_auth_method == "none" and client.redirect_uris == []


def test_dynamic_registration_when_the_policy_allows_the_grant(tenant_a):
    body = {
        "client_name": "Smart TV",
        "grant_types": [DEVICE_CODE, "refresh_token"],
        "response_types": [],
        "token_endpoint_auth_method": "none",
        "scope": "api",
    }
    set_policy(tenant_a, mode="open", allowed_grant_types=["authorization_code"])
    assert register(tenant_a, body).status_code == 400
    set_policy(
        tenant_a, mode="open", allowed_grant_types=[DEVICE_CODE, "refresh_token"], scopes=["api"]
    )
    response = register(tenant_a, body)
    assert response.status_code == 201, response.content
    registered = response.json()
    assert registered["grant_types"] == [DEVICE_CODE, "refresh_token"]
    client = RegisteredClient(registered["client_id"], None, 0, tenant_a)
    started(tenant_a, client, scope="api")


def test_refresh_goes_only_with_a_user_grant(tenant_a):
    with tenant_a.context():
        ClientMetadata(name="ok", grant_types=[DEVICE_CODE, "refresh_token"], auth_method="none")
        with pytest.raises(ClientError, match="refresh_token is only issued"):
            ClientMetadata(name="no", grant_types=["refresh_token"], auth_method="none")
