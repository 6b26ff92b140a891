"""DPoP (RFC 9449) on a live server: a stock client (Authlib's requests OAuth2Session) with
a ``DPoP`` header that joserfc signs, over a real socket, for both tenants."""

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support.dpop import DPoPKey
from tests.support.factories import make_client, make_public_client, make_user, query_of
from tests.support.live_clients import login_and_consent, metadata
from tests.support.secrets import remember_secret

# No django_db: rows are committed (the `commit` fixture) so the live server sees them.
pytestmark = pytest.mark.live

REDIRECT = "https://app.example.com/callback"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def remember(token: dict) -> dict:
    for key in ("access_token", "refresh_token", "id_token"):
        remember_secret(token.get(key))
    return token


def test_client_credentials_with_dpop(gatehouse_server, tenant, commit):
    with commit(tenant):
        client = make_client(tenant)
        resource_server = make_client(tenant, name="API", can_introspect=True)
    meta = metadata(gatehouse_server, tenant)
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    token_endpoint = meta["token_endpoint"]
    key = DPoPKey()

    with OAuth2Session(client.client_id, client.secret, scope="api") as session:
        proof = key.proof("POST", token_endpoint)
        token = remember(
            session.fetch_token(
                token_endpoint, grant_type="client_credentials", headers={"DPoP": proof}
            )
        )
        assert token["token_type"] == "DPoP"
        # The same proof again: a replay.
        replay = requests.post(
            token_endpoint,
            data={"grant_type": "client_credentials"},
            auth=client.auth(),
            headers={"DPoP": proof},
            timeout=10,
        )
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_dpop_proof"
        # A proof for another endpoint of this server.
        elsewhere = requests.post(
            token_endpoint,
            data={"grant_type": "client_credentials"},
            auth=client.auth(),
            headers={"DPoP": key.proof("POST", meta["introspection_endpoint"])},
            timeout=10,
        )
        assert elsewhere.status_code == 400
        assert elsewhere.json()["error"] == "invalid_dpop_proof"

    with OAuth2Session(resource_server.client_id, resource_server.secret) as rs:
        info = rs.introspect_token(
            meta["introspection_endpoint"], token=token["access_token"]
        ).json()
    assert info["active"] is True
    assert info["token_type"] == "DPoP"
    assert info["cnf"] == {"jkt": key.jkt}


def test_code_flow_userinfo_and_refresh_with_dpop(gatehouse_server, tenant, commit):
    with commit(tenant):
        client = make_public_client(
            tenant, redirect_uris=[REDIRECT], scopes=["openid", "api"], name="DPoP app"
        )
        user = make_user(tenant)
    meta = metadata(gatehouse_server, tenant)
    token_endpoint, userinfo = meta["token_endpoint"], meta["userinfo_endpoint"]
    key = DPoPKey()

    session = OAuth2Session(
        client.client_id,
        None,
        scope="openid api",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = remember_secret(generate_token(48))
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    callback = login_and_consent(gatehouse_server, tenant, url, user.username, user.raw_password)
    assert query_of(callback)["state"] == state
    token = remember(
        session.fetch_token(
            token_endpoint,
            authorization_response=callback,
            code_verifier=verifier,
            headers={"DPoP": key.proof("POST", token_endpoint)},
        )
    )
    assert token["token_type"] == "DPoP"
    access = token["access_token"]

    def userinfo_with(scheme: str, proof_key: DPoPKey | None):
        headers = {"Authorization": f"{scheme} {access}"}
        if proof_key is not None:
            headers["DPoP"] = proof_key.proof("GET", userinfo, access_token=access)
        return requests.get(userinfo, headers=headers, timeout=10)

    ok = userinfo_with("DPoP", key)
    assert ok.status_code == 200, ok.text
    assert ok.json()["sub"] == str(user.sub)
    as_bearer = userinfo_with("Bearer", None)
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"
    stolen = userinfo_with("DPoP", DPoPKey())
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_dpop_proof"
    assert stolen.headers["WWW-Authenticate"].startswith("DPoP ")

    # A public client's refresh token is bound to the key (RFC 9449 §5).
    other = requests.post(
        token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client.client_id,
        },
        headers={"DPoP": DPoPKey().proof("POST", token_endpoint)},
        timeout=10,
    )
    assert other.status_code == 400 and other.json()["error"] == "invalid_dpop_proof"
    refreshed = remember(
        session.refresh_token(token_endpoint, headers={"DPoP": key.proof("POST", token_endpoint)})
    )
    assert refreshed["token_type"] == "DPoP"
    assert refreshed["access_token"] != access
