"""Authorization code redemption (RFC 6749 §4.1.2, §4.1.3): single use, short-lived,
a replay revokes the family the code started."""

import pytest

from tests.support.factories import (
    active,
    assert_error,
    assert_no_store,
    exchange_code,
    get_code,
    make_client,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    refresh,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(tenant):
    return signed_in(tenant, make_user(tenant))


def test_code_exchange_returns_access_and_refresh_token(tenant, web):
    client = make_web_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge)
    response = exchange_code(tenant, client, code, verifier)
    assert response.status_code == 200
    assert_no_store(response)
    body = remember_tokens(response.json())
    assert body["token_type"] == "Bearer" and body["scope"] == "api read"
    assert body["expires_in"] == 3600
    assert body["refresh_token"]  # registered for refresh_token: no offline_access needed


def test_client_without_refresh_grant_gets_no_refresh_token(tenant, web):
    client = make_web_client(tenant, grant_types=["authorization_code"])
    code = get_code(tenant, web, client)
    body = remember_tokens(exchange_code(tenant, client, code).json())
    assert "refresh_token" not in body


def test_replayed_code_revokes_the_family_and_its_rotated_descendants(tenant, web):
    client = make_web_client(tenant)
    code = get_code(tenant, web, client)
    first = remember_tokens(exchange_code(tenant, client, code).json())
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    assert active(tenant, second["access_token"])
    assert_error(exchange_code(tenant, client, code), 400, "invalid_grant")
    for token in (second["access_token"], second["refresh_token"]):
        assert not active(tenant, token)
    assert_error(refresh(tenant, client, second["refresh_token"]), 400, "invalid_grant")


def test_expired_code_is_invalid_grant(tenant, web):
    from datetime import timedelta

    from django.utils import timezone

    from kernel import credentials as digests
    from oauth.models import AuthorizationCode

    client = make_web_client(tenant)
    code = get_code(tenant, web, client)
    with tenant.context():
        row = AuthorizationCode.objects.get(code_digest=digests.digest(code))
        assert (row.expires_at - row.created_at) == timedelta(seconds=60)
        AuthorizationCode.objects.filter(pk=row.pk).update(expires_at=timezone.now())
    assert_error(exchange_code(tenant, client, code), 400, "invalid_grant")


def test_code_lifetime_is_tenant_policy(tenant, web):
    from kernel import credentials as digests
    from oauth.models import AuthorizationCode
    from oauth.services.issuer import issuer_settings_update

    with tenant.context():
        issuer_settings_update(authorization_code_lifetime=30)
    client = make_web_client(tenant)
    code = get_code(tenant, web, client)
    with tenant.context():
        row = AuthorizationCode.objects.get(code_digest=digests.digest(code))
    assert (row.expires_at - row.created_at).total_seconds() == 30
    remember_tokens(exchange_code(tenant, client, code).json())


def test_code_of_another_client_is_invalid_grant_and_not_consumed(tenant, web):
    owner, thief = make_web_client(tenant), make_web_client(tenant)
    code = get_code(tenant, web, owner)
    assert_error(exchange_code(tenant, thief, code), 400, "invalid_grant")
    assert exchange_code(tenant, owner, code).status_code == 200


@pytest.mark.parametrize(
    "data,status,error",
    [
        ({"code": None}, 400, "invalid_request"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"redirect_uri": None}, 400, "invalid_grant"),
        ({"redirect_uri": "https://app.example.com/other"}, 400, "invalid_grant"),
    ],
)
def test_token_request_errors(tenant, web, data, status, error):
    client = make_web_client(tenant)
    code = get_code(tenant, web, client)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
        **data,
    }
    body = {k: v for k, v in body.items() if v is not None}
    response = post_form(tenant.client(), "/oauth/token", body, **client.basic())
    assert_error(response, status, error)


def test_client_credentials_client_cannot_redeem_codes(tenant, web):
    client = make_web_client(tenant)
    cc = make_client(tenant)
    code = get_code(tenant, web, client)
    response = post_form(
        tenant.client(),
        "/oauth/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
        **cc.basic(),
    )
    assert_error(response, 400, "unauthorized_client")


def test_inactive_user_code_is_invalid_grant(tenant):
    from django.contrib.auth import get_user_model

    client = make_web_client(tenant)
    user = make_user(tenant)
    code = get_code(tenant, signed_in(tenant, user), client)
    with tenant.context():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert_error(exchange_code(tenant, client, code), 400, "invalid_grant")


def test_code_issuance_signal(tenant, web):
    from oauth.signals import token_issued

    seen = []
    token_issued.connect(receiver := lambda sender, **kw: seen.append(kw["grant_type"]))
    try:
        client = make_web_client(tenant)
        tokens = remember_tokens(
            exchange_code(tenant, client, get_code(tenant, web, client)).json()
        )
        remember_tokens(refresh(tenant, client, tokens["refresh_token"]).json())
    finally:
        token_issued.disconnect(receiver)
    assert seen == ["authorization_code", "refresh_token"]
