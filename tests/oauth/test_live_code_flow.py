"""Authorization code + PKCE + refresh with a stock client (Authlib's OAuth2Session)
against the live server over a socket, for both tenants."""

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support.factories import make_public_client, make_user, make_web_client, query_of
from tests.support.live_clients import login_and_consent, metadata
from tests.support.secrets import remember_secret

# No django_db: rows are committed (the `commit` fixture) so the live server sees them.
pytestmark = pytest.mark.live

REDIRECT = "https://app.example.com/callback"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def remember(token: dict) -> dict:
    for key in ("access_token", "refresh_token"):
        remember_secret(token.get(key))
    return token


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_code_pkce_refresh_with_oauth2session(gatehouse_server, tenant, commit, public):
    with commit(tenant):
        factory = make_public_client if public else make_web_client
        client = factory(tenant, redirect_uris=[REDIRECT])
        user = make_user(tenant)
    meta = metadata(gatehouse_server, tenant)
    issuer = gatehouse_server.issuer(tenant.host)

    session = OAuth2Session(
        client.client_id,
        client.secret,
        scope="api read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    verifier = remember_secret(generate_token(48))
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    callback = login_and_consent(gatehouse_server, tenant, url, user.username, user.raw_password)
    params = query_of(callback)
    assert params["state"] == state and params["iss"] == issuer  # RFC 9207

    token = remember(
        session.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "api read"
    assert token["refresh_token"]

    refreshed = remember(session.refresh_token(meta["token_endpoint"]))
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]

    again = session.post(
        meta["token_endpoint"],
        data={"grant_type": "authorization_code", "code": params["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier,
              "client_id": client.client_id},
        auth=None if public else (client.client_id, client.secret),
        withhold_token=True,
    )  # fmt: skip
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    revoked = session.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"])
    assert revoked.status_code == 200
