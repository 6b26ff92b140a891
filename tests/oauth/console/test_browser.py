"""The console in a real browser (Debian's Chromium via Playwright) against the live server:
a customer signs up on the public site and lands in the new tenant's console, registers a
client, edits its redirect URIs, completes a code flow with the new one, rotates the secret
with a short overlap, sees both secrets work, and then the old one fail once the overlap is
over. A failure leaves a screenshot in pytest's tmp_path."""

import re
import secrets
import time

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from tenants.hosts import clear_tenant_host_cache
from tenants.models import Tenant
from tenants.views import signup_limit
from tests.support.chromium import chromium
from tests.support.factories import query_of
from tests.support.live_clients import metadata
from tests.support.secrets import remember_secret
from tests.support.tenants import TenantInfo

pytestmark = [pytest.mark.live, pytest.mark.slow]

FIRST = "https://app.example.com/first"
SECOND = "https://app.example.com/second"
OVERLAP = 4


def _refresh(token_endpoint: str, client_id: str, secret: str, refresh_token: str):
    response = requests.post(
        token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client_id, secret),
        timeout=10,
    )
    if response.status_code == 200:
        for key in ("access_token", "refresh_token", "id_token"):
            remember_secret(response.json().get(key))
    return response


def test_signup_then_register_edit_use_and_rotate_a_client(
    gatehouse_server, two_tenants, tmp_path, monkeypatch, commit
):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    signup_limit().reset("127.0.0.1")
    slug = f"browser-{secrets.token_hex(3)}"
    tenant = TenantInfo(
        slug=slug,
        schema=slug.replace("-", "_"),
        host=f"{slug}.{settings.GATEHOUSE_BASE_DOMAIN}",
        issuer=gatehouse_server.issuer(f"{slug}.{settings.GATEHOUSE_BASE_DOMAIN}"),
        admin_username=f"owner@{slug}.test",
        admin_password=remember_secret(f"Signup-{secrets.token_urlsafe(12)}"),
    )
    with chromium() as browser:
        page = browser.new_page()
        try:
            _sign_up(page, gatehouse_server, tenant)
            meta = metadata(gatehouse_server, tenant)
            console = gatehouse_server.url(tenant.host, "/console/")
            _drive(page, gatehouse_server, tenant, console, meta)
        except BaseException:
            shot = tmp_path / "console-failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failure: {shot}")
            raise
    # The signed-up tenant was committed by the live server: drop it, schema and all.
    with commit():
        Tenant.objects.get(slug=slug).delete(force_drop=True)
        clear_tenant_host_cache()


def _sign_up(page, server, tenant: TenantInfo) -> None:
    """The public site's signup, then its one-time hand-off into the new tenant's console."""
    page.goto(server.url(settings.GATEHOUSE_BASE_DOMAIN, "/signup/"))
    page.fill("#id_name", f"{tenant.slug.title()} Org")
    page.fill("#id_slug", tenant.slug)
    page.fill("#id_email", tenant.admin_username)
    page.fill("#id_password", tenant.admin_password)
    page.fill("#id_password_again", tenant.admin_password)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text={tenant.slug} is ready")
    page.click("#handoff button")
    page.wait_for_selector("text=Signed in as")
    assert page.url.startswith(server.url(tenant.host, "/console/"))


def _drive(page, server, tenant, console: str, meta: dict) -> None:
    page.goto(console)
    assert "Signed in as" in page.content()

    page.goto(server.url(tenant.host, "/console/clients/"))
    page.fill("#id_name", "Browser Portal")
    page.select_option("#id_kind", "web")
    page.fill("#id_redirect_uris", FIRST)
    page.fill("#id_scopes", "openid profile")
    page.click("button:has-text('Register')")
    client_id = page.inner_text("#new-client-id")
    first_secret = remember_secret(page.inner_text("#new-client-secret"))
    page.reload()  # the browser posts the form again: nothing more is registered
    assert "already submitted" in page.content() and first_secret not in page.content()
    page.goto(server.url(tenant.host, "/console/clients/?q=Browser+Portal"))
    assert page.locator("text=Browser Portal").count() == 1

    page.goto(server.url(tenant.host, f"/console/clients/{client_id}/edit/"))
    page.fill("#id_redirect_uris", SECOND)
    page.click("button:has-text('Save changes')")
    page.wait_for_selector("text=Changes saved.")
    assert SECOND in page.content() and FIRST not in page.content()

    session = OAuth2Session(
        client_id, first_secret, scope="openid profile", redirect_uri=SECOND,
        code_challenge_method="S256",
    )  # fmt: skip
    verifier = remember_secret(generate_token(48))
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    callbacks = []

    def capture(route):
        callbacks.append(remember_secret(route.request.url))
        route.fulfill(status=200, body="signed in", content_type="text/plain")

    page.route("https://app.example.com/**", capture)
    page.goto(url)
    page.wait_for_selector("text=Allow Browser Portal?")
    page.click("button[value=allow]")
    page.wait_for_url("https://app.example.com/**")
    assert len(callbacks) == 1 and callbacks[0].startswith(SECOND)
    assert query_of(callbacks[0])["state"] == state
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callbacks[0], code_verifier=verifier
    )
    refresh_token = remember_secret(token["refresh_token"])
    remember_secret(token["access_token"])

    page.goto(server.url(tenant.host, f"/console/clients/{client_id}/"))
    page.click("text=Rotate secret")
    page.select_option("#id_grace_seconds", "-1")
    page.fill("#id_custom_seconds", str(OVERLAP))
    page.click("button:has-text('Rotate the secret')")
    rotated_at = time.monotonic()
    new_secret = remember_secret(page.inner_text("#new-client-secret"))
    assert new_secret != first_secret
    assert "keeps working until" in page.content()

    endpoint = meta["token_endpoint"]
    with_old = _refresh(endpoint, client_id, first_secret, refresh_token)
    assert with_old.status_code == 200, with_old.text
    with_new = _refresh(endpoint, client_id, new_secret, with_old.json()["refresh_token"])
    assert with_new.status_code == 200, with_new.text
    page.goto(server.url(tenant.host, f"/console/clients/{client_id}/"))
    assert "still works until" in page.inner_text("#secret-previous")
    assert new_secret not in page.content()

    time.sleep(max(0.0, OVERLAP + 1 - (time.monotonic() - rotated_at)))
    latest = with_new.json()["refresh_token"]
    after = _refresh(endpoint, client_id, first_secret, latest)
    assert after.status_code == 401 and after.json()["error"] == "invalid_client"
    assert _refresh(endpoint, client_id, new_secret, latest).status_code == 200
    page.reload()
    assert "stopped at" in page.inner_text("#secret-previous")
    assert re.search(r"\bUTC\b", page.inner_text("#secret-previous"))
