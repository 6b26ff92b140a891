"""Client assertions with a stock client library over a real socket: Authlib's requests
``OAuth2Session`` with ``PrivateKeyJWT`` and ``ClientSecretJWT`` (RFC 7523 §2.2), inline
``jwks`` and a ``jwks_uri`` served over https by the document server, for both tenants."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.oauth.registration.docserver import DocumentServer
from tests.support.factories import make_client
from tests.support.live import LiveServer
from tests.support.secrets import remember_secret

# No django_db: the rows must be committed (the `commit` fixture) for the live server to see.
pytestmark = pytest.mark.live

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def world(two_tenants, live_server_db_name, tmp_path_factory):
    """A live server that may fetch ``jwks_uri`` from the loopback https document server."""
    tmp = tmp_path_factory.mktemp("assert-live")
    docs = DocumentServer("localhost", str(tmp / "ca.pem"))
    live = LiveServer(
        live_server_db_name,
        tmp,
        workers=1,
        env={
            "GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK": "true",
            "GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE": docs.ca_path,
        },
        name="gunicorn-assert",
    )
    yield live, docs
    live.stop()
    docs.stop()


@pytest.fixture(scope="module")
def rsa_key():
    return RSAKey.generate_key(2048, parameters={"kid": "live-rsa"})


def _public(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def _endpoints(live, tenant) -> dict:
    doc = requests.get(live.url(tenant.host, "/.well-known/openid-configuration"), timeout=10)
    return doc.json()


def _introspect(metadata: dict, resource_server, token: str) -> dict:
    with OAuth2Session(resource_server.client_id, resource_server.secret) as rs:
        return rs.introspect_token(metadata["introspection_endpoint"], token=token).json()


def test_private_key_jwt_with_authlibs_client(world, tenant, commit, rsa_key):
    live, _ = world
    with commit(tenant):
        client = make_client(tenant, auth_method="private_key_jwt", jwks=_public(rsa_key))
        resource_server = make_client(tenant, name="API", can_introspect=True)
    metadata = _endpoints(live, tenant)
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    for alg in ("RS256", "PS256"):
        auth = PrivateKeyJWT(metadata["token_endpoint"], alg=alg, headers={"kid": rsa_key.kid})
        with OAuth2Session(
            client.client_id, rsa_key, scope="api", token_endpoint_auth_method=auth
        ) as session:
            token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
            remember_secret(token["access_token"])
            assert token["token_type"] == "Bearer"
            # A second request signs a fresh assertion (new jti): also accepted.
            again = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
            remember_secret(again["access_token"])
        info = _introspect(metadata, resource_server, token["access_token"])
        assert info["active"] is True and info["client_id"] == client.client_id


def test_client_secret_jwt_with_authlibs_client(world, tenant, commit):
    live, _ = world
    with commit(tenant):
        client = make_client(tenant, auth_method="client_secret_jwt")
    metadata = _endpoints(live, tenant)
    with OAuth2Session(
        client.client_id,
        client.secret,
        scope="api",
        token_endpoint_auth_method=ClientSecretJWT(metadata["token_endpoint"]),
    ) as session:
        token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        remember_secret(token["access_token"])
        assert token["scope"] == "api"


def test_jwks_uri_is_fetched_and_refetched_for_a_new_kid(world, tenant_a, commit):
    live, docs = world
    first = ECKey.generate_key("P-256", parameters={"kid": f"k-{uuid.uuid4().hex[:6]}"})
    path = docs.new_path("jwks.json")
    jwks_uri = docs.serve_json(path, _public(first), **{"Cache-Control": "max-age=3600"})
    with commit(tenant_a):
        client = make_client(tenant_a, auth_method="private_key_jwt", jwks_uri=jwks_uri)
    metadata = _endpoints(live, tenant_a)
    token_url = metadata["token_endpoint"]

    def fetch(key):
        auth = PrivateKeyJWT(token_url, alg="ES256", headers={"kid": key.kid})
        with OAuth2Session(client.client_id, key, token_endpoint_auth_method=auth) as session:
            return session.fetch_token(token_url, grant_type="client_credentials")

    remember_secret(fetch(first)["access_token"])
    assert docs.hits[path] == 1
    remember_secret(fetch(first)["access_token"])
    assert docs.hits[path] == 1  # cached
    # The client rotates its keys: the unknown kid makes the server fetch the set again.
    second = ECKey.generate_key("P-256", parameters={"kid": f"k-{uuid.uuid4().hex[:6]}"})
    docs.serve_json(path, _public(second), **{"Cache-Control": "max-age=3600"})
    remember_secret(fetch(second)["access_token"])
    assert docs.hits[path] == 2


def test_refusals_over_the_wire(world, tenant_b, commit, rsa_key):
    live, _ = world
    with commit(tenant_b):
        fapi = make_client(
            tenant_b,
            auth_method="private_key_jwt",
            jwks=_public(rsa_key),
            security_profile="fapi2",
        )
    metadata = _endpoints(live, tenant_b)
    now = int(time.time())

    def post(alg: str, url: str = metadata["token_endpoint"], **claims):
        value = jwt.encode(
            {"alg": alg, "kid": rsa_key.kid},
            {
                "iss": fapi.client_id,
                "sub": fapi.client_id,
                "aud": metadata["issuer"],
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
                **claims,
            },
            rsa_key,
            algorithms=[alg],
        )
        data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value}
        if url == metadata["token_endpoint"]:
            data["grant_type"] = "client_credentials"
        else:
            data["token"] = "x" * 43
        return requests.post(url, data=data, timeout=10)

    rs256 = post("RS256")
    assert rs256.status_code == 401 and rs256.json()["error"] == "invalid_client"
    assert "PS256" in rs256.json()["error_description"]
    # Accepted assertions are shown at introspection; FAPI clients at the token endpoint,
    # with DPoP, are test_live_fapi.py's.
    jti = uuid.uuid4().hex
    accepted = post("PS256", url=metadata["introspection_endpoint"], jti=jti)
    assert accepted.status_code == 200 and accepted.json() == {"active": False}, accepted.text
    replay = post("PS256", url=metadata["introspection_endpoint"], jti=jti)
    assert replay.status_code == 401 and "used before" in replay.json()["error_description"]
