"""Host -> tenant routing, unknown and suspended tenants, probes on any Host."""

import json

import pytest
from django.conf import settings

from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db


def test_tenant_host_serves_the_tenant(tenant_a, tenant_b):
    a = tenant_a.client().get("/")
    b = tenant_b.client().get("/")
    assert a.status_code == 200 and b"Alpha Corp" in a.content
    assert b.status_code == 200 and b"Bravo Ltd" in b.content and b"Alpha" not in b.content


def test_public_host_serves_the_public_site(public_client):
    response = public_client.get("/")
    assert response.status_code == 200
    assert b"Gatehouse" in response.content


def test_operators_sign_in_and_admin_only_on_public_host(public_client, tenant_a):
    assert public_client.get("/operators/sign-in/").status_code == 200
    assert public_client.get("/admin/login/").status_code == 302  # to the operators' sign-in
    assert tenant_a.client().get("/operators/sign-in/").status_code == 404
    assert tenant_a.client().get("/admin/login/").status_code == 404


@pytest.mark.parametrize(
    "host", [f"nobody.{settings.GATEHOUSE_BASE_DOMAIN}", "evil.example.com", "10.0.0.7"]
)
def test_unknown_host_is_a_404_page(host):
    response = https_client(host).get("/anything")
    assert response.status_code == 404
    assert b"Not found" in response.content


def test_suspended_tenant_gets_403_page_and_json_on_api(tenant_b, commit):
    from tenants.models import Tenant
    from tenants.services import tenant_set_status

    with commit():
        tenant_set_status(tenant=Tenant.objects.get(slug=tenant_b.slug), status="suspended")
    try:
        page = tenant_b.client().get("/")
        assert page.status_code == 403
        assert b"suspended" in page.content and page["Content-Type"].startswith("text/html")
        api = tenant_b.client().post("/oauth/token", {"grant_type": "client_credentials"})
        assert api.status_code == 403
        assert api.json()["error"] == "tenant_suspended"
    finally:
        with commit():
            tenant_set_status(tenant=Tenant.objects.get(slug=tenant_b.slug), status="active")
    assert tenant_b.client().get("/").status_code == 200


@pytest.mark.parametrize("host", ["10.1.2.3:8000", "[fd00::1]:8000", "unknown.example", None])
def test_health_answers_on_any_host_without_https_redirect(host, settings):
    settings.SECURE_SSL_REDIRECT = True
    client = https_client(host) if host else https_client("x")
    response = client.get("/healthz", secure=False)
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    ready = client.get("/readyz", secure=False)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


def test_tenant_lookup_is_cached_and_set_search_path_limited(
    tenant_a, django_assert_max_num_queries
):
    client = tenant_a.client()
    client.get("/")  # warm the Host -> tenant cache
    # No Domain query and no more than one SET search_path for a page that reads nothing.
    with django_assert_max_num_queries(1) as ctx:
        assert client.get("/").status_code == 200
    assert not any("tenants_domain" in q["sql"] for q in ctx.captured_queries)


def test_cache_invalidated_at_once_on_suspension_in_this_process(tenant_a, commit):
    from tenants.models import Tenant
    from tenants.services import tenant_set_status

    client = tenant_a.client()
    assert client.get("/").status_code == 200
    with commit():
        tenant_set_status(tenant=Tenant.objects.get(slug=tenant_a.slug), status="suspended")
    try:
        assert client.get("/").status_code == 403
    finally:
        with commit():
            tenant_set_status(tenant=Tenant.objects.get(slug=tenant_a.slug), status="active")
