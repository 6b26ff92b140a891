"""Client authentication rules at the token, revocation and introspection endpoints
(RFC 6749 §2.3, §3.2, §5.2; DESIGN.md §4)."""

import pytest

from tests.support.factories import (
    assert_error,
    basic_auth,
    client_credentials_token,
    make_client,
    make_public_client,
    post_form,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}
ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]


def _body(path, **extra):
    return {**(CC if path == "/oauth/token" else {"token": "x" * 43}), **extra}


def assert_challenge(response, tenant):
    assert response["WWW-Authenticate"] == f'Basic realm="{tenant.issuer}", charset="UTF-8"'


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_secret_is_401_invalid_client_with_basic_challenge(tenant, path):
    client = make_client(tenant)
    response = post_form(
        tenant.client(), path, _body(path), **basic_auth(client.client_id, "wrong-secret")
    )
    assert_error(response, 401, "invalid_client")
    assert_challenge(response, tenant)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_post_secret_is_401_too(tenant, path):
    client = make_client(tenant, auth_method="client_secret_post")
    response = post_form(
        tenant.client(),
        path,
        _body(path, client_id=client.client_id, client_secret="wrong-secret"),
    )
    assert_error(response, 401, "invalid_client")
    assert_challenge(response, tenant)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_client_and_no_credentials_are_401(tenant, path):
    response = post_form(tenant.client(), path, _body(path), **basic_auth("nobody", "secret"))
    assert_error(response, 401, "invalid_client")
    response = post_form(tenant.client(), path, _body(path))
    assert_error(response, 401, "invalid_client")
    assert_challenge(response, tenant)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_basic_plus_body_secret_is_invalid_request(tenant, path):
    client = make_client(tenant)
    response = post_form(
        tenant.client(), path, _body(path, client_secret=client.secret), **client.basic()
    )
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_client_id_equal_to_basic_is_accepted(tenant, path):
    client = make_client(tenant, can_introspect=True)
    response = post_form(
        tenant.client(), path, _body(path, client_id=client.client_id), **client.basic()
    )
    assert response.status_code == 200, response.content
    remember_secret(response.json().get("access_token"))


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_client_id_different_from_basic_is_invalid_request(tenant, path):
    client, other = make_client(tenant), make_client(tenant)
    response = post_form(
        tenant.client(), path, _body(path, client_id=other.client_id), **client.basic()
    )
    assert_error(response, 400, "invalid_request")


def test_token_endpoint_takes_only_the_registered_method(tenant):
    basic_client = make_client(tenant)
    response = post_form(
        tenant.client(),
        "/oauth/token",
        {**CC, "client_id": basic_client.client_id, "client_secret": basic_client.secret},
    )
    body = assert_error(response, 401, "invalid_client")
    assert "client_secret_basic" in body["error_description"]
    post_client = make_client(tenant, auth_method="client_secret_post")
    response = post_form(tenant.client(), "/oauth/token", CC, **post_client.basic())
    assert_error(response, 401, "invalid_client")


def test_revocation_and_introspection_take_either_secret_method(tenant):
    client = make_client(tenant)  # registered for client_secret_basic
    token = client_credentials_token(tenant, client)["access_token"]
    creds = {"client_id": client.client_id, "client_secret": client.secret}
    response = post_form(tenant.client(), "/oauth/introspect", {"token": token, **creds})
    assert response.json()["active"] is True
    response = post_form(tenant.client(), "/oauth/revoke", {"token": token, **creds})
    assert response.status_code == 200


def test_public_client_cannot_use_client_credentials_or_introspect(tenant):
    public = make_public_client(tenant)
    response = post_form(tenant.client(), "/oauth/token", {**CC, "client_id": public.client_id})
    assert_error(response, 401, "invalid_client")
    response = post_form(
        tenant.client(), "/oauth/introspect", {"token": "x" * 43, "client_id": public.client_id}
    )
    assert_error(response, 401, "invalid_client")


def test_confidential_client_must_send_its_secret(tenant):
    client = make_client(tenant)
    for path in ENDPOINTS:
        response = post_form(tenant.client(), path, _body(path, client_id=client.client_id))
        assert_error(response, 401, "invalid_client")


def test_secret_rotation_keeps_the_previous_secret_for_the_grace_period(tenant):
    from django.utils import timezone

    from oauth.models import Client
    from oauth.services.clients import client_rotate_secret

    client = make_client(tenant)
    with tenant.context():
        new_secret = remember_secret(
            client_rotate_secret(client=Client.objects.get(pk=client.pk), grace_seconds=60)
        )
    old = client.secret
    client_credentials_token(tenant, client)  # the old secret still works
    client.secret = new_secret
    client_credentials_token(tenant, client)
    with tenant.context():
        Client.objects.filter(pk=client.pk).update(previous_secret_expires_at=timezone.now())
    client.secret = old
    response = post_form(tenant.client(), "/oauth/token", CC, **client.basic())
    assert_error(response, 401, "invalid_client")


def test_secrets_are_compared_in_constant_time(monkeypatch):
    import hmac

    from kernel import credentials as digests

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(digests.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert digests.matches("s3cret-value", digests.digest("s3cret-value"))
    assert not digests.matches("other", digests.digest("s3cret-value"))
    assert len(calls) == 2
