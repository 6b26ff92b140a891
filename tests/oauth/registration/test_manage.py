"""RFC 7592 management of a self-registered client with its registration access token."""

from __future__ import annotations

import pytest

from tests.oauth.registration.helpers import manage, native_client_body, register, set_policy
from tests.support.factories import assert_error, make_public_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(tenant_a) -> dict:
    set_policy(tenant_a, mode="open")
    response = register(tenant_a, native_client_body())
    assert response.status_code == 201, response.content
    return response.json()


def test_read_answers_the_metadata_and_rotates_the_token(tenant_a, registered):
    client_id, token = registered["client_id"], registered["registration_access_token"]
    response = manage(tenant_a, "GET", client_id, token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_id"] == client_id
    assert body["redirect_uris"] == registered["redirect_uris"]
    assert body["registration_client_uri"] == registered["registration_client_uri"]
    assert body["registration_access_token"] != token
    assert_error(manage(tenant_a, "GET", client_id, token), 401, "invalid_token")
    assert manage(tenant_a, "GET", client_id, body["registration_access_token"]).status_code == 200


def test_update_replaces_the_metadata_and_rotates_the_token(tenant_a, registered):
    from kernel.audit.models import AuditEvent
    from oauth.models import Client

    client_id, token = registered["client_id"], registered["registration_access_token"]
    new = native_client_body(
        client_id=client_id, client_name="Renamed", redirect_uris=["http://[::1]/cb"]
    )
    response = manage(tenant_a, "PUT", client_id, token, new)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["client_name"] == "Renamed" and body["redirect_uris"] == ["http://[::1]/cb"]
    assert body["registration_access_token"] != token
    assert_error(manage(tenant_a, "GET", client_id, token), 401, "invalid_token")
    with tenant_a.context():
        assert Client.objects.get(client_id=client_id).name == "Renamed"
        assert AuditEvent.objects.filter(object_id=client_id, action="client.updated").exists()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_request"),
        ({"registration_access_token": "x"}, "invalid_request"),
        ({"client_id_issued_at": 1}, "invalid_request"),
        ({"redirect_uris": ["http://evil.test/cb"]}, "invalid_redirect_uri"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
    ],
)
def test_update_is_validated_like_a_registration(tenant_a, registered, change, error):
    client_id, token = registered["client_id"], registered["registration_access_token"]
    body = native_client_body(**{"client_id": client_id, **change})
    assert_error(manage(tenant_a, "PUT", client_id, token, body), 400, error)
    assert manage(tenant_a, "GET", client_id, token).status_code == 200  # nothing rotated


def test_delete_deregisters_the_client(tenant_a, registered):
    from oauth.models import Client

    client_id, token = registered["client_id"], registered["registration_access_token"]
    response = manage(tenant_a, "DELETE", client_id, token)
    assert response.status_code == 204 and not response.content
    with tenant_a.context():
        assert not Client.objects.filter(client_id=client_id).exists()
    assert_error(manage(tenant_a, "GET", client_id, token), 401, "invalid_token")


def test_wrong_tokens_and_clients_are_401(tenant_a, registered):
    client_id, token = registered["client_id"], registered["registration_access_token"]
    response = manage(tenant_a, "GET", client_id, "not-the-token")
    assert_error(response, 401, "invalid_token")
    assert "Bearer" in response["WWW-Authenticate"]
    assert_error(manage(tenant_a, "GET", "unknown-client", token), 401, "invalid_token")
    other = register(tenant_a, native_client_body()).json()
    assert_error(manage(tenant_a, "GET", other["client_id"], token), 401, "invalid_token")


def test_a_console_client_cannot_be_managed_here(tenant_a):
    console = make_public_client(tenant_a)
    assert_error(manage(tenant_a, "GET", console.client_id, ""), 401, "invalid_token")


def test_tenant_as_registration_access_token_is_worthless_at_tenant_b(
    tenant_a, tenant_b, registered
):
    set_policy(tenant_b, mode="open")
    client_id, token = registered["client_id"], registered["registration_access_token"]
    assert_error(manage(tenant_b, "GET", client_id, token), 401, "invalid_token")
    assert_error(manage(tenant_b, "DELETE", client_id, token), 401, "invalid_token")
    assert manage(tenant_a, "GET", client_id, token).status_code == 200
