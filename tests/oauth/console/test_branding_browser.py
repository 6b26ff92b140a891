"""Branding in a real browser (Debian's Chromium via Playwright, live server): an admin
uploads a logo, a display name and a colour in the console; a signed-out visitor's sign-in
page shows all three."""

import time

import pytest

from tests.oauth.console.images import png
from tests.support.chromium import chromium

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_branding_shows_on_the_login_page(gatehouse_server, tenant_a, commit, tmp_path):
    console = gatehouse_server.url(tenant_a.host, "/console/settings/")
    login = gatehouse_server.url(tenant_a.host, "/oauth/login")
    try:
        with chromium() as browser:
            page = browser.new_page()
            try:
                page.goto(console)
                page.fill("#id_username", tenant_a.admin_username)
                page.fill("#id_password", tenant_a.admin_password)
                page.click("button[type=submit]")
                page.wait_for_selector("#branding")
                page.fill("#id_display_name", "Alpha Identity")
                page.fill("#id_primary_colour", "#c81e3c")
                page.set_input_files(
                    "#id_logo",
                    files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png()}],
                )
                page.click("#branding button[type=submit]")
                page.wait_for_selector("text=Branding saved.")

                visitor = browser.new_context().new_page()  # signed out
                deadline = time.monotonic() + 10  # other server processes cache it for 5 s
                visitor.goto(login)
                while not visitor.locator("#brand-name").count() and time.monotonic() < deadline:
                    visitor.wait_for_timeout(500)
                    visitor.goto(login)
                assert visitor.locator("#brand-name").inner_text() == "Alpha Identity"
                logo = visitor.locator("#brand-logo")
                logo.wait_for()
                visitor.wait_for_function(
                    "document.getElementById('brand-logo').complete"
                    " && document.getElementById('brand-logo').naturalWidth === 16"
                )
                colour = visitor.eval_on_selector(
                    "button[type=submit]", "b => getComputedStyle(b).backgroundColor"
                )
                assert colour == "rgb(200, 30, 60)"
            except Exception:
                page.screenshot(path=str(tmp_path / "console.png"))
                if "visitor" in locals():
                    visitor.screenshot(path=str(tmp_path / "login.png"))
                print(f"screenshots in {tmp_path}")
                raise
    finally:
        with commit(tenant_a):
            _reset_branding()


def _reset_branding():
    from kernel.audit.models import AuditEvent
    from oauth.models import Branding

    Branding.objects.all().delete()
    AuditEvent.objects.filter(action="branding.updated").delete()
