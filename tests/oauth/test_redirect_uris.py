"""Exact redirect URI matching (RFC 9700 §4.1.1), loopback ports (RFC 8252 §7.3)."""

import pytest

from tests.support.factories import (
    authorize_params,
    exchange_code,
    make_public_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    query_of,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db

REGISTERED = "https://app.example.com/callback"


@pytest.fixture
def web(tenant):
    return signed_in(tenant, make_user(tenant))


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback/extra",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "https://app.example.com/Callback",
        "https://other.example.com/callback",
        "http://app.example.com/callback",
        "https://app.example.com:8443/callback",
        "https://app.example.com/callback#frag",
        "https://app.example.com/call",
        "https://app.example.com.evil.com/callback",
        "https://user@app.example.com/callback",
    ],
)
def test_any_variant_of_the_registered_uri_is_a_400_page(tenant, web, uri):
    client = make_web_client(tenant, redirect_uris=[REGISTERED])
    response = web.get("/oauth/authorize", authorize_params(client, redirect_uri=uri), secure=True)
    assert response.status_code == 400
    assert "Location" not in response


@pytest.mark.parametrize(
    "registered,requested",
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:53412/callback"),
        ("http://127.0.0.1:8080/callback", "http://127.0.0.1:61000/callback"),
        ("http://[::1]/callback", "http://[::1]:49152/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1/callback"),
    ],
)
def test_loopback_ip_literal_accepts_any_port(tenant, web, registered, requested):
    public = make_public_client(tenant, redirect_uris=[registered])
    verifier, challenge = pkce_pair()
    params = authorize_params(public, challenge, redirect_uri=requested)
    response = web.get("/oauth/authorize", params, secure=True)
    assert response.status_code == 200, response.content
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    location = response["Location"]
    assert location.startswith(requested + "?")
    code = query_of(location)["code"]
    token = exchange_code(tenant, public, code, verifier, redirect_uri=requested)
    assert token.status_code == 200
    remember_tokens(token.json())


@pytest.mark.parametrize(
    "registered,requested",
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:5000/other"),
        ("http://127.0.0.1/callback", "http://[::1]:5000/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback?x=1"),
        ("http://localhost/callback", "http://localhost:5000/callback"),
        ("http://127.0.0.1/callback", "https://127.0.0.1:5000/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:5000@evil.com/callback"),
    ],
)
def test_loopback_rule_is_only_about_the_port(tenant, web, registered, requested):
    public = make_public_client(tenant, redirect_uris=[registered])
    _, challenge = pkce_pair()
    params = authorize_params(public, challenge, redirect_uri=requested)
    response = web.get("/oauth/authorize", params, secure=True)
    assert response.status_code == 400


def test_token_request_must_repeat_the_exact_redirect_uri(tenant, web):
    from tests.support.factories import assert_error, get_code

    client = make_web_client(tenant)
    code = get_code(tenant, web, client)
    assert_error(
        exchange_code(tenant, client, code, redirect_uri=REGISTERED + "/"), 400, "invalid_grant"
    )
    remember_tokens(exchange_code(tenant, client, code).json())


def test_private_use_scheme_redirect_for_native_apps(tenant, web):
    public = make_public_client(tenant, redirect_uris=["com.example.app:/oauth2redirect"])
    verifier, challenge = pkce_pair()
    params = authorize_params(public, challenge)
    web.get("/oauth/authorize", params, secure=True)
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 302
    assert response["Location"].startswith("com.example.app:/oauth2redirect?code=")
    remember_tokens(
        exchange_code(tenant, public, query_of(response["Location"])["code"], verifier).json()
    )
