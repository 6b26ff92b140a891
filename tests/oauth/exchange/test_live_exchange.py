"""Token exchange (RFC 8693) with a stock client (Authlib's requests OAuth2Session) against the
live server over a socket: a user's token from the code flow, exchanged by S1 acting as
itself, the result exchanged by S2, the chain read back by introspection; and the same token
refused by the other tenant."""

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from tests.oauth.exchange.helpers import ACCESS, TOKEN_EXCHANGE, make_exchanger
from tests.support.factories import make_client, make_user, make_web_client
from tests.support.live_clients import login_and_consent, metadata
from tests.support.secrets import remember_secret

# No django_db: rows are committed (the `commit` fixture) so the live server sees them.
pytestmark = pytest.mark.live

REDIRECT = "https://app.example.com/callback"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def _remember(token: dict) -> dict:
    for key in ("access_token", "refresh_token", "id_token"):
        remember_secret(token.get(key))
    return token


def _users_token(server, tenant, web, user, meta) -> dict:
    session = OAuth2Session(
        web.client_id,
        web.secret,
        scope="api read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = remember_secret(generate_token(48))
    url, _ = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    callback = login_and_consent(server, tenant, url, user.username, user.raw_password)
    return _remember(
        session.fetch_token(
            meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
    )


def _exchange(session: OAuth2Session, meta: dict, subject: str, **params) -> dict:
    return _remember(
        session.fetch_token(
            meta["token_endpoint"],
            grant_type=TOKEN_EXCHANGE,
            subject_token=subject,
            subject_token_type=ACCESS,
            **params,
        )
    )


def test_delegation_chain_with_a_stock_client(gatehouse_server, tenant, tenant_a, tenant_b, commit):
    other = tenant_b if tenant is tenant_a else tenant_a
    with commit(tenant):
        web = make_web_client(tenant, redirect_uris=[REDIRECT])
        user = make_user(tenant)
        s1 = make_exchanger(tenant, name="S1")
        s2 = make_exchanger(tenant, name="S2")
        api = make_client(tenant, name="API", can_introspect=True)
    with commit(other):
        elsewhere = make_exchanger(other, name="Other tenant's service")
    meta = metadata(gatehouse_server, tenant)
    assert TOKEN_EXCHANGE in meta["grant_types_supported"]
    users = _users_token(gatehouse_server, tenant, web, user, meta)

    with OAuth2Session(s1.client_id, s1.secret) as session:
        own = _remember(
            session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        )
        hop1 = _exchange(
            session, meta, users["access_token"], actor_token=own["access_token"],
            actor_token_type=ACCESS,
        )  # fmt: skip
    assert hop1["issued_token_type"] == ACCESS and hop1["token_type"] == "Bearer"
    assert hop1["scope"] == "api read" and "refresh_token" not in hop1
    with OAuth2Session(s2.client_id, s2.secret) as session:
        own = _remember(
            session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        )
        hop2 = _exchange(
            session, meta, hop1["access_token"], actor_token=own["access_token"],
            actor_token_type=ACCESS, scope="read",
        )  # fmt: skip
    assert hop2["scope"] == "read" and 0 < hop2["expires_in"] <= hop1["expires_in"]

    with OAuth2Session(api.client_id, api.secret) as rs:
        info = rs.introspect_token(
            meta["introspection_endpoint"], token=hop2["access_token"]
        ).json()
    assert info["active"] is True and info["sub"] == str(user.pk)
    assert info["client_id"] == s2.client_id and info["scope"] == "read"
    assert info["act"] == {"sub": s2.client_id, "act": {"sub": s1.client_id}}
    assert info["iss"] == gatehouse_server.issuer(tenant.host)

    # The other tenant never honours this tenant's token.
    other_meta = metadata(gatehouse_server, other)
    with OAuth2Session(elsewhere.client_id, elsewhere.secret) as session:
        with pytest.raises(OAuthError) as refused:
            _exchange(session, other_meta, users["access_token"])
    assert refused.value.error == "invalid_grant"
