"""/oauth/userinfo (OIDC Core §5.3) and its RFC 6750 errors."""

import re

import pytest

from tests.support.factories import (
    FORM,
    client_credentials_token,
    make_client,
    make_user,
    make_web_client,
    revoke,
    user_tokens,
)

pytestmark = pytest.mark.django_db

SCOPES = ["openid", "profile", "email", "api"]


def _user(tenant):
    from kernel.accounts.models import User

    user = make_user(tenant)
    with tenant.context():
        User.objects.filter(pk=user.pk).update(
            first_name="Grace", last_name="Hopper", email_verified=True
        )
    return user


def _get(tenant, token, **extra):
    return tenant.client().get(
        "/oauth/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {token}", **extra
    )


def _challenge(response) -> dict:
    header = response["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_scope_decides_the_claims(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = _user(tenant)
    only_openid = user_tokens(tenant, client, user, scope="openid")
    response = _get(tenant, only_openid["access_token"])
    assert response.status_code == 200
    assert response.json() == {"sub": str(user.pk)}  # not even preferred_username
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"

    everything = user_tokens(tenant, client, user, scope="openid profile email")
    assert _get(tenant, everything["access_token"]).json() == {
        "sub": str(user.pk),
        "name": "Grace Hopper",
        "given_name": "Grace",
        "family_name": "Hopper",
        "preferred_username": user.username,
        "email": user.email,
        "email_verified": True,
    }
    email_only = user_tokens(tenant, client, user, scope="openid email")
    assert set(_get(tenant, email_only["access_token"]).json()) == {
        "sub",
        "email",
        "email_verified",
    }


def test_post_with_header_or_form_body(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    token = user_tokens(tenant, client, user, scope="openid")["access_token"]
    web = tenant.client()
    by_header = web.post("/oauth/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert by_header.status_code == 200 and by_header.json() == {"sub": user.sub}
    by_form = web.post("/oauth/userinfo", f"access_token={token}", content_type=FORM, secure=True)
    assert by_form.status_code == 200 and by_form.json() == {"sub": user.sub}


def test_no_token_is_a_bare_401_challenge(tenant):
    response = tenant.client().get("/oauth/userinfo", secure=True)
    assert response.status_code == 401
    assert _challenge(response) == {"realm": tenant.issuer}


def test_unknown_revoked_and_client_only_tokens_are_invalid_token(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    tokens = user_tokens(tenant, client, scope="openid")
    service = make_client(tenant, scopes=["openid", "api"])
    service_token = client_credentials_token(tenant, service, scope="openid")["access_token"]
    assert revoke(tenant, client, tokens["access_token"]).status_code == 200

    for token in ("not-a-token-of-this-tenant", tokens["access_token"], service_token):
        response = _get(tenant, token)
        assert response.status_code == 401, token
        challenge = _challenge(response)
        assert challenge["error"] == "invalid_token" and challenge["realm"] == tenant.issuer
        assert response.json()["error"] == "invalid_token"
    # The refresh token is not an access token.
    assert _get(tenant, tokens["refresh_token"]).status_code == 401


def test_a_token_without_openid_is_insufficient_scope(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    token = user_tokens(tenant, client, scope="api")["access_token"]
    response = _get(tenant, token)
    assert response.status_code == 403
    challenge = _challenge(response)
    assert challenge["error"] == "insufficient_scope" and challenge["scope"] == "openid"


def test_malformed_requests_are_invalid_request(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    token = user_tokens(tenant, client, scope="openid")["access_token"]
    web = tenant.client()
    cases = [
        # A token in the URL (Django logs the URL of a 4xx request, so not a real one here)
        web.get("/oauth/userinfo", {"access_token": "in-the-url-0123456789"}, secure=True),
        web.get("/oauth/userinfo", secure=True, HTTP_AUTHORIZATION=f"Basic {token}"),
        web.post(  # two methods at once
            "/oauth/userinfo",
            f"access_token={token}",
            content_type=FORM,
            secure=True,
            HTTP_AUTHORIZATION=f"Bearer {token}",
        ),
    ]
    for response in cases:
        assert response.status_code == 400
        assert _challenge(response)["error"] == "invalid_request"
    assert web.put("/oauth/userinfo", secure=True).status_code == 405


def test_a_token_of_tenant_a_is_unknown_at_tenant_b(tenant_a, tenant_b):
    client = make_web_client(tenant_a, scopes=SCOPES)
    token = user_tokens(tenant_a, client, scope="openid")["access_token"]
    assert _get(tenant_a, token).status_code == 200
    response = _get(tenant_b, token)
    assert response.status_code == 401 and _challenge(response)["error"] == "invalid_token"


def test_cors_answers_the_token_clients_origin_only(tenant_a):
    client = make_web_client(tenant_a, scopes=SCOPES, cors_origins=["https://spa.example.com"])
    token = user_tokens(tenant_a, client, scope="openid")["access_token"]
    allowed = _get(tenant_a, token, HTTP_ORIGIN="https://spa.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://spa.example.com"
    other = _get(tenant_a, token, HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other
    preflight = tenant_a.client().options(
        "/oauth/userinfo",
        secure=True,
        HTTP_ORIGIN="https://spa.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Headers"] == "Authorization, Content-Type, DPoP"
