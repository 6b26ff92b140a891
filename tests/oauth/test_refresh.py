"""Refresh rotation with reuse detection (RFC 6749 §6, RFC 9700 §4.14.2) and the published
semantics (docs/oauth.md): a rotated-out token within the concurrency window is a lost race
(invalid_grant, nothing revoked); after it, reuse (the whole family revoked)."""

import time

import pytest

from tests.support.factories import (
    active,
    assert_error,
    assert_no_store,
    introspect,
    make_client,
    make_public_client,
    make_web_client,
    refresh,
    remember_tokens,
    user_tokens,
)

pytestmark = pytest.mark.django_db


def set_window(tenant, seconds: int) -> None:
    from oauth.services.issuer import issuer_settings_update

    with tenant.context():
        issuer_settings_update(refresh_reuse_window=seconds)


def test_every_refresh_rotates(tenant):
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    response = refresh(tenant, client, first["refresh_token"])
    assert response.status_code == 200
    assert_no_store(response)
    second = remember_tokens(response.json())
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "api read"
    third = remember_tokens(refresh(tenant, client, second["refresh_token"]).json())
    assert active(tenant, third["access_token"])


def test_rotated_out_token_within_the_window_revokes_nothing(tenant):
    set_window(tenant, 60)
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    body = assert_error(refresh(tenant, client, first["refresh_token"]), 400, "invalid_grant")
    # Presented again after its rotation finished (not concurrently): the answer says what
    # is true, that the token was already used, not that a concurrent request rotated it.
    assert "already used" in body["error_description"]
    assert "concurrent" not in body["error_description"]
    assert active(tenant, second["access_token"])
    assert refresh(tenant, client, second["refresh_token"]).status_code == 200


def test_rotated_out_token_after_the_window_revokes_the_family(tenant):
    set_window(tenant, 1)
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    time.sleep(1.1)
    assert_error(refresh(tenant, client, first["refresh_token"]), 400, "invalid_grant")
    assert not active(tenant, second["access_token"])
    assert_error(refresh(tenant, client, second["refresh_token"]), 400, "invalid_grant")


def test_window_zero_is_strict(tenant):
    set_window(tenant, 0)
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    assert_error(refresh(tenant, client, first["refresh_token"]), 400, "invalid_grant")
    assert not active(tenant, second["refresh_token"])


def test_narrower_scope_narrows_only_the_new_access_token(tenant):
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    narrow = remember_tokens(refresh(tenant, client, first["refresh_token"], scope="read").json())
    assert narrow["scope"] == "read"
    rs = make_client(tenant, can_introspect=True)
    assert introspect(tenant, rs, narrow["access_token"]).json()["scope"] == "read"
    assert introspect(tenant, rs, narrow["refresh_token"]).json()["scope"] == "api read"
    wide = remember_tokens(refresh(tenant, client, narrow["refresh_token"]).json())
    assert wide["scope"] == "api read"  # the family's granted scope, not the narrowed one


def test_scope_beyond_the_grant_is_invalid_scope(tenant):
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    response = refresh(tenant, client, first["refresh_token"], scope="api read openid")
    assert_error(response, 400, "invalid_scope")
    assert refresh(tenant, client, first["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client_is_invalid_grant(tenant):
    owner, other = make_web_client(tenant), make_web_client(tenant)
    tokens = user_tokens(tenant, owner)
    assert_error(refresh(tenant, other, tokens["refresh_token"]), 400, "invalid_grant")
    assert active(tenant, tokens["refresh_token"])


def test_expired_refresh_token_is_invalid_grant(tenant):
    from django.utils import timezone

    from kernel import credentials as digests
    from oauth.models import Token

    client = make_web_client(tenant)
    tokens = user_tokens(tenant, client)
    with tenant.context():
        Token.objects.filter(refresh_digest=digests.digest(tokens["refresh_token"])).update(
            refresh_expires_at=timezone.now()
        )
    assert_error(refresh(tenant, client, tokens["refresh_token"]), 400, "invalid_grant")


def test_lifetimes_of_refresh_tokens(tenant):
    client = make_web_client(tenant, refresh_token_lifetime=600, access_token_lifetime=60)
    tokens = user_tokens(tenant, client)
    assert tokens["expires_in"] == 60
    rs = make_client(tenant, can_introspect=True)
    info = introspect(tenant, rs, tokens["refresh_token"]).json()
    assert info["exp"] - info["iat"] == 600


def test_public_client_refreshes_with_its_client_id(tenant):
    public = make_public_client(tenant)
    tokens = user_tokens(tenant, public)
    response = refresh(tenant, public, tokens["refresh_token"])
    assert response.status_code == 200
    remember_tokens(response.json())


def test_missing_refresh_token_is_invalid_request(tenant):
    client = make_web_client(tenant)
    assert_error(refresh(tenant, client, ""), 400, "invalid_request")


def test_refresh_token_of_a_deactivated_user_is_invalid_grant(tenant):
    from django.contrib.auth import get_user_model

    from tests.support.factories import make_user

    client = make_web_client(tenant)
    user = make_user(tenant)
    tokens = user_tokens(tenant, client, user)
    with tenant.context():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert_error(refresh(tenant, client, tokens["refresh_token"]), 400, "invalid_grant")
