"""The issuer comes from the Domain row that routed the request and the configured public
scheme and port, never from the raw Host header (RFC 8414 §2, RFC 9207 §2, OIDC Discovery
§4.3): a Host with a trailing dot or another port must not reach discovery, ``iss`` or ``aud``
of a tenant whose metadata shared caches keep for minutes."""

import pytest

from tests.support.factories import make_client, token_request
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

DISCOVERY = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


def claims_of(tenant, body: dict) -> dict:
    from oauth.signing.jws import verify_jwt

    with tenant.context():
        return verify_jwt(body["access_token"], typ="at+jwt")


def token_via(tenant, client, host: str) -> dict:
    response = token_request(tenant, {"grant_type": "client_credentials"}, client, HTTP_HOST=host)
    assert response.status_code == 200, response.content
    body = response.json()
    remember_secret(body["access_token"])
    return body


def odd_hosts(tenant) -> list[str]:
    return [f"{tenant.host}.", f"{tenant.host}:8443", f"{tenant.host.upper()}:443"]


@pytest.mark.parametrize("path", DISCOVERY)
def test_discovery_names_the_stored_domain_whatever_the_host_header(tenant_a, path):
    for host in odd_hosts(tenant_a):
        response = tenant_a.client().get(path, HTTP_HOST=host)
        assert response.status_code == 200, host
        doc = response.json()
        assert doc["issuer"] == tenant_a.issuer, host
        assert doc["token_endpoint"] == f"{tenant_a.issuer}/oauth/token", host


def test_token_iss_and_aud_ignore_the_host_header(tenant_a):
    client = make_client(tenant_a, access_token_format="jwt")
    for host in odd_hosts(tenant_a):
        claims = claims_of(tenant_a, token_via(tenant_a, client, host))
        assert claims["iss"] == tenant_a.issuer, host
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        assert all(not value.startswith(f"https://{host}") for value in audience), host
        assert all(host not in value for value in audience if value != tenant_a.issuer), host


def test_issuer_uses_the_configured_scheme_and_port(tenant_a, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PUBLIC_SCHEME": "https", "PUBLIC_PORT": 8443}
    doc = tenant_a.client().get(DISCOVERY[0], HTTP_HOST=f"{tenant_a.host}:9999").json()
    assert doc["issuer"] == f"https://{tenant_a.host}:8443"


def test_issuer_ignores_a_plain_http_request_scheme(tenant_a):
    """Behind the ingress the public scheme is configured (https); a request that reached the
    pod over plain http does not turn the issuer into an http URL."""
    doc = tenant_a.client().get(DISCOVERY[0], secure=False).json()
    assert doc["issuer"] == tenant_a.issuer


@pytest.mark.parametrize(
    "host", ["nobody.gatehouse.test", "alpha.gatehouse.test..", "alpha.gatehouse.test.evil"]
)
def test_an_unknown_alias_gets_no_issuer(tenant_a, host):
    response = tenant_a.client().get(DISCOVERY[0], HTTP_HOST=host)
    assert response.status_code == 404
    assert host.rstrip(".") not in response.content.decode()


def test_a_custom_domain_keeps_its_own_issuer(tenant_a, settings):
    from tenants.hosts import host_cache
    from tenants.models import Domain, Tenant

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "login.acme.example"]
    tenant = Tenant.objects.get(schema_name=tenant_a.schema)
    Domain.objects.create(domain="login.acme.example", tenant=tenant, is_primary=False)
    try:
        for host in ("login.acme.example", "login.acme.example.", "LOGIN.acme.example:443"):
            doc = tenant_a.client().get(DISCOVERY[1], HTTP_HOST=host).json()
            assert doc["issuer"] == "https://login.acme.example", host
        client = make_client(tenant_a, access_token_format="jwt")
        body = token_via(tenant_a, client, "login.acme.example.")
        assert claims_of(tenant_a, body)["iss"] == "https://login.acme.example"
        # The tenant's own subdomain still has its own issuer.
        assert tenant_a.client().get(DISCOVERY[1]).json()["issuer"] == tenant_a.issuer
    finally:
        host_cache.clear()
