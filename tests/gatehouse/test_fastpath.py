"""The OAuth API endpoints answered without the browser middleware (gatehouse.fastpath):
the same answers, no session or CSRF machinery, metrics labelled by route as before, and
every other path still through the full stack."""

from __future__ import annotations

import pytest

from tests.support.factories import client_credentials_token, introspect, make_client
from tests.support.tenants import https_client
from tests.workers.test_metrics import scrape, value

pytestmark = pytest.mark.django_db


def test_token_and_introspection_skip_the_browser_middleware(tenant):
    client = make_client(tenant, can_introspect=True)
    token = client_credentials_token(tenant, client)["access_token"]
    response = introspect(tenant, client, token)
    assert response.status_code == 200 and response.json()["active"] is True
    # No session middleware, no CSRF middleware, no clickjacking middleware ran.
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert "X-Frame-Options" not in response
    assert "Vary" not in response or "Cookie" not in response["Vary"]
    # Still behind the outer middleware: security headers.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_other_paths_keep_the_full_stack(tenant):
    page = tenant.client().get("/oauth/login", secure=True)
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert "csrftoken" in page.cookies


def test_the_public_host_has_no_oauth_endpoints(settings):
    assert https_client(settings.GATEHOUSE_BASE_DOMAIN).post("/oauth/token").status_code == 404


def test_metrics_still_name_the_route(tenant_a):
    labels = {"endpoint": "oauth-token", "method": "POST", "status": "2xx", "tenant": "other"}
    before = value(scrape(), "gatehouse_http_requests_total", **labels)
    client_credentials_token(tenant_a, make_client(tenant_a))
    assert value(scrape(), "gatehouse_http_requests_total", **labels) == before + 1


def test_the_audit_actor_is_set_on_the_fast_path(tenant_a, monkeypatch):
    """What the token endpoint audits (refresh reuse, code replay) names the anonymous
    caller and its address, as AuditActorMiddleware does on the full stack."""
    from django.http import JsonResponse

    from kernel.audit.context import current_actor
    from oauth.server import server

    seen = []

    def record(request):
        seen.append(current_actor())
        return JsonResponse({"error": "invalid_request"}, status=400)

    monkeypatch.setattr(server, "create_token_response", record)
    client = make_client(tenant_a)
    response = tenant_a.client().post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        secure=True,
        REMOTE_ADDR="10.1.2.3",
        **client.basic(),
    )
    assert response.status_code == 400
    assert [(a.label, a.ip) for a in seen] == [("anonymous", "10.1.2.3")]
