"""Token revocation (RFC 7009)."""

import pytest

from tests.support.factories import (
    active,
    assert_error,
    assert_no_store,
    client_credentials_token,
    make_client,
    make_public_client,
    make_web_client,
    refresh,
    remember_tokens,
    revoke,
    user_tokens,
)

pytestmark = pytest.mark.django_db


def test_revoking_an_access_token(tenant):
    client = make_client(tenant)
    token = client_credentials_token(tenant, client)["access_token"]
    assert active(tenant, token)
    response = revoke(tenant, client, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert_no_store(response)
    assert not active(tenant, token)


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "id_token", "bogus"])
def test_any_hint_finds_the_token(tenant, hint):
    """RFC 7009 §2.1: a wrong or unknown hint is not an error; both kinds are searched."""
    client = make_web_client(tenant)
    tokens = user_tokens(tenant, client)
    params = {"token_type_hint": hint} if hint else {}
    assert revoke(tenant, client, tokens["access_token"], **params).status_code == 200
    assert not active(tenant, tokens["access_token"])


def test_revoking_a_refresh_token_revokes_its_whole_family(tenant):
    client = make_web_client(tenant)
    first = user_tokens(tenant, client)
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    assert active(tenant, second["access_token"])
    response = revoke(tenant, client, second["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    for token in (second["access_token"], second["refresh_token"]):
        assert not active(tenant, token)
    assert_error(refresh(tenant, client, second["refresh_token"]), 400, "invalid_grant")


def test_revoking_an_access_token_ends_its_refresh_token(tenant):
    client = make_web_client(tenant)
    tokens = user_tokens(tenant, client)
    assert revoke(tenant, client, tokens["access_token"]).status_code == 200
    assert_error(refresh(tenant, client, tokens["refresh_token"]), 400, "invalid_grant")


def test_unknown_expired_and_already_revoked_tokens_are_200(tenant):
    from django.utils import timezone

    from kernel import credentials as digests
    from oauth.models import Token

    client = make_client(tenant)
    assert revoke(tenant, client, "no-such-token-" + "x" * 30).status_code == 200
    token = client_credentials_token(tenant, client)["access_token"]
    assert revoke(tenant, client, token).status_code == 200
    assert revoke(tenant, client, token).status_code == 200
    expired = client_credentials_token(tenant, client)["access_token"]
    with tenant.context():
        Token.objects.filter(access_digest=digests.digest(expired)).update(
            access_expires_at=timezone.now()
        )
    assert revoke(tenant, client, expired).status_code == 200


def test_another_clients_token_is_refused_and_not_revoked(tenant):
    owner, other = make_client(tenant), make_client(tenant)
    token = client_credentials_token(tenant, owner)["access_token"]
    assert_error(revoke(tenant, other, token), 400, "invalid_grant")
    assert active(tenant, token)


def test_public_client_revokes_its_own_tokens_with_its_client_id(tenant):
    public = make_public_client(tenant)
    tokens = user_tokens(tenant, public)
    assert revoke(tenant, public, tokens["refresh_token"]).status_code == 200
    assert not active(tenant, tokens["access_token"])
    other = make_web_client(tenant)
    others = user_tokens(tenant, other)
    assert_error(revoke(tenant, public, others["access_token"]), 400, "invalid_grant")
    assert active(tenant, others["access_token"])


def test_missing_token_is_invalid_request(tenant):
    client = make_client(tenant)
    assert_error(revoke(tenant, client, ""), 400, "invalid_request")
