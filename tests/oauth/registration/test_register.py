"""RFC 7591 dynamic registration at /oauth/register under the tenant's policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.oauth.registration.helpers import (
    LOOPBACK_REDIRECT,
    mint_token,
    native_client_body,
    register,
    set_policy,
)
from tests.support.factories import assert_error

pytestmark = pytest.mark.django_db


def _metadata(tenant) -> dict:
    return tenant.client().get("/.well-known/oauth-authorization-server").json()


def test_registration_is_off_by_default_and_not_advertised(tenant):
    response = register(tenant, native_client_body())
    body = assert_error(response, 403, "access_denied")
    assert "console" in body["error_description"]
    assert "registration_endpoint" not in _metadata(tenant)
    assert "client_id_metadata_document_supported" not in _metadata(tenant)


def test_open_registration_makes_a_public_native_client(tenant_a):
    from kernel.audit.models import AuditEvent
    from oauth.models import Client

    set_policy(tenant_a, mode="open")
    assert _metadata(tenant_a)["registration_endpoint"] == f"{tenant_a.issuer}/oauth/register"
    oidc = tenant_a.client().get("/.well-known/openid-configuration").json()
    assert oidc["registration_endpoint"] == f"{tenant_a.issuer}/oauth/register"

    response = register(tenant_a, native_client_body())
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == "none"
    assert body["application_type"] == "native"
    assert body["redirect_uris"] == [LOOPBACK_REDIRECT]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["scope"] == "api read"
    assert isinstance(body["client_id_issued_at"], int)
    assert body["registration_client_uri"] == (
        f"{tenant_a.issuer}/oauth/register/{body['client_id']}"
    )
    with tenant_a.context():
        client = Client.objects.get(client_id=body["client_id"])
        assert client.registration == Client.Registration.DYNAMIC
        assert client.registration_token_digest
        assert body["registration_access_token"] not in client.registration_token_digest
        actions = set(
            AuditEvent.objects.filter(object_id=client.client_id).values_list("action", flat=True)
        )
    assert {"client.created", "client.self_registered"} <= actions


def test_a_confidential_client_gets_a_secret_stored_as_a_digest(tenant_a):
    from kernel import credentials
    from oauth.models import Client

    set_policy(tenant_a, mode="open")
    body = register(
        tenant_a,
        {"client_name": "Web", "redirect_uris": ["https://app.example.com/cb"], "scope": "api"},
    ).json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591 §2 default
    assert body["grant_types"] == ["authorization_code"] and body["response_types"] == ["code"]
    assert body["client_secret_expires_at"] == 0
    assert body["application_type"] == "web"
    with tenant_a.context():
        client = Client.objects.get(client_id=body["client_id"])
    assert client.secret_digest == credentials.digest(body["client_secret"])


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"application_type": "web"}, "invalid_redirect_uri"),
        ({"application_type": "desktop"}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"grant_types": ["refresh_token"], "response_types": []}, "invalid_client_metadata"),
        ({"response_types": []}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        (
            {"jwks": {"keys": []}, "jwks_uri": "https://app.example.com/jwks"},
            "invalid_client_metadata",
        ),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_client_metadata"),
        ({"scope": 'api "quoted"'}, "invalid_client_metadata"),
        ({"software_statement": "eyJ..."}, "invalid_software_statement"),
    ],
)
def test_metadata_is_validated_like_the_console(tenant_a, change, error):
    set_policy(tenant_a, mode="open")
    response = register(tenant_a, native_client_body(**change))
    body = assert_error(response, 400, error)
    assert body["error_description"]


def test_a_native_app_may_use_a_private_use_scheme(tenant_a):
    set_policy(tenant_a, mode="open", allowed_redirect_schemes=["https", "http", "private-use"])
    response = register(tenant_a, native_client_body(redirect_uris=["com.example.app:/cb"]))
    assert response.status_code == 201, response.content
    assert response.json()["application_type"] == "native"


def test_scopes_must_be_within_the_tenants_allowed_scopes(tenant_a):
    from oauth.models import IssuerSettings

    set_policy(tenant_a, mode="open")
    with tenant_a.context():
        IssuerSettings.objects.update(scopes_supported=["openid", "api"])
    body = assert_error(
        register(tenant_a, native_client_body(scope="api read")), 400, "invalid_client_metadata"
    )
    assert "read" in body["error_description"]
    omitted = register(tenant_a, native_client_body(scope=None))
    assert omitted.status_code == 201
    assert omitted.json()["scope"] == "openid api"  # omitted: the tenant's allowed scopes


def test_policy_limits_grant_types_schemes_and_hosts(tenant_a):
    set_policy(tenant_a, mode="open", allowed_grant_types=["authorization_code"])
    body = assert_error(register(tenant_a, native_client_body()), 400, "invalid_client_metadata")
    assert "refresh_token" in body["error_description"]

    set_policy(tenant_a, allowed_grant_types=["authorization_code", "refresh_token"])
    set_policy(tenant_a, allowed_redirect_schemes=["https"])
    assert_error(register(tenant_a, native_client_body()), 400, "invalid_redirect_uri")

    set_policy(tenant_a, allowed_redirect_schemes=["https"], allowed_redirect_hosts=[".good.test"])
    web = {"redirect_uris": ["https://app.evil.test/cb"], "scope": "api"}
    assert_error(register(tenant_a, web), 400, "invalid_redirect_uri")
    web["redirect_uris"] = ["https://app.good.test/cb"]
    assert register(tenant_a, web).status_code == 201


def test_client_credentials_is_refused_unless_the_policy_allows_it(tenant_a):
    body = {"grant_types": ["client_credentials"], "response_types": [], "scope": "api"}
    set_policy(tenant_a, mode="open")
    assert_error(register(tenant_a, body), 400, "invalid_client_metadata")
    set_policy(tenant_a, allowed_grant_types=["client_credentials"])
    response = register(tenant_a, body)
    assert response.status_code == 201, response.content
    assert response.json()["client_secret"]


def test_malformed_requests_are_invalid_request(tenant_a):
    set_policy(tenant_a, mode="open")
    assert_error(register(tenant_a, "{not json"), 400, "invalid_request")
    assert_error(register(tenant_a, "[]"), 400, "invalid_client_metadata")
    assert_error(
        register(tenant_a, "redirect_uris=x", content_type="application/x-www-form-urlencoded"),
        400,
        "invalid_request",
    )
    assert_error(register(tenant_a, "x" * 40_000), 400, "invalid_request")
    response = tenant_a.client().get("/oauth/register")
    assert response.status_code == 405 and response["Allow"] == "POST"


# --- initial access tokens (RFC 7591 §3) ------------------------------------------------------


def test_token_mode_needs_an_initial_access_token(tenant_a):
    set_policy(tenant_a, mode="token")
    response = register(tenant_a, native_client_body())
    assert_error(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert_error(register(tenant_a, native_client_body(), token="made-up"), 401, "invalid_token")


def test_an_initial_access_token_is_single_use_by_default(tenant_a):
    from oauth.models import InitialAccessToken

    set_policy(tenant_a, mode="token")
    token = mint_token(tenant_a)
    with tenant_a.context():
        row = InitialAccessToken.objects.get()
        assert token not in row.token_digest and len(row.token_digest) == 64
    assert register(tenant_a, native_client_body(), token=token).status_code == 201
    assert_error(register(tenant_a, native_client_body(), token=token), 401, "invalid_token")


def test_an_initial_access_token_serves_n_clients(tenant_a):
    set_policy(tenant_a, mode="token")
    token = mint_token(tenant_a, uses=3)
    for _ in range(3):
        assert register(tenant_a, native_client_body(), token=token).status_code == 201
    assert_error(register(tenant_a, native_client_body(), token=token), 401, "invalid_token")


def test_an_expired_or_revoked_initial_access_token_is_refused(tenant_a):
    from django.utils import timezone

    from oauth.models import InitialAccessToken
    from oauth.registration.services import initial_access_token_revoke

    set_policy(tenant_a, mode="token")
    expired, revoked = mint_token(tenant_a, uses=5), mint_token(tenant_a, uses=5)
    with tenant_a.context():
        first, second = InitialAccessToken.objects.order_by("pk")
        InitialAccessToken.objects.filter(pk=first.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        initial_access_token_revoke(token=second)
    assert_error(register(tenant_a, native_client_body(), token=expired), 401, "invalid_token")
    assert_error(register(tenant_a, native_client_body(), token=revoked), 401, "invalid_token")


def test_an_initial_access_token_bounds_scopes_and_redirect_hosts(tenant_a):
    set_policy(tenant_a, mode="token", allowed_redirect_schemes=["https", "http"])
    token = mint_token(tenant_a, uses=5, scopes=["api"], redirect_hosts=["app.example.com"])
    web = {"redirect_uris": ["https://app.example.com/cb"]}
    assert_error(
        register(tenant_a, {**web, "scope": "api read"}, token=token),
        400,
        "invalid_client_metadata",
    )
    assert_error(
        register(tenant_a, native_client_body(scope="api"), token=token),
        400,
        "invalid_redirect_uri",  # 127.0.0.1 is not app.example.com
    )
    ok = register(tenant_a, web, token=token)
    assert ok.status_code == 201, ok.content
    assert ok.json()["scope"] == "api"  # omitted: the token's scopes


def test_tenant_as_initial_access_token_is_worthless_at_tenant_b(tenant_a, tenant_b):
    set_policy(tenant_a, mode="token")
    set_policy(tenant_b, mode="token")
    token = mint_token(tenant_a, uses=5)
    assert_error(register(tenant_b, native_client_body(), token=token), 401, "invalid_token")
    assert register(tenant_a, native_client_body(), token=token).status_code == 201


def test_the_create_initial_access_token_command(tenant_a):
    import json
    from io import StringIO

    from django.core.management import call_command

    from tests.support.secrets import remember_secret

    out = StringIO()
    call_command(
        "create_initial_access_token",
        "--tenant",
        tenant_a.slug,
        "--uses",
        "2",
        "--expires-in",
        "600",
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    token = remember_secret(result["initial_access_token"])
    assert result["tenant"] == tenant_a.slug and result["uses"] == 2 and result["expires_at"]
    set_policy(tenant_a, mode="token")
    assert register(tenant_a, native_client_body(), token=token).status_code == 201


# --- caps -----------------------------------------------------------------------------------


def test_open_registration_is_capped_per_source_ip(tenant_a):
    set_policy(tenant_a, mode="open", clients_per_ip_per_hour=2)
    assert register(tenant_a, native_client_body()).status_code == 201
    assert register(tenant_a, native_client_body()).status_code == 201
    response = register(tenant_a, native_client_body())
    body = assert_error(response, 429, "temporarily_unavailable")
    assert "address" in body["error_description"]
    assert int(response["Retry-After"]) >= 1
    other_ip = register(tenant_a, native_client_body(), REMOTE_ADDR="198.51.100.7")
    assert other_ip.status_code == 201


def test_open_registration_is_capped_per_tenant_per_hour(tenant_a, tenant_b):
    set_policy(tenant_a, mode="open", clients_per_hour=1)
    set_policy(tenant_b, mode="open")
    assert register(tenant_a, native_client_body()).status_code == 201
    body = assert_error(
        register(tenant_a, native_client_body(), REMOTE_ADDR="198.51.100.8"),
        429,
        "temporarily_unavailable",
    )
    assert "organisation" in body["error_description"]
    assert register(tenant_b, native_client_body()).status_code == 201  # B counts on its own


def test_refused_registrations_do_not_use_up_the_cap(tenant_a):
    set_policy(tenant_a, mode="open", clients_per_ip_per_hour=1)
    for _ in range(3):
        assert_error(
            register(tenant_a, native_client_body(redirect_uris=["http://x.test/cb"])),
            400,
            "invalid_redirect_uri",
        )
    assert register(tenant_a, native_client_body()).status_code == 201


def test_the_openapi_description_covers_registration(tenant_a):
    paths = tenant_a.client().get("/openapi.json").json()["paths"]
    assert set(paths["/oauth/register"]) == {"post"}
    assert {"get", "put", "delete"} <= set(paths["/oauth/register/{client_id}"])


def test_the_registration_endpoints_are_rate_limited_per_source_ip(tenant_a, settings):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "RATE_LIMITS": {**settings.GATEHOUSE.get("RATE_LIMITS", {}), "IP_REQUESTS": 2},
    }
    set_policy(tenant_a, mode="open")
    assert register(tenant_a, native_client_body()).status_code == 201
    assert_error(register(tenant_a, "{bad"), 400, "invalid_request")
    response = register(tenant_a, native_client_body())
    assert_error(response, 429, "temporarily_unavailable")
    assert int(response["Retry-After"]) >= 1
