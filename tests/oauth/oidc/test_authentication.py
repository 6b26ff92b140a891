"""OpenID Connect authentication requests (OIDC Core §3.1.2): id_token at the token endpoint,
nonce, prompt, max_age; each with its negative case."""

import time
from urllib.parse import urlsplit

import pytest

from tests.support import jose
from tests.support.factories import (
    authorize_params,
    exchange_code,
    get_code,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    query_of,
    remember_tokens,
    signed_in,
    user_tokens,
)

pytestmark = pytest.mark.django_db

SCOPES = ["openid", "profile", "email", "api"]


def _decode(tenant, id_token: str, algs=("RS256",)) -> jose.Verified:
    from oauth.signing.selectors import jwks_document

    with tenant.context():
        keys = jwks_document()
    return jose.verify(id_token, keys, list(algs))


def _authorize(web, params):
    return web.get("/oauth/authorize", params, secure=True)


def _log_in(web, user, next_url: str):
    """Post the tenant's login form as the user would."""
    return post_form(
        web,
        "/oauth/login",
        {"username": user.username, "password": user.raw_password, "next": next_url},
    )


def _next_of(login_redirect) -> str:
    assert login_redirect.status_code == 302
    location = login_redirect["Location"]
    assert urlsplit(location).path == "/oauth/login", location
    return query_of(location)["next"]


def test_id_token_comes_with_openid_only(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    body = user_tokens(tenant, client, user, scope="openid api", nonce="n-123")
    token = _decode(tenant, body["id_token"])
    assert token.claims["iss"] == tenant.issuer
    assert token.claims["aud"] == client.client_id
    assert token.claims["sub"] == str(user.pk)
    assert token.claims["nonce"] == "n-123"
    assert set(token.claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "acr",  # a session without recorded methods: single-factor, no amr (oauth.oidc.acr)
        "sid",  # the browser session (OIDC Back-Channel Logout 1.0 §2.1)
    }
    assert token.claims["acr"] == "urn:gatehouse:acr:pwd"

    assert "id_token" not in user_tokens(tenant, client, user, scope="api")
    without_nonce = user_tokens(tenant, client, user, scope="openid")
    assert "nonce" not in _decode(tenant, without_nonce["id_token"]).claims


def test_a_client_registered_for_es256_gets_es256_id_tokens(tenant):
    client = make_web_client(tenant, scopes=SCOPES, id_token_signed_response_alg="ES256")
    body = user_tokens(tenant, client, scope="openid")
    assert _decode(tenant, body["id_token"], algs=("ES256",)).header["alg"] == "ES256"


def test_refresh_keeps_working_for_openid_grants(tenant):
    from tests.support.factories import refresh

    client = make_web_client(tenant, scopes=SCOPES)
    body = user_tokens(tenant, client, scope="openid")
    response = refresh(tenant, client, body["refresh_token"])
    assert response.status_code == 200, response.content
    remember_tokens(response.json())


def test_prompt_none_without_a_session_is_login_required(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    params = authorize_params(client, pkce_pair()[1], scope="openid", prompt="none")
    response = _authorize(tenant.client(), params)
    assert response.status_code == 302
    query = query_of(response["Location"])
    assert query["error"] == "login_required" and query["state"] == params["state"]
    assert query["iss"] == tenant.issuer


def test_prompt_none_without_consent_is_consent_required_and_with_it_a_code(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    web = signed_in(tenant, make_user(tenant))
    params = authorize_params(client, pkce_pair()[1], scope="openid", prompt="none")
    response = _authorize(web, params)
    assert query_of(response["Location"])["error"] == "consent_required"

    get_code(tenant, web, client, pkce_pair()[1], scope="openid")  # consents
    silent = _authorize(web, {**params, "state": "again"})
    assert silent.status_code == 302 and "code" in query_of(silent["Location"])


def test_prompt_none_with_another_value_is_invalid_request(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    web = signed_in(tenant, make_user(tenant))
    for prompt in ("none login", "consent none"):
        params = authorize_params(client, pkce_pair()[1], scope="openid", prompt=prompt)
        assert query_of(_authorize(web, params)["Location"])["error"] == "invalid_request"


def test_prompt_login_shows_the_form_once_then_issues_the_code(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = signed_in(tenant, user)
    get_code(tenant, web, client, pkce_pair()[1], scope="openid")  # consent remembered
    params = authorize_params(client, pkce_pair()[1], scope="openid", prompt="login")
    next_url = _next_of(_authorize(web, params))
    assert "prompt" not in query_of(next_url)
    assert web.get(f"/oauth/login?next={next_url}", secure=True).status_code == 200
    back = _log_in(web, user, next_url)
    assert back.status_code == 302 and back["Location"] == next_url
    issued = web.get(next_url, secure=True)  # no second trip to the login page
    assert issued.status_code == 302 and "code" in query_of(issued["Location"])


def test_max_age_zero_forces_a_fresh_login_and_auth_time_shows_it(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = signed_in(tenant, user)
    verifier, challenge = pkce_pair()
    get_code(tenant, web, client, challenge, scope="openid")  # consent remembered
    params = authorize_params(client, challenge, scope="openid", max_age="0", nonce="fresh")
    next_url = _next_of(_authorize(web, params))
    before = int(time.time())
    assert _log_in(web, user, next_url).status_code == 302
    issued = web.get(next_url, secure=True)
    code = query_of(issued["Location"])["code"]
    body = remember_tokens(exchange_code(tenant, client, code, verifier).json())
    claims = _decode(tenant, body["id_token"]).claims
    assert claims["auth_time"] >= before and claims["nonce"] == "fresh"


def test_max_age_respects_a_recent_login_and_refuses_a_stale_one(tenant):
    from oauth.views.authorize import AUTH_TIME_SESSION_KEY

    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    params = authorize_params(client, pkce_pair()[1], scope="openid", max_age="600")
    next_url = _next_of(_authorize(web, params))
    _log_in(web, user, next_url)
    consent = web.get(next_url, secure=True)
    assert consent.status_code == 200  # logged in within max_age: straight on to consent
    with tenant.context():
        session = web.session
        session[AUTH_TIME_SESSION_KEY] = int(time.time()) - 601
        session.save()
    stale = _authorize(web, params)
    assert urlsplit(stale["Location"]).path == "/oauth/login"
    silent = _authorize(web, {**params, "prompt": "none"})
    assert query_of(silent["Location"])["error"] == "login_required"


@pytest.mark.parametrize(
    "extra",
    [{"max_age": "-1"}, {"max_age": "soon"}, {"nonce": "n" * 501}],
    ids=["negative-max-age", "text-max-age", "long-nonce"],
)
def test_malformed_oidc_parameters_are_invalid_request(tenant, extra):
    client = make_web_client(tenant, scopes=SCOPES)
    web = signed_in(tenant, make_user(tenant))
    params = authorize_params(client, pkce_pair()[1], scope="openid", **extra)
    response = _authorize(web, params)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


def test_prompt_none_with_max_age(tenant_a):
    """Control: prompt=none / max_age behave (expected to PASS)."""
    from tests.support.factories import authorize_params, pkce_pair, query_of, signed_in

    client = make_web_client(tenant_a, scopes=["openid"])
    web = signed_in(tenant_a, make_user(tenant_a))
    params = authorize_params(client, pkce_pair()[1], scope="openid", prompt="none")
    r = web.get("/oauth/authorize", params, secure=True)
    assert r.status_code == 302 and query_of(r["Location"])["error"] == "consent_required"
    r = web.get("/oauth/authorize", {**params, "max_age": "0"}, secure=True)
    assert r.status_code == 302 and query_of(r["Location"])["error"] == "login_required"
    _ = time
