"""The FAPI 2.0 Security Profile (final, 2025) on a live server, end to end, with a stock
client: Authlib's requests ``OAuth2Session`` with its ``PrivateKeyJWT`` client authentication
(RFC 7523 §2.2) pushes the authorization request (RFC 9126) with PKCE S256 (RFC 7636), the
signed-in user authorizes the ``request_uri``, the client checks ``iss`` in the response
(RFC 9207) and redeems the code with a DPoP proof that joserfc signs (RFC 9449 §5), gets a
DPoP-bound access token and a PS256 id_token (FAPI 2.0 §5.4.1) and calls userinfo with
``Authorization: DPoP`` (RFC 9449 §7.1), where the same token as a bearer token is refused.

Once with the client's own profile (a client of the shared tenant A), once under the
tenant's (a tenant of this module's own, switched to FAPI 2.0 and dropped afterwards, so the
shared tenants are never changed); and the profile's refusals over the wire, each with the
error code and status its specification gives."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from django.db import connection
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.oauth.test_live_par import login_status
from tests.support import jose
from tests.support.assertions import ASSERTION_TYPE, assertion, public_set
from tests.support.dpop import DPoPKey
from tests.support.factories import make_public_client, make_user, make_web_client, query_of
from tests.support.live_clients import login_and_consent
from tests.support.secrets import remember_secret
from tests.support.tenants import TenantInfo, provision

# No django_db: rows are committed (the `commit` fixture) so the live server sees them.
pytestmark = pytest.mark.live

REDIRECT = "https://app.example.com/callback"
URN = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def fapi_world(two_tenants, django_db_blocker, rsa_key):
    """A tenant of this module's own switched to the FAPI 2.0 profile (``IssuerSettings``)
    through the audited service the console and ``set_security_profile`` use, and the
    clients it had before the switch, which registration under FAPI 2.0 no longer takes
    (``ClientMetadata``): one with ``client_secret_basic``, one public (``none``), one
    with ``private_key_jwt`` whose request objects are signed RS256."""
    from django_tenants.utils import schema_context

    from oauth.services.issuer import issuer_settings_update
    from tenants.hosts import clear_tenant_host_cache
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        info = provision("fapi-live", "FAPI Live")
        scopes = ["openid", "api"]
        legacy = {
            "secret": make_web_client(info, redirect_uris=[REDIRECT], scopes=scopes),
            "public": make_public_client(info, redirect_uris=[REDIRECT], scopes=scopes),
            "rs256": fapi_client(
                info, rsa_key, client_profile=False, request_object_signing_alg="RS256"
            ),
        }
        with schema_context(info.schema):
            issuer_settings_update(security_profile="fapi2")
        connection.set_schema_to_public()
    yield info, legacy
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        Tenant.objects.get(slug=info.slug).delete(force_drop=True)
        clear_tenant_host_cache()


@pytest.fixture
def fapi_tenant(fapi_world) -> TenantInfo:
    return fapi_world[0]


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "fapi-live-ps"})


def configuration(server, tenant) -> dict:
    response = requests.get(
        server.url(tenant.host, "/.well-known/openid-configuration"), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def fapi_client(tenant, key, *, client_profile: bool, **options):
    """A confidential ``private_key_jwt`` code-flow client (FAPI 2.0 §5.3.2.1 item 4); with
    ``client_profile`` its own ``security_profile`` is FAPI 2.0, else only the tenant's is."""
    if client_profile:
        options["security_profile"] = "fapi2"
    return make_web_client(
        tenant,
        auth_method="private_key_jwt",
        jwks=public_set(key),
        redirect_uris=[REDIRECT],
        scopes=["openid", "api"],
        **options,
    )


def session_for(client, key, meta: dict, alg: str = "PS256") -> OAuth2Session:
    """Authlib's client with its own ``PrivateKeyJWT``: the assertion's ``aud`` is the
    issuer (RFC 7523bis §4, FAPI 2.0 §5.3.2.1), a fresh ``jti`` per request."""
    auth = PrivateKeyJWT(meta["issuer"], alg=alg, headers={"kid": key.kid})
    return OAuth2Session(
        client.client_id,
        key,
        scope="openid api",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth,
    )


def push(session: OAuth2Session, meta: dict, verifier: str, **extra) -> requests.Response:
    """RFC 9126 §2.1: the parameters Authlib would put in the authorization URL, POSTed to
    the PAR endpoint, authenticated by the session's own client authentication."""
    url, _state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, **extra
    )
    data = dict(parse_qsl(urlsplit(url).query))
    if session.token_endpoint_auth_method == "none":
        # Authlib's "none" client authentication adds client_id to the body itself; sent
        # twice it is invalid_request (RFC 6749 §3.2: no parameter more than once).
        del data["client_id"]
    return session.post(
        meta["pushed_authorization_request_endpoint"],
        data=data,
        auth=session.client_auth(session.token_endpoint_auth_method),
        withhold_token=True,
        timeout=10,
    )


def authorize(server, tenant, session: OAuth2Session, meta: dict, request_uri: str, user) -> str:
    """RFC 9126 §4: only ``client_id`` and ``request_uri`` (Authlib adds its usual ones,
    which the server ignores); the signed-in user's callback URL."""
    url, _state = session.create_authorization_url(
        meta["authorization_endpoint"], request_uri=request_uri
    )
    return login_and_consent(server, tenant, url, user.username, user.raw_password)


def pushed_code(server, tenant, session, meta, user, **extra) -> tuple[str, str, str]:
    """PAR, then authorization: (callback URL, code_verifier, state)."""
    verifier = remember_secret(generate_token(48))
    state = "st-" + uuid.uuid4().hex[:8]
    pushed = push(session, meta, verifier, state=state, **extra)
    assert pushed.status_code == 201, pushed.text
    request_uri = remember_secret(pushed.json()["request_uri"])
    assert request_uri.startswith(URN)
    callback = authorize(server, tenant, session, meta, request_uri, user)
    return callback, verifier, state


def remember(token: dict) -> dict:
    for name in ("access_token", "refresh_token", "id_token"):
        remember_secret(token.get(name))
    return token


@pytest.mark.parametrize("where", ["client-profile", "tenant-profile"])
def test_fapi2_client_gets_dpop_bound_tokens_with_authlib(
    where, gatehouse_server, tenant_a, fapi_tenant, commit, rsa_key
):
    """FAPI 2.0 §5.3.2.2 (PAR, PKCE S256, ``iss``, DPoP) and §5.3.2.1 item 4
    (``private_key_jwt``) all the way to userinfo, with the PS256 id_token of §5.4.1."""
    tenant = tenant_a if where == "client-profile" else fapi_tenant
    with commit(tenant):
        client = fapi_client(tenant, rsa_key, client_profile=where == "client-profile")
        user = make_user(tenant)
    meta = configuration(gatehouse_server, tenant)
    issuer = gatehouse_server.issuer(tenant.host)
    assert meta["issuer"] == issuer
    session = session_for(client, rsa_key, meta)
    nonce = uuid.uuid4().hex

    callback, verifier, state = pushed_code(gatehouse_server, tenant, session, meta, user,
                                            nonce=nonce)  # fmt: skip
    params = query_of(callback)
    assert params["state"] == state
    # RFC 9207 §2, FAPI 2.0 §5.3.2.2 item 7: the issuer names itself in the response.
    assert params["iss"] == issuer

    key = DPoPKey()  # ES256: one of FAPI 2.0's algs
    token = remember(
        session.fetch_token(
            meta["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            headers={"DPoP": key.proof("POST", meta["token_endpoint"])},
        )
    )
    assert token["token_type"] == "DPoP"
    assert set(token["scope"].split()) == {"openid", "api"}

    # FAPI 2.0 §5.4.1 / OIDC Core §3.1.3.7: a PS256 id_token, checked by jwcrypto against
    # the tenant's published JWK Set.
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    verified = jose.verify(token["id_token"], jwks, ["PS256"])
    assert verified.header["alg"] == "PS256"
    assert verified.claims["iss"] == issuer and verified.claims["aud"] == client.client_id
    assert verified.claims["sub"] == str(user.sub) and verified.claims["nonce"] == nonce
    # RFC 7515 §4.1.4: the kid is one of the tenant's PS256 keys.
    assert {k["kid"]: k["alg"] for k in jwks["keys"]}[verified.header["kid"]] == "PS256"

    access, userinfo = token["access_token"], meta["userinfo_endpoint"]
    ok = requests.get(
        userinfo,
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": key.proof("GET", userinfo, access_token=access),
        },
        timeout=10,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["sub"] == str(user.sub)
    # RFC 9449 §7.1 / RFC 6750 §3.1: the DPoP-bound token is no bearer token.
    bearer = requests.get(userinfo, headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert bearer.status_code == 401 and bearer.json()["error"] == "invalid_token"


def test_a_fapi_tenant_advertises_par_required_and_the_fapi_algs(
    gatehouse_server, tenant_a, fapi_tenant
):
    """RFC 9126 §5 ``require_pushed_authorization_requests`` (FAPI 2.0 §5.3.2.2 item 2), and
    only FAPI 2.0's algs (§5.4.1) and ``private_key_jwt`` (§5.3.2.1 item 4) wherever the
    tenant verifies a client's signature (RFC 8414 §2, RFC 9449 §5.1, RFC 9101 §10.5)."""
    fapi = configuration(gatehouse_server, fapi_tenant)
    plain = configuration(gatehouse_server, tenant_a)
    assert fapi["require_pushed_authorization_requests"] is True
    assert plain["require_pushed_authorization_requests"] is False
    assert fapi["pushed_authorization_request_endpoint"] == (
        gatehouse_server.issuer(fapi_tenant.host) + "/oauth/par"
    )
    fapi_algs = ["PS256", "ES256", "EdDSA"]
    for name in (
        "token_endpoint_auth_signing_alg_values_supported",
        "dpop_signing_alg_values_supported",
        "request_object_signing_alg_values_supported",
    ):
        assert fapi[name] == fapi_algs, name
        assert "RS256" in plain[name], name
    assert fapi["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "client_secret_basic" in plain["token_endpoint_auth_methods_supported"]
    assert "PS256" in fapi["id_token_signing_alg_values_supported"]
    assert fapi["code_challenge_methods_supported"] == ["S256"]
    assert fapi["authorization_response_iss_parameter_supported"] is True


def bad_assertion(client, key, aud: str, **claims) -> dict:
    """A ``private_key_jwt`` body that joserfc signs (PS256), for claims Authlib's
    ``PrivateKeyJWT`` never sends (a stale ``exp``)."""
    value = assertion(client.client_id, key, aud, alg="PS256", **claims)
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value}


@pytest.mark.parametrize("where", ["client-profile", "tenant-profile"])
def test_fapi2_refusals_over_the_wire(
    where, gatehouse_server, tenant_a, fapi_tenant, commit, rsa_key
):
    """What a FAPI 2.0 client meets when it strays, each with its specification's error:
    a plain authorization request (RFC 9126 §5: this server shows the user a 400 page, as
    for any request it cannot redirect), a secret (RFC 6749 §5.2 401 ``invalid_client``),
    an assertion for another audience or expired (RFC 7523 §3 items 3 and 4: 401
    ``invalid_client``), a token request without a DPoP proof or with an RS256 one (RFC 9449
    §5 / FAPI 2.0 §5.4.1: 400 ``invalid_dpop_proof``); none of which burns the code."""
    tenant = tenant_a if where == "client-profile" else fapi_tenant
    with commit(tenant):
        client = fapi_client(tenant, rsa_key, client_profile=where == "client-profile")
        user = make_user(tenant)
    meta = configuration(gatehouse_server, tenant)
    issuer, token_url = meta["issuer"], meta["token_endpoint"]
    session = session_for(client, rsa_key, meta)

    # RFC 9126 §5 / FAPI 2.0 §5.3.2.2 item 2: a plain authorization request is refused.
    plain, _state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=generate_token(48)
    )
    page = login_status(gatehouse_server, tenant, plain, user)
    assert page.status_code == 400 and "pushed authorization request" in page.text

    callback, verifier, _state = pushed_code(gatehouse_server, tenant, session, meta, user)
    code = remember_secret(query_of(callback)["code"])
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
             "code_verifier": verifier}  # fmt: skip

    def token(*, proof: str | None = None, auth=None, **body) -> requests.Response:
        headers = {"DPoP": proof} if proof is not None else {}
        return requests.post(token_url, data={**grant, **body}, headers=headers, auth=auth,
                             timeout=10)  # fmt: skip

    def refused(response, status: int, error: str) -> str:
        assert response.status_code == status, response.text
        assert response.json()["error"] == error, response.text
        return response.json().get("error_description", "")

    # FAPI 2.0 §5.3.2.1 item 4: private_key_jwt only; a secret is no way in.
    refused(token(auth=(client.client_id, "guess")), 401, "invalid_client")
    now = int(time.time())
    why = refused(token(**bad_assertion(client, rsa_key, "https://elsewhere.example")),
                  401, "invalid_client")  # fmt: skip
    assert "aud must be this issuer" in why
    why = refused(token(**bad_assertion(client, rsa_key, issuer, iat=now - 600, exp=now - 300)),
                  401, "invalid_client")  # fmt: skip
    assert "expired" in why
    # RFC 9449 §5 (FAPI 2.0 §5.3.2.2 item 8): sender-constrained tokens only.
    why = refused(token(**bad_assertion(client, rsa_key, issuer)), 400, "invalid_dpop_proof")
    assert "DPoP" in why
    # FAPI 2.0 §5.4.1: a proof signed RS256 is refused like any other alg outside the list.
    rs256 = DPoPKey("RS256").proof("POST", token_url)
    refused(token(proof=rs256, **bad_assertion(client, rsa_key, issuer)), 400,
            "invalid_dpop_proof")  # fmt: skip

    # The code survived every refusal: the client's proper request redeems it.
    key = DPoPKey("PS256")
    ok = token(proof=key.proof("POST", token_url), **bad_assertion(client, rsa_key, issuer))
    assert ok.status_code == 200, ok.text
    assert remember(ok.json())["token_type"] == "DPoP"


def test_secret_clients_under_a_fapi_tenant_are_refused(gatehouse_server, fapi_world):
    """Under a FAPI 2.0 tenant a client registered with ``client_secret_basic`` before the
    switch (registration refuses one since) pushes and redeems nothing: 401
    ``invalid_client`` at the PAR and the token endpoint (FAPI 2.0 §5.3.2.1 item 4, RFC 9126
    §2.3, RFC 6749 §5.2), with Authlib's own ``client_secret_basic``."""
    fapi_tenant, legacy = fapi_world
    client = legacy["secret"]
    meta = configuration(gatehouse_server, fapi_tenant)
    session = OAuth2Session(
        client.client_id,
        client.secret,
        scope="openid api",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    pushed = push(session, meta, remember_secret(generate_token(48)))
    assert pushed.status_code == 401, pushed.text
    assert pushed.json()["error"] == "invalid_client"
    assert "private_key_jwt" in pushed.json()["error_description"]
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    direct = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "authorization_code", "code": "x" * 43, "redirect_uri": REDIRECT},
        auth=client.auth(),
        timeout=10,
    )
    assert direct.status_code == 401 and direct.json()["error"] == "invalid_client"


def test_public_clients_under_a_fapi_tenant_are_refused(gatehouse_server, fapi_world, commit):
    """FAPI 2.0 §5.3.2.1: confidential clients only. A public client (``none``, RFC 7591
    §2) is refused wherever it would start or finish a flow: the PAR endpoint (401
    ``invalid_client``, RFC 9126 §2.3), a plain authorization request (RFC 9126 §5, a 400
    page), the token endpoint (401 ``invalid_client``, RFC 6749 §5.2)."""
    fapi_tenant, legacy = fapi_world
    client = legacy["public"]
    with commit(fapi_tenant):
        user = make_user(fapi_tenant)
    meta = configuration(gatehouse_server, fapi_tenant)
    session = OAuth2Session(
        client.client_id,
        None,
        scope="openid api",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = remember_secret(generate_token(48))
    pushed = push(session, meta, verifier)
    assert pushed.status_code == 401, pushed.text
    assert pushed.json()["error"] == "invalid_client"
    assert "private_key_jwt" in pushed.json()["error_description"]
    plain, _state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    page = login_status(gatehouse_server, fapi_tenant, plain, user)
    assert page.status_code == 400 and "pushed authorization request" in page.text
    token = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "authorization_code", "code": "x" * 43, "client_id": client.client_id,
              "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers={"DPoP": DPoPKey().proof("POST", meta["token_endpoint"])},
        timeout=10,
    )  # fmt: skip
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    assert "private_key_jwt, not none" in token.json()["error_description"]


def test_an_rs256_request_object_under_a_fapi_tenant_is_refused(
    gatehouse_server, fapi_world, rsa_key
):
    """FAPI 2.0 §5.4.1: a client registered before the switch with RS256 request objects
    (RFC 9101 §10.5 ``request_object_signing_alg``) authenticates as the profile requires,
    so its push reaches the request object: 400 ``invalid_request_object`` (RFC 9126 §2.3)
    naming the profile."""
    fapi_tenant, legacy = fapi_world
    client = legacy["rs256"]
    meta = configuration(gatehouse_server, fapi_tenant)
    session = session_for(client, rsa_key, meta)
    key = rsa_key
    url, _state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=remember_secret(generate_token(48))
    )
    now = int(time.time())
    claims = {**dict(parse_qsl(urlsplit(url).query)), "iss": client.client_id,
              "aud": meta["issuer"], "exp": now + 120, "nbf": now, "iat": now}  # fmt: skip
    signed = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])
    refused = session.post(
        meta["pushed_authorization_request_endpoint"],
        data={"client_id": client.client_id, "request": signed},
        auth=session.client_auth(session.token_endpoint_auth_method),
        withhold_token=True,
        timeout=10,
    )
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["error"] == "invalid_request_object"
    assert "RS256 is not allowed by its security profile" in body["error_description"]
