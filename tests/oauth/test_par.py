"""Pushed authorization requests (RFC 9126) in process: the push and its refusals (§2.3),
the authorization endpoint's use of ``request_uri`` (§4: the client's own, once, before it
expires, the query's other parameters ignored), "PAR required" per client and per tenant
(§5, §6), and tenant isolation of ``request_uri`` values."""

from __future__ import annotations

import time

import pytest

from tests.support.factories import (
    assert_error,
    exchange_code,
    make_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    query_of,
    signed_in,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

URN = "urn:ietf:params:oauth:request_uri:"


def push(tenant, client, challenge: str | None = None, auth=True, **params):
    data = {
        "response_type": "code",
        "redirect_uri": client.redirect_uris[0] if client.redirect_uris else "",
        "scope": "api read",
        "state": "st-pushed",
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
        **params,
    }
    data = {k: v for k, v in data.items() if v is not None and v != ""}
    extra = client.basic() if auth else {}
    return post_form(tenant.client(), "/oauth/par", data, **extra)


def pushed_uri(tenant, client, challenge, **params) -> str:
    response = push(tenant, client, challenge, **params)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["request_uri"].startswith(URN) and body["expires_in"] == 60
    assert response["Cache-Control"] == "no-store"
    return remember_secret(body["request_uri"])


def authorize(web, client, request_uri: str, **extra):
    params = {"client_id": client.client_id, "request_uri": request_uri, **extra}
    response = web.get("/oauth/authorize", params, secure=True)
    if response.status_code == 200 and b"decision" in response.content:
        response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    return response


def code_from(response, tenant) -> str:
    assert response.status_code == 302, response.content[:500]
    query = query_of(response["Location"])
    assert "code" in query, response["Location"]
    assert query["iss"] == tenant.issuer
    return remember_secret(query["code"])


def test_push_authorize_exchange_and_the_second_use_is_refused(tenant):
    client = make_web_client(tenant)
    user = make_user(tenant)
    verifier, challenge = pkce_pair()
    request_uri = pushed_uri(tenant, client, challenge)
    web = signed_in(tenant, user)
    response = authorize(web, client, request_uri)
    code = code_from(response, tenant)
    assert response["Location"].startswith(client.redirect_uris[0] + "?")
    assert query_of(response["Location"])["state"] == "st-pushed"
    token = exchange_code(tenant, client, code, verifier)
    assert token.status_code == 200, token.content
    remember_secret(token.json()["access_token"])
    remember_secret(token.json().get("refresh_token"))
    assert token.json()["scope"] == "api read"

    again = authorize(web, client, request_uri)
    assert again.status_code == 400
    assert b"already used" in again.content or b"expired" in again.content


def test_the_query_beside_request_uri_is_ignored(tenant_a):
    client = make_web_client(
        tenant_a, redirect_uris=["https://app.example.com/a", "https://app.example.com/b"]
    )
    verifier, challenge = pkce_pair()
    request_uri = pushed_uri(
        tenant_a, client, challenge, redirect_uri="https://app.example.com/a", scope="read"
    )
    web = signed_in(tenant_a, make_user(tenant_a))
    response = authorize(
        web, client, request_uri, redirect_uri="https://app.example.com/b", scope="api read",
        state="other", response_type="token",
    )  # fmt: skip
    code_from(response, tenant_a)
    assert response["Location"].startswith("https://app.example.com/a?")
    assert query_of(response["Location"])["state"] == "st-pushed"
    token = exchange_code(tenant_a, client, query_of(response["Location"])["code"], verifier,
                          redirect_uri="https://app.example.com/a")  # fmt: skip
    assert token.status_code == 200 and token.json()["scope"] == "read"
    remember_secret(token.json()["access_token"])
    remember_secret(token.json().get("refresh_token"))


def test_a_public_client_pushes_with_its_client_id(tenant_a):
    client = make_web_client(tenant_a, auth_method="none")
    _verifier, challenge = pkce_pair()
    response = push(tenant_a, client, challenge, auth=False, client_id=client.client_id)
    assert response.status_code == 201, response.content
    remember_secret(response.json()["request_uri"])


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"redirect_uri": "https://evil.example.com/cb"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"request_uri": URN + "x"}, "invalid_request"),
        ({"resource": "https://unregistered.example.com"}, "invalid_target"),
        ({"prompt": "bogus"}, "invalid_request"),
    ],
)
def test_push_validates_as_the_authorization_endpoint_does(tenant_a, params, error):
    client = make_web_client(tenant_a)
    _verifier, challenge = pkce_pair()
    response = push(tenant_a, client, challenge, **params)
    body = assert_error(response, 400, error)
    assert "state" not in body and "Location" not in response


def test_pkce_is_required_of_public_and_fapi_clients(tenant_a):
    public = make_web_client(tenant_a, auth_method="none")
    response = push(tenant_a, public, None, auth=False, client_id=public.client_id)
    assert "PKCE" in assert_error(response, 400, "invalid_request")["error_description"]
    confidential = make_web_client(tenant_a)
    assert push(tenant_a, confidential, None).status_code == 201
    remember_secret(push(tenant_a, confidential, None).json()["request_uri"])


def test_fapi_clients_must_send_pkce(tenant_a):
    """FAPI 2.0 §5.3.2.2 items 1 and 5: PKCE S256 and the code response type, for a FAPI
    client authenticating as the profile requires (private_key_jwt)."""
    from joserfc.jwk import ECKey

    from tests.support.assertions import assertion_auth, public_set

    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-par"})
    client = make_web_client(
        tenant_a, security_profile="fapi2", auth_method="private_key_jwt", jwks=public_set(key)
    )

    def fapi_push(challenge, **params):
        auth = assertion_auth(client.client_id, key, tenant_a.issuer)
        return push(tenant_a, client, challenge, auth=False, **auth, **params)

    body = assert_error(fapi_push(None), 400, "invalid_request")
    assert "requires PKCE" in body["error_description"]
    pushed = fapi_push(pkce_pair()[1])
    assert pushed.status_code == 201, pushed.content
    remember_secret(pushed.json()["request_uri"])
    other = fapi_push(pkce_pair()[1], response_type="code id_token")
    body = assert_error(other, 400, "invalid_request")
    assert "not allowed for this application" in body["error_description"]
    # A client secret is no way in for a FAPI client (it has none; Basic is refused).
    assert push(tenant_a, client, pkce_pair()[1], auth=False, client_id=client.client_id,
                client_secret="guess").status_code == 401  # fmt: skip


def test_push_needs_client_authentication(tenant_a):
    client = make_web_client(tenant_a)
    _verifier, challenge = pkce_pair()
    assert_error(push(tenant_a, client, challenge, auth=False), 401, "invalid_client")
    wrong = post_form(
        tenant_a.client(), "/oauth/par",
        {"response_type": "code", "code_challenge": challenge, "code_challenge_method": "S256"},
        **client.__class__(client.client_id, "wrong", client.pk, tenant_a).basic(),
    )  # fmt: skip
    assert_error(wrong, 401, "invalid_client")
    other = make_web_client(tenant_a)
    mismatch = push(tenant_a, client, challenge, client_id=other.client_id)
    assert_error(mismatch, 400, "invalid_request")
    get = tenant_a.client().get("/oauth/par", secure=True)
    assert get.status_code == 405


def test_a_client_credentials_client_cannot_push(tenant_a):
    client = make_client(tenant_a)
    response = push(tenant_a, client, pkce_pair()[1], redirect_uri="https://app.example.com/cb")
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "unauthorized_client"}


def test_another_clients_request_uri_is_refused(tenant_a):
    owner, thief = make_web_client(tenant_a), make_web_client(tenant_a)
    request_uri = pushed_uri(tenant_a, owner, pkce_pair()[1])
    web = signed_in(tenant_a, make_user(tenant_a))
    response = authorize(web, thief, request_uri)
    assert response.status_code == 400
    assert b"another application" in response.content
    # The owner can still use it.
    code_from(authorize(web, owner, request_uri), tenant_a)


def test_an_expired_request_uri_is_refused(tenant_a, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PAR_LIFETIME_SECONDS": 1}
    client = make_web_client(tenant_a)
    response = push(tenant_a, client, pkce_pair()[1])
    assert response.status_code == 201 and response.json()["expires_in"] == 1
    request_uri = remember_secret(response.json()["request_uri"])
    time.sleep(2.1)
    web = signed_in(tenant_a, make_user(tenant_a))
    expired = authorize(web, client, request_uri)
    assert expired.status_code == 400 and b"expired" in expired.content


def test_an_unknown_or_external_request_uri_is_refused(tenant_a):
    client = make_web_client(tenant_a)
    web = signed_in(tenant_a, make_user(tenant_a))
    unknown = authorize(web, client, URN + "made-up")
    assert unknown.status_code == 400 and b"expired" in unknown.content
    external = authorize(web, client, "https://app.example.com/request.jwt")
    assert external.status_code == 400 and b"not fetched by reference" in external.content


def test_par_required_per_client_refuses_a_plain_request(tenant_a):
    from tests.support.factories import authorize_params

    client = make_web_client(tenant_a, require_pushed_authorization_requests=True)
    _verifier, challenge = pkce_pair()
    web = signed_in(tenant_a, make_user(tenant_a))
    plain = web.get("/oauth/authorize", authorize_params(client, challenge), secure=True)
    assert plain.status_code == 400 and b"pushed authorization request" in plain.content
    code_from(authorize(web, client, pushed_uri(tenant_a, client, challenge)), tenant_a)
    # Another client of the tenant is not affected.
    free = make_web_client(tenant_a)
    response = web.get("/oauth/authorize", authorize_params(free, challenge), secure=True)
    assert response.status_code in (200, 302) and b"pushed authorization" not in response.content


def test_par_required_per_tenant_refuses_a_plain_request(tenant_a, tenant_b):
    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache
    from tests.support.factories import authorize_params

    with tenant_a.context():
        row = IssuerSettings.load()
        row.require_pushed_authorization_requests = True
        row.save()
    clear_issuer_policy_cache()
    client = make_web_client(tenant_a)
    _verifier, challenge = pkce_pair()
    web = signed_in(tenant_a, make_user(tenant_a))
    plain = web.get("/oauth/authorize", authorize_params(client, challenge), secure=True)
    assert plain.status_code == 400 and b"pushed authorization request" in plain.content
    code_from(authorize(web, client, pushed_uri(tenant_a, client, challenge)), tenant_a)
    meta = tenant_a.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert meta["require_pushed_authorization_requests"] is True
    # The other tenant is not affected.
    other = make_web_client(tenant_b)
    web_b = signed_in(tenant_b, make_user(tenant_b))
    response = web_b.get("/oauth/authorize", authorize_params(other, challenge), secure=True)
    assert response.status_code in (200, 302) and b"pushed authorization" not in response.content
    meta_b = tenant_b.client().get("/.well-known/oauth-authorization-server", secure=True).json()
    assert meta_b["require_pushed_authorization_requests"] is False


def test_a_request_uri_of_tenant_a_means_nothing_at_tenant_b(tenant_a, tenant_b):
    alpha = make_web_client(tenant_a)
    bravo = make_web_client(tenant_b)
    request_uri = pushed_uri(tenant_a, alpha, pkce_pair()[1])
    web_b = signed_in(tenant_b, make_user(tenant_b))
    response = authorize(web_b, bravo, request_uri)
    assert response.status_code == 400 and b"expired" in response.content
    foreign = authorize(web_b, alpha, request_uri)
    assert foreign.status_code == 400 and b"not known" in foreign.content
    # Still usable where it was pushed.
    web_a = signed_in(tenant_a, make_user(tenant_a))
    code_from(authorize(web_a, alpha, request_uri), tenant_a)


def test_declining_uses_the_request_uri_up(tenant_a):
    client = make_web_client(tenant_a)
    request_uri = pushed_uri(tenant_a, client, pkce_pair()[1])
    web = signed_in(tenant_a, make_user(tenant_a))
    params = {"client_id": client.client_id, "request_uri": request_uri}
    page = web.get("/oauth/authorize", params, secure=True)
    assert page.status_code == 200 and request_uri.encode() in page.content
    denied = post_form(web, "/oauth/consent", {**params, "decision": "deny"})
    assert denied.status_code == 302 and query_of(denied["Location"])["error"] == "access_denied"
    again = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert again.status_code == 400


def test_prompt_login_in_a_pushed_request_is_satisfied_by_the_login(tenant_a):
    import re

    client = make_web_client(tenant_a)
    user = make_user(tenant_a)
    request_uri = pushed_uri(tenant_a, client, pkce_pair()[1], prompt="login")
    web = tenant_a.client()
    start = web.get(
        "/oauth/authorize", {"client_id": client.client_id, "request_uri": request_uri},
        secure=True,
    )  # fmt: skip
    assert start.status_code == 302 and "/oauth/login" in start["Location"]
    page = web.get(start["Location"], secure=True)
    next_url = re.search(rb'name="next" value="([^"]*)"', page.content).group(1).decode()
    next_url = next_url.replace("&amp;", "&")
    assert "request_uri" in next_url and "prompt" not in next_url
    time.sleep(1.01)  # the login is later than the push, to the second
    login = post_form(web, "/oauth/login", {"username": user.username,
                      "password": user.raw_password, "next": next_url})  # fmt: skip
    assert login.status_code == 302
    back = web.get(login["Location"], secure=True)
    if back.status_code == 200:
        back = post_form(
            web, "/oauth/consent",
            {"client_id": client.client_id, "request_uri": request_uri, "decision": "allow"},
        )  # fmt: skip
    code_from(back, tenant_a)


def test_a_request_uri_is_consumed_by_exactly_one_of_concurrent_decisions(tenant_a):
    """RFC 9126 §4: one-time use is Redis's atomic DEL; of racing decisions one wins."""
    from concurrent.futures import ThreadPoolExecutor

    from oauth import pushed_requests

    client = make_web_client(tenant_a)
    request_uri = pushed_uri(tenant_a, client, pkce_pair()[1])

    def consume(_):
        with tenant_a.context():
            return pushed_requests.consume(request_uri)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(consume, range(8)))
    assert results.count(True) == 1 and results.count(False) == 7
