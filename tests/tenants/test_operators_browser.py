"""The operators' console in a real browser (Debian's Chromium via Playwright) against the
live server: sign in, create a tenant, suspend it, delete it by typing its slug."""

import pyotp
import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_exists

from kernel.accounts.models import User, UserSession
from oauth.mfa.models import RecoveryCode, TOTPDevice
from tenants.models import Tenant
from tenants.services import tenant_delete, tenant_set_status
from tests.support.chromium import chromium
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

BASE = settings.GATEHOUSE_BASE_DOMAIN
SLUG = "browser-ops"
OPERATOR_PASSWORD = "browser-operator-Pw71"
ADMIN_PASSWORD = "browser-first-admin-Qm52"


@pytest.fixture
def operator(commit):
    remember_secret(OPERATOR_PASSWORD)
    remember_secret(ADMIN_PASSWORD)
    with commit():
        connection.set_schema_to_public()
        user = User.objects.create_user("browser-op", password=OPERATOR_PASSWORD, is_staff=True)
    yield user
    with commit():
        connection.set_schema_to_public()
        left = Tenant.objects.filter(slug=SLUG).first()
        if left is not None:
            tenant_delete(tenant=tenant_set_status(tenant=left, status="suspended"))
        # Not through the ORM: its cascade would look for the user's codes and tokens in
        # tables that exist only in tenant schemas. Its sign-in sessions go first.
        UserSession.objects.filter(user_id=user.pk).delete()
        RecoveryCode.objects.filter(user_id=user.pk).delete()
        TOTPDevice.objects.filter(user_id=user.pk).delete()
        with connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{User._meta.db_table}" WHERE id = %s', [user.pk])


def test_an_operator_creates_suspends_and_deletes_a_tenant(
    gatehouse_server, operator, commit, tmp_path
):
    with chromium() as browser:
        page = browser.new_page()
        try:
            _drive(page, gatehouse_server)
        except Exception:
            shot = tmp_path / "operators-console-failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            raise
        finally:
            page.close()
    with commit():
        connection.set_schema_to_public()
        assert not Tenant.objects.filter(slug=SLUG).exists()
        assert not schema_exists(SLUG.replace("-", "_"))


def _drive(page, server) -> None:
    page.goto(server.url(BASE, "/operators/"))
    assert "/operators/sign-in/" in page.url
    page.fill("#id_username", "browser-op")
    page.fill("#id_password", OPERATOR_PASSWORD)
    page.click("button[type=submit]")
    # Operators sign in with a TOTP code: one without an authenticator app adds one first.
    page.wait_for_selector("h1:has-text('Add an authenticator app')")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    page.click("text=Continue")
    page.wait_for_selector("h1:has-text('Tenants')")
    assert "Signed in as browser-op" in page.content()

    page.click("nav >> text=New tenant")
    assert "at least 10 characters" in page.content()  # the rules, before they fail
    page.fill("#id_name", "Browser Ops")
    page.fill("#id_slug", SLUG)
    page.fill("#id_admin_email", "owner@browser-ops.test")
    page.fill("#id_admin_password", "short")
    page.click("text=Create tenant")
    assert "too short" in page.content()
    page.fill("#id_admin_password", ADMIN_PASSWORD)
    page.click("text=Create tenant")
    page.wait_for_selector("h1:has-text('Browser Ops')")
    assert "is ready at" in page.content()
    page.reload()  # a reload after the POST creates nothing more
    assert "is ready at" not in page.content()

    page.click("text=Suspend…")
    page.click(f"text=Suspend {SLUG}")
    page.wait_for_selector("text=is suspended")
    page.click("text=Delete…")
    page.fill("#id_slug", "wrong")
    page.click(f"text=Delete {SLUG} for good")
    assert "exactly" in page.content()
    page.fill("#id_slug", SLUG)
    page.click(f"text=Delete {SLUG} for good")
    page.wait_for_selector("text=everything in it are deleted")
    page.goto(server.url(BASE, "/operators/audit/"))
    body = page.content()
    for words in ("Tenant created", "Tenant suspended", "Tenant deleted", "Operator signed in"):
        assert words in body
    assert ADMIN_PASSWORD not in body and OPERATOR_PASSWORD not in body
