"""A stock client library (Authlib's requests OAuth2Session) against a live server over a
real socket, for both tenants: client credentials, introspection, revocation."""

import pytest
from authlib.integrations.requests_client import OAuth2Session

from tests.support.factories import make_client
from tests.support.secrets import remember_secret

# No django_db: the rows must be committed (the `commit` fixture) for the live server to see.
pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    # The live server speaks http on 127.0.0.1; Authlib's client refuses it otherwise.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def discover(server, tenant) -> dict:
    import requests

    host = tenant.host
    doc = requests.get(server.url(host, "/.well-known/oauth-authorization-server"), timeout=10)
    assert doc.status_code == 200
    metadata = doc.json()
    assert metadata["issuer"] == server.issuer(host)
    return metadata


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_introspection_revocation(gatehouse_server, tenant, commit, auth_method):
    with commit(tenant):
        client = make_client(tenant, auth_method=auth_method)
        resource_server = make_client(tenant, name="API", can_introspect=True)
    metadata = discover(gatehouse_server, tenant)

    with OAuth2Session(
        client.client_id,
        client.secret,
        scope="api",
        token_endpoint_auth_method=auth_method,
        revocation_endpoint_auth_method=auth_method,
    ) as session:
        token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        remember_secret(token["access_token"])
        assert token["token_type"] == "Bearer" and token["scope"] == "api"
        assert "refresh_token" not in token

        with OAuth2Session(resource_server.client_id, resource_server.secret) as rs:
            info = rs.introspect_token(
                metadata["introspection_endpoint"], token=token["access_token"]
            ).json()
            assert info["active"] is True
            assert info["client_id"] == client.client_id
            assert info["iss"] == gatehouse_server.issuer(tenant.host)

        revoked = session.revoke_token(
            metadata["revocation_endpoint"],
            token=token["access_token"],
            token_type_hint="access_token",
        )
        assert revoked.status_code == 200
        assert revoked.headers["Cache-Control"] == "no-store"

        with OAuth2Session(resource_server.client_id, resource_server.secret) as rs:
            info = rs.introspect_token(
                metadata["introspection_endpoint"], token=token["access_token"]
            ).json()
            assert info == {"active": False}


def test_wrong_secret_over_the_wire(gatehouse_server, tenant_a, commit):
    import requests

    with commit(tenant_a):
        client = make_client(tenant_a)
    response = requests.post(
        gatehouse_server.url(tenant_a.host, "/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "not-the-secret"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert response.headers["Cache-Control"] == "no-store"


def test_clients_do_not_cross_tenants_over_the_wire(gatehouse_server, tenant_a, tenant_b, commit):
    with commit(tenant_a):
        client = make_client(tenant_a)
    metadata_b = discover(gatehouse_server, tenant_b)
    with OAuth2Session(client.client_id, client.secret) as session:
        response = session.post(
            metadata_b["token_endpoint"],
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.secret),
        )
    assert response.status_code == 401


@pytest.mark.django_db
def test_live_and_in_process_metadata_agree(gatehouse_server, tenant_a):
    """Also keeps this module runnable alone: pytest-django creates the test database only
    when some collected test is marked django_db."""
    import requests

    live = requests.get(
        gatehouse_server.url(tenant_a.host, "/.well-known/oauth-authorization-server"), timeout=10
    ).json()
    local = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    issuer = gatehouse_server.issuer(tenant_a.host)
    assert {k: v.replace(issuer, "") if isinstance(v, str) else v for k, v in live.items()} == {
        k: v.replace(tenant_a.issuer, "") if isinstance(v, str) else v for k, v in local.items()
    }
