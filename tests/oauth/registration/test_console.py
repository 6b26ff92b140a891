"""The console's Registration page: the policy (audited, per tenant), initial access tokens
minted once and revoked, and self-registered clients marked and filtered in the client list."""

from __future__ import annotations

import re

import pytest

from tests.oauth.registration.helpers import native_client_body, register, set_policy
from tests.support.factories import assert_error, make_client
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

POLICY = {
    "mode": "open",
    "allowed_grant_types": ["authorization_code", "refresh_token"],
    "allowed_redirect_schemes": ["https", "http"],
    "allowed_redirect_hosts": "",
    "resources": "https://mcp.example.com/mcp",
    "clients_per_hour": "50",
    "clients_per_ip_per_hour": "5",
    "documents": "hosts",
    "document_hosts": "tools.example.com .agents.example",
}


def _staff(tenant):
    from kernel.accounts.models import User

    web = tenant.client()
    with tenant.context():
        web.force_login(User.objects.get(username=tenant.admin_username))
    return web


def _policy(tenant):
    from oauth.models import RegistrationPolicy

    with tenant.context():
        return RegistrationPolicy.load()


def test_the_policy_is_saved_audited_and_only_for_this_tenant(tenant_a, tenant_b):
    from kernel.audit.models import AuditEvent

    web = _staff(tenant_a)
    page = web.get("/console/registration/")
    assert page.status_code == 200 and b'name="mode"' in page.content
    saved = web.post("/console/registration/", POLICY)
    assert saved.status_code == 302 and saved["Location"] == "/console/registration/"
    policy = _policy(tenant_a)
    assert policy.mode == "open" and policy.documents == "hosts"
    assert policy.resources == ["https://mcp.example.com/mcp"]
    assert policy.document_hosts == ["tools.example.com", ".agents.example"]
    assert policy.clients_per_ip_per_hour == 5
    with tenant_a.context():
        event = AuditEvent.objects.get(action="registration.policy_updated")
    assert event.changes["mode"] == {"old": "off", "new": "open"}
    assert event.actor_label == tenant_a.admin_username
    assert _policy(tenant_b).mode == "off"
    assert register(tenant_a, native_client_body(scope="api")).status_code == 201
    assert_error(register(tenant_b, native_client_body(scope="api")), 403, "access_denied")


def test_the_policy_form_says_what_is_wrong(tenant_a):
    web = _staff(tenant_a)
    bad = {**POLICY, "document_hosts": "", "resources": "http://insecure.example/mcp"}
    response = web.post("/console/registration/", bad)
    assert response.status_code == 400
    text = response.content.decode()
    assert "List at least one host" in text and "is not an https URI" in text
    assert _policy(tenant_a).mode == "off"


def test_an_initial_access_token_is_shown_once_and_works(tenant_a):
    from oauth.models import InitialAccessToken

    web = _staff(tenant_a)
    page = web.get("/console/registration/").content.decode()
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    form = {
        "once": once,
        "label": "Acme agent",
        "expires_in_hours": "2",
        "uses": "2",
        "scopes": "api",
        "redirect_hosts": "",
    }
    minted = web.post("/console/registration/tokens/", form)
    assert minted.status_code == 200
    value = remember_secret(
        re.search(r'id="new-initial-access-token">([^<]+)<', minted.content.decode()).group(1)
    )
    again = web.post("/console/registration/tokens/", form)
    assert again.status_code == 302  # a reload writes nothing and shows nothing
    with tenant_a.context():
        row = InitialAccessToken.objects.get()
    assert row.uses_left == 2 and row.scopes == ["api"] and row.label == "Acme agent"
    assert value not in row.token_digest

    set_policy(tenant_a, mode="token")
    assert register(tenant_a, native_client_body(scope="api"), token=value).status_code == 201
    listing = web.get("/console/registration/").content.decode()
    assert "Acme agent" in listing and value not in listing

    revoked = web.post(f"/console/registration/tokens/{row.pk}/revoke/")
    assert revoked.status_code == 302
    assert_error(
        register(tenant_a, native_client_body(scope="api"), token=value), 401, "invalid_token"
    )


def test_another_tenants_token_cannot_be_revoked_here(tenant_a, tenant_b):
    from oauth.models import InitialAccessToken
    from oauth.registration.services import initial_access_token_create

    with tenant_b.context():
        row, value = initial_access_token_create(expires_in=3600)
    remember_secret(value)
    response = _staff(tenant_a).post(f"/console/registration/tokens/{row.pk}/revoke/")
    assert response.status_code == 404
    with tenant_b.context():
        assert InitialAccessToken.objects.get(pk=row.pk).revoked_at is None


def test_self_registered_clients_are_marked_and_filterable(tenant_a):
    set_policy(tenant_a, mode="open")
    registered = register(tenant_a, native_client_body(client_name="Agent X")).json()
    make_client(tenant_a, name="Console client")
    web = _staff(tenant_a)
    listing = web.get("/console/clients/").content.decode()
    assert "Agent X" in listing and "Console client" in listing
    assert "self-registered" in listing
    filtered = web.get("/console/clients/", {"registration": "self"}).content.decode()
    assert registered["client_id"] in filtered and "Console client" not in filtered


def test_the_registration_page_needs_an_admin(tenant_a):
    from tests.support.factories import make_user, signed_in

    assert tenant_a.client().get("/console/registration/").status_code == 302
    user_web = signed_in(tenant_a, make_user(tenant_a))
    assert user_web.get("/console/registration/").status_code == 403
    assert user_web.post("/console/registration/", POLICY).status_code == 403
    assert _policy(tenant_a).mode == "off"


def test_a_metadata_document_client_has_working_console_pages(tenant_a):
    from django.urls import reverse

    from oauth.client_metadata import ClientMetadata
    from oauth.models import Client
    from oauth.services.clients import client_create

    url = "https://tools.example.com/agents/client.json"
    with tenant_a.context():
        client, _ = client_create(
            metadata=ClientMetadata(
                name="Doc agent",
                redirect_uris=["http://127.0.0.1/cb"],
                auth_method="none",
                scopes=["api"],
            ),
            client_id=url,
        )
        Client.objects.filter(pk=client.pk).update(registration=Client.Registration.DOCUMENT)
        detail = reverse("console-client", args=[url])
    assert "/" not in detail.removeprefix("/console/clients/").rstrip("/")
    web = _staff(tenant_a)
    listing = web.get("/console/clients/")
    assert listing.status_code == 200 and detail in listing.content.decode()
    page = web.get(detail)
    assert page.status_code == 200 and url in page.content.decode()
    assert "Client ID Metadata Document (self-registered" in page.content.decode()
    toggled = web.post(reverse("console-client-toggle", args=[url]), {"disabled": "1"})
    assert toggled.status_code == 302
    with tenant_a.context():
        assert Client.objects.get(pk=client.pk).disabled
    assert web.get("/console/clients/~not*base64/").status_code == 404
