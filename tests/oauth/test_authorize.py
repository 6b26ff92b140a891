"""The authorization endpoint (RFC 6749 §4.1, §4.1.2.1; RFC 9207)."""

import pytest

from tests.support.factories import (
    authorize_params,
    get_code,
    make_client,
    make_public_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    query_of,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(tenant):
    return signed_in(tenant, make_user(tenant))


def authorize(web, params, method="GET"):
    params = {k: v for k, v in params.items() if v is not None}
    if method == "POST":
        return post_form(web, "/oauth/authorize", params)
    return web.get("/oauth/authorize", params, secure=True)


def assert_page_error(response):
    assert response.status_code == 400
    assert "Location" not in response
    assert response["Content-Type"].startswith("text/html")
    assert b"not valid" in response.content
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"


def assert_redirect_error(response, tenant, client, error, state):
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(client.redirect_uris[0] + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["iss"] == tenant.issuer  # RFC 9207, on error responses too
    if state is None:
        assert "state" not in query
    else:
        assert query["state"] == state
    return query


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "unknown-client"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example.com/callback"},
    ],
    ids=["unknown-client", "missing-client", "unregistered-redirect"],
)
def test_unknown_client_or_redirect_uri_is_a_400_page_never_a_redirect(tenant, web, change):
    client = make_web_client(tenant)
    assert_page_error(authorize(web, {**authorize_params(client), **change}))


def test_repeated_client_id_or_redirect_uri_is_a_400_page(tenant, web):
    client = make_web_client(tenant)
    params = authorize_params(client)
    query = "&".join([f"{k}={v}" for k, v in params.items()] + [f"client_id={client.client_id}"])
    assert_page_error(web.get(f"/oauth/authorize?{query}", secure=True))


def test_redirect_uri_may_be_omitted_only_when_one_is_registered(tenant, web):
    one = make_web_client(tenant)
    response = authorize(web, authorize_params(one, redirect_uri=None))
    assert response.status_code == 200  # the consent page
    two = make_web_client(
        tenant, redirect_uris=["https://a.example.com/cb", "https://b.example.com/cb"]
    )
    assert_page_error(authorize(web, authorize_params(two, redirect_uri=None)))


@pytest.mark.parametrize(
    "change,error",
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"resource": "https://unregistered.example.com"}, "invalid_target"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"nonce": "n" * 501}, "invalid_request"),
    ],
)
def test_other_errors_go_back_to_the_client_with_state_and_iss(tenant, web, change, error):
    client = make_web_client(tenant)
    params = {k: v for k, v in {**authorize_params(client), **change}.items() if v}
    assert_redirect_error(authorize(web, params), tenant, client, error, params["state"])


def test_repeated_parameter_is_invalid_request_back_to_the_client(tenant, web):
    client = make_web_client(tenant)
    params = authorize_params(client)
    query = "&".join([f"{k}={v}" for k, v in params.items()] + ["scope=api"])
    response = web.get(f"/oauth/authorize?{query}", secure=True)
    assert_redirect_error(response, tenant, client, "invalid_request", params["state"])


def test_client_without_the_code_grant_is_unauthorized_client(tenant, web):
    cc = make_client(tenant)  # client_credentials only, no redirect URIs: a 400 page
    assert_page_error(authorize(web, {**authorize_params(make_web_client(tenant)),
                                      "client_id": cc.client_id}))  # fmt: skip


def test_state_is_omitted_when_absent(tenant, web):
    client = make_web_client(tenant)
    params = authorize_params(client, scope="admin", state=None)
    assert_redirect_error(authorize(web, params), tenant, client, "invalid_scope", None)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_success_carries_code_state_and_iss(tenant, web, method):
    client = make_web_client(tenant)
    params = authorize_params(client)
    response = authorize(web, params, method)
    assert response.status_code == 200  # consent page first
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert response["X-Frame-Options"] == "DENY"
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    query = query_of(response["Location"])
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == params["state"] and query["iss"] == tenant.issuer


def test_post_from_the_clients_site_is_not_a_csrf_failure(tenant):
    from django.test import Client

    client = make_web_client(tenant)
    user = make_user(tenant)
    web = Client(enforce_csrf_checks=True, HTTP_HOST=tenant.host)
    with tenant.context():
        web.force_login(user)
    response = post_form(
        web, "/oauth/authorize", authorize_params(client), HTTP_ORIGIN="https://app.example.com"
    )
    assert response.status_code == 200
    assert b"Allow" in response.content


def test_anonymous_user_is_sent_to_login_and_the_request_survives(tenant):
    client = make_web_client(tenant)
    params = authorize_params(client)
    web = tenant.client()
    response = post_form(web, "/oauth/authorize", params)  # a form POST survives too
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith("/oauth/login?next=")
    next_url = query_of(login_url)["next"]
    assert next_url.startswith("/oauth/authorize?")
    assert query_of(next_url) == params
    user = make_user(tenant)
    response = post_form(
        web,
        "/oauth/login",
        {"username": user.username, "password": user.raw_password, "next": next_url},
    )
    assert response.status_code == 302 and response["Location"] == next_url
    assert web.get(next_url, secure=True).status_code == 200  # now the consent page


def test_prompt_none_without_a_session_or_consent(tenant, web):
    client = make_web_client(tenant)
    anonymous = tenant.client()
    params = authorize_params(client, prompt="none")
    assert_redirect_error(
        authorize(anonymous, params), tenant, client, "login_required", params["state"]
    )
    assert_redirect_error(
        authorize(web, params), tenant, client, "consent_required", params["state"]
    )
    get_code(tenant, web, client)  # consent given once
    response = authorize(web, params)
    assert "code" in query_of(response["Location"])


def test_prompt_login_asks_for_the_password_again(tenant, web):
    client = make_web_client(tenant)
    response = authorize(web, authorize_params(client, prompt="login"))
    assert response.status_code == 302
    next_url = query_of(response["Location"])["next"]
    assert "prompt" not in query_of(next_url)


def test_openid_scope_does_not_break_the_flow(tenant, web):
    client = make_web_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge, scope="openid profile", nonce="n-123")
    from kernel import credentials as digests
    from oauth.models import AuthorizationCode

    with tenant.context():
        row = AuthorizationCode.objects.get(code_digest=digests.digest(code))
    assert row.scope == "openid profile" and row.nonce == "n-123"
    assert row.get_nonce() == "n-123" and row.get_auth_time() > 0


def test_public_client_code_flow_page(tenant, web):
    public = make_public_client(tenant)
    _, challenge = pkce_pair()
    assert get_code(tenant, web, public, challenge)


def test_malformed_authorization_requests_never_500(tenant, web):
    client = make_web_client(tenant)
    base = authorize_params(client)
    for query in (
        "client_id=%ff%fe",
        f"client_id={client.client_id}&redirect_uri=%ff",
        "&".join(f"{k}={v}" for k, v in base.items()) + "&state=" + "s" * 100_000,
        "&".join(f"p{i}=1" for i in range(200)),
        f"client_id={client.client_id}%00",
        "&".join(f"{k}={v}" for k, v in base.items()) + "&nonce=%00",
    ):
        response = web.get(f"/oauth/authorize?{query}", secure=True)
        assert response.status_code in (302, 400), query[:40]
    response = web.put("/oauth/authorize", secure=True)
    assert response.status_code == 405
    json_body = web.post(
        "/oauth/authorize", b'{"client_id": "x"}', content_type="application/json", secure=True
    )
    assert json_body.status_code == 400


def test_request_values_rfc_6749_forbids_in_descriptions_never_500(tenant, web):
    """Authlib quotes redirect_uri and response_type in error descriptions, and its
    OAuth2Error raises ValueError on a quote or backslash (RFC 6749 §5.2)."""
    client = make_web_client(tenant)
    page = authorize(web, {**authorize_params(client), "redirect_uri": 'https://x.example/"\\'})
    assert_page_error(page)
    params = {**authorize_params(client), "response_type": 'to"k\\en'}
    assert_redirect_error(
        authorize(web, params), tenant, client, "unsupported_response_type", params["state"]
    )
