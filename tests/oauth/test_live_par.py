"""Pushed authorization requests (RFC 9126) and request objects (RFC 9101) with a stock
client (Authlib's OAuth2Session: it builds the authorization request, authenticates the push
with its own ``ClientAuth``, and exchanges the code) against the live server, for both
tenants; and the refusals a client meets there: a reused ``request_uri``, another client's,
a plain request when the client must push, and a ``request_uri`` of the other tenant."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.support.factories import make_user, make_web_client, query_of
from tests.support.live_clients import login_and_consent, metadata
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.live

REDIRECT = "https://app.example.com/callback"
URN = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def session_for(client) -> OAuth2Session:
    return OAuth2Session(
        client.client_id,
        client.secret,
        scope="api read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def push(session: OAuth2Session, meta: dict, verifier: str, **extra) -> requests.Response:
    """RFC 9126 §2.1: the parameters Authlib would put in the authorization URL, POSTed to
    the PAR endpoint with the session's own client authentication."""
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    body = dict(parse_qsl(urlsplit(url).query))
    body.update(extra)
    return session.post(
        meta["pushed_authorization_request_endpoint"],
        data=body,
        auth=session.client_auth("client_secret_basic"),
        withhold_token=True,
        timeout=10,
    )


def authorization_url(session: OAuth2Session, meta: dict, request_uri: str) -> str:
    """RFC 9126 §4: Authlib adds its usual parameters beside ``request_uri``; the server
    uses only the pushed ones."""
    url, _state = session.create_authorization_url(
        meta["authorization_endpoint"], request_uri=request_uri
    )
    return url


def test_push_authorize_exchange_with_oauth2session(gatehouse_server, tenant, commit):
    with commit(tenant):
        client = make_web_client(tenant, redirect_uris=[REDIRECT])
        user = make_user(tenant)
    meta = metadata(gatehouse_server, tenant)
    assert meta["pushed_authorization_request_endpoint"].endswith("/oauth/par")
    session = session_for(client)
    verifier = remember_secret(generate_token(48))
    pushed = push(session, meta, verifier, state="pushed-state")
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    request_uri = remember_secret(body["request_uri"])
    assert request_uri.startswith(URN) and body["expires_in"] == 60
    assert pushed.headers["Cache-Control"] == "no-store"

    url = authorization_url(session, meta, request_uri)
    callback = login_and_consent(gatehouse_server, tenant, url, user.username, user.raw_password)
    params = query_of(callback)
    assert params["state"] == "pushed-state"
    assert params["iss"] == gatehouse_server.issuer(tenant.host)
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    remember_secret(token["access_token"])
    remember_secret(token.get("refresh_token"))
    assert token["token_type"] == "Bearer" and token["scope"] == "api read"

    # RFC 9126 §4: used once; the second use is a readable page, not a redirect or a 500.
    second = login_status(gatehouse_server, tenant, url, user)
    assert second.status_code == 400 and "already used" in second.text


def login_status(server, tenant, url: str, user) -> requests.Response:
    """The answer to ``url`` for a signed-in user (the last step of login)."""
    import html
    import re
    from urllib.parse import urljoin

    agent = requests.Session()
    base = server.url(tenant.host, "")
    first = agent.get(url, allow_redirects=False, timeout=10)
    if first.status_code != 302:
        return first
    page = agent.get(urljoin(base, first.headers["Location"]), timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
    login = agent.post(
        urljoin(base, "/oauth/login"),
        data={"csrfmiddlewaretoken": token, "username": user.username,
              "password": user.raw_password, "next": next_url},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert login.status_code == 302, login.text[:300]
    return agent.get(urljoin(base, login.headers["Location"]), allow_redirects=False, timeout=10)


def test_refusals_at_the_live_server(gatehouse_server, tenant_a, tenant_b, commit):
    with commit(tenant_a):
        owner = make_web_client(tenant_a, redirect_uris=[REDIRECT])
        other = make_web_client(tenant_a, redirect_uris=[REDIRECT])
        strict = make_web_client(
            tenant_a, redirect_uris=[REDIRECT], require_pushed_authorization_requests=True
        )
        user = make_user(tenant_a)
    with commit(tenant_b):
        bravo = make_web_client(tenant_b, redirect_uris=[REDIRECT])
        user_b = make_user(tenant_b)
    meta = metadata(gatehouse_server, tenant_a)
    verifier = remember_secret(generate_token(48))
    pushed = push(session_for(owner), meta, verifier)
    assert pushed.status_code == 201, pushed.text
    request_uri = remember_secret(pushed.json()["request_uri"])

    # Another client's request_uri.
    stolen = login_status(
        gatehouse_server, tenant_a, authorization_url(session_for(other), meta, request_uri), user
    )
    assert stolen.status_code == 400 and "another application" in stolen.text

    # Tenant B knows nothing of tenant A's request_uri, even for its own client.
    meta_b = metadata(gatehouse_server, tenant_b)
    foreign = login_status(
        gatehouse_server,
        tenant_b,
        authorization_url(session_for(bravo), meta_b, request_uri),
        user_b,
    )
    assert foreign.status_code == 400 and "expired or was already used" in foreign.text

    # A client that must push: its plain request is refused, its pushed one works.
    strict_session = session_for(strict)
    plain, _state = strict_session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    refused = login_status(gatehouse_server, tenant_a, plain, user)
    assert refused.status_code == 400 and "pushed authorization request" in refused.text
    ok = push(strict_session, meta, verifier)
    assert ok.status_code == 201, ok.text
    strict_uri = remember_secret(ok.json()["request_uri"])
    callback = login_and_consent(
        gatehouse_server,
        tenant_a,
        authorization_url(strict_session, meta, strict_uri),
        user.username,
        user.raw_password,
    )
    remember_secret(query_of(callback)["code"])

    # Wrong credentials at the PAR endpoint: 401 invalid_client (RFC 9126 §2.3).
    wrong = requests.post(
        meta["pushed_authorization_request_endpoint"],
        data={"response_type": "code", "redirect_uri": REDIRECT},
        auth=(owner.client_id, "not-the-secret"),
        timeout=10,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_a_signed_request_object_pushed_by_oauth2session(gatehouse_server, tenant, commit):
    key = ECKey.generate_key("P-256", parameters={"kid": "live-ro"})
    with commit(tenant):
        client = make_web_client(
            tenant,
            redirect_uris=[REDIRECT],
            jwks={"keys": [key.as_dict(private=False)]},
            request_object_signing_alg="ES256",
        )
        user = make_user(tenant)
    meta = metadata(gatehouse_server, tenant)
    issuer = gatehouse_server.issuer(tenant.host)
    session = session_for(client)
    verifier = remember_secret(generate_token(48))
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    now = int(time.time())
    claims = {**dict(parse_qsl(urlsplit(url).query)), "iss": client.client_id, "aud": issuer,
              "exp": now + 120, "nbf": now, "iat": now}  # fmt: skip
    signed = jwt.encode({"alg": "ES256", "kid": "live-ro"}, claims, key)
    pushed = session.post(
        meta["pushed_authorization_request_endpoint"],
        data={"client_id": client.client_id, "request": signed},
        auth=session.client_auth("client_secret_basic"),
        withhold_token=True,
        timeout=10,
    )
    assert pushed.status_code == 201, pushed.text
    request_uri = remember_secret(pushed.json()["request_uri"])
    callback = login_and_consent(
        gatehouse_server,
        tenant,
        authorization_url(session, meta, request_uri),
        user.username,
        user.raw_password,
    )
    assert query_of(callback)["state"] == state
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    remember_secret(token["access_token"])
    remember_secret(token.get("refresh_token"))
    assert token["scope"] == "api read"

    # The same request object with the wrong audience is refused at the PAR endpoint.
    wrong = jwt.encode({"alg": "ES256", "kid": "live-ro"}, {**claims, "aud": "https://x"}, key)
    refused = session.post(
        meta["pushed_authorization_request_endpoint"],
        data={"client_id": client.client_id, "request": wrong},
        auth=session.client_auth("client_secret_basic"),
        withhold_token=True,
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request_object"
