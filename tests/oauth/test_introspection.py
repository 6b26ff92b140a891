"""Token introspection (RFC 7662)."""

import time

import pytest

from tests.support.factories import (
    assert_error,
    assert_no_store,
    client_credentials_token,
    introspect,
    make_client,
    make_web_client,
    refresh,
    remember_tokens,
    user_tokens,
)

pytestmark = pytest.mark.django_db


def test_own_client_gets_the_active_answer(tenant):
    client = make_client(tenant)
    body = client_credentials_token(tenant, client)
    response = introspect(tenant, client, body["access_token"])
    assert response.status_code == 200
    assert_no_store(response)
    info = response.json()
    now = time.time()
    assert info == {
        "active": True,
        "client_id": client.client_id,
        "scope": "api read",
        "exp": info["exp"],
        "iat": info["iat"],
        "token_type": "Bearer",
        "iss": tenant.issuer,
    }
    assert now - 60 < info["iat"] <= now and info["exp"] == info["iat"] + 3600


def test_resource_server_with_can_introspect_gets_user_token_details(tenant):
    client = make_web_client(tenant)
    from tests.support.factories import make_user

    user = make_user(tenant)
    tokens = user_tokens(tenant, client, user)
    rs = make_client(tenant, can_introspect=True)
    info = introspect(tenant, rs, tokens["access_token"]).json()
    assert info["active"] is True
    assert info["sub"] == str(user.pk)
    assert info["client_id"] == client.client_id
    assert info["token_type"] == "Bearer"
    refresh_info = introspect(tenant, rs, tokens["refresh_token"]).json()
    assert refresh_info["active"] is True
    assert refresh_info["token_type"] == "refresh_token"
    assert refresh_info["sub"] == str(user.pk)
    assert refresh_info["exp"] > info["exp"]


def test_other_clients_learn_only_inactive(tenant):
    owner, nosy = make_client(tenant), make_client(tenant)
    token = client_credentials_token(tenant, owner)["access_token"]
    response = introspect(tenant, nosy, token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_revoked_expired_retired_and_unknown_tokens_are_inactive(tenant):
    from django.utils import timezone

    from kernel import credentials as digests
    from oauth.models import Token

    rs = make_client(tenant, can_introspect=True)
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    for retired in (first["access_token"], first["refresh_token"]):
        assert introspect(tenant, rs, retired).json() == {"active": False}
    assert introspect(tenant, rs, second["access_token"]).json()["active"] is True

    cc = make_client(tenant)
    expired = client_credentials_token(tenant, cc)["access_token"]
    with tenant.context():
        Token.objects.filter(access_digest=digests.digest(expired)).update(
            access_expires_at=timezone.now()
        )
    assert introspect(tenant, rs, expired).json() == {"active": False}
    revoked = client_credentials_token(tenant, cc)["access_token"]
    with tenant.context():
        Token.objects.filter(access_digest=digests.digest(revoked)).update(
            revoked_at=timezone.now()
        )
    assert introspect(tenant, rs, revoked).json() == {"active": False}
    assert introspect(tenant, rs, "unknown-" + "y" * 40).json() == {"active": False}


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "bogus"])
def test_hint_never_hides_a_token(tenant, hint):
    client = make_client(tenant)
    token = client_credentials_token(tenant, client)["access_token"]
    assert introspect(tenant, client, token, token_type_hint=hint).json()["active"] is True


def test_missing_token_is_invalid_request(tenant):
    client = make_client(tenant)
    assert_error(introspect(tenant, client, ""), 400, "invalid_request")


def test_disabled_clients_tokens_are_inactive(tenant):
    from oauth.models import Client

    client = make_client(tenant, name="compromised")
    resource_server = make_client(tenant, name="rs", can_introspect=True)
    body = client_credentials_token(tenant, client)
    assert introspect(tenant, resource_server, body["access_token"]).json()["active"] is True
    with tenant.context():
        Client.objects.filter(client_id=client.client_id).update(disabled=True)
    assert introspect(tenant, resource_server, body["access_token"]).json() == {"active": False}


def test_deactivated_users_tokens_are_inactive(tenant):
    from kernel.accounts.models import User

    client = make_web_client(tenant, can_introspect=True)
    tokens = user_tokens(tenant, client)
    assert introspect(tenant, client, tokens["access_token"]).json()["active"] is True
    with tenant.context():
        User.objects.filter(
            id=introspect(tenant, client, tokens["access_token"]).json()["sub"]
        ).update(is_active=False)
    assert introspect(tenant, client, tokens["access_token"]).json() == {"active": False}
    assert introspect(tenant, client, tokens["refresh_token"]).json() == {"active": False}
