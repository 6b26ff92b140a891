"""The account pages in a real browser (Debian's Chromium via Playwright) against a live
server of their own, whose EMAIL_URL writes every mail to a folder (``file://``): the mail
the browser's request caused is read from there, as a person would read their inbox.

- A password reset end to end from the login page: the link is used once, a second use and
  an expired link are refused, and the new password signs in.
- A connected app revoked on the account page: its access token introspects inactive and
  its refresh token is refused (invalid_grant).

A failure leaves a screenshot in pytest's tmp_path.
"""

from __future__ import annotations

import email
import email.policy
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from tests.support.accounts import RESET_LINK
from tests.support.chromium import chromium
from tests.support.factories import make_client, make_user, make_web_client, user_tokens
from tests.support.live import LiveServer
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="module")
def mail_server(two_tenants, live_server_db_name, tmp_path_factory, mail_dir):
    server = LiveServer(
        live_server_db_name,
        tmp_path_factory.mktemp("live-mail"),
        workers=1,
        env={"EMAIL_URL": f"file://{mail_dir}"},
        name="gunicorn-mail",
    )
    yield server
    server.stop()


def _mails_to(mail_dir: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime):
        # The file backend appends messages separated by a line of dashes.
        for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                message = email.message_from_string(chunk.strip(), policy=email.policy.default)
                if message["To"] == address:
                    found.append(message)
    return found


def _reset_link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = RESET_LINK.search(text)
    assert found, text
    remember_secret(found.group(2))
    return found.group(0)


@contextmanager
def _screenshot_on_failure(page, tmp_path: Path, name: str):
    try:
        yield
    except BaseException:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        raise


def test_password_reset_end_to_end_from_the_login_page(
    mail_server, mail_dir, tenant_a, commit, tmp_path
):
    from kernel.accounts.models import PasswordReset

    with commit(tenant_a):
        user = make_user(tenant_a)
    new_password = remember_secret("Browser-reset-pw-2718")
    login_url = mail_server.url(tenant_a.host, "/oauth/login")
    with chromium() as browser:
        page = browser.new_page()
        with _screenshot_on_failure(page, tmp_path, "reset"):
            page.goto(login_url)
            page.click("#forgot-password")
            page.wait_for_url("**/account/forgot/")
            page.fill("#id_identifier", user.email)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/forgot/sent/")
            assert "Check your mail" in page.content()
            (mail,) = _mails_to(mail_dir, user.email)
            assert "Alpha Corp" in mail["Subject"] and "Alpha Corp" in mail["From"]
            assert mail.get_body(preferencelist=("html",)) is not None
            link = _reset_link(mail)
            assert link.startswith(mail_server.issuer(tenant_a.host))

            page.goto(link)
            page.wait_for_url("**/account/reset/new/")
            assert user.username in page.content()
            page.fill("#id_password", new_password)
            page.fill("#id_confirm", new_password)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/reset/done/")
            assert "Password changed" in page.content()

            second = page.goto(link)
            assert second.status == 400 and "Link expired" in page.content()

            page.goto(login_url + "?next=/account/")
            page.fill("#id_username", user.username)
            page.fill("#id_password", new_password)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/")
            assert "Your account" in page.content()

            # A second link, left unused past its expiry, is refused too.
            page.goto(mail_server.url(tenant_a.host, "/account/forgot/"))
            page.fill("#id_identifier", user.username)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/forgot/sent/")
            mails = _mails_to(mail_dir, user.email)
            assert len(mails) == 2
            late_link = _reset_link(mails[-1])
    with commit(tenant_a):
        from django.utils import timezone

        PasswordReset.objects.filter(user_id=user.pk, used_at__isnull=True).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    with chromium() as browser:
        page = browser.new_page()
        with _screenshot_on_failure(page, tmp_path, "expired"):
            page.goto(late_link)
            assert "Link expired" in page.content()
            assert "/account/reset/invalid/" in page.url


def test_revoking_a_connected_app_in_the_account_page(mail_server, tenant_a, commit, tmp_path):
    with commit(tenant_a):
        app = make_web_client(tenant_a, name="Photo Printer")
        resource_server = make_client(tenant_a, name="Photo API", can_introspect=True)
        user = make_user(tenant_a)
        tokens = user_tokens(tenant_a, app, user=user)
    introspect_url = mail_server.url(tenant_a.host, "/oauth/introspect")
    token_url = mail_server.url(tenant_a.host, "/oauth/token")

    def is_active() -> bool:
        answer = requests.post(
            introspect_url,
            data={"token": tokens["access_token"]},
            auth=resource_server.auth(),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["active"]

    assert is_active()
    with chromium() as browser:
        page = browser.new_page()
        with _screenshot_on_failure(page, tmp_path, "revoke"):
            page.goto(mail_server.url(tenant_a.host, "/account/"))
            page.wait_for_url("**/oauth/login?next=/account/")
            page.fill("#id_username", user.username)
            page.fill("#id_password", user.raw_password)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/")
            row = page.locator("#apps tr", has_text="Photo Printer")
            assert "api" in row.inner_text()
            row.get_by_text("Revoke…").click()
            page.wait_for_url(f"**/account/apps/{app.client_id}/revoke/")
            assert "Revoke Photo Printer?" in page.content()
            page.get_by_role("button", name="Revoke access").click()
            page.wait_for_url("**/account/")
            assert "Photo Printer can no longer use your account." in page.content()
            assert page.locator("#apps tr", has_text="Photo Printer").count() == 0

    assert not is_active()
    refused = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.auth(),
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
