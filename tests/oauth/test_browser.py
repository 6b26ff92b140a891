"""Login and consent driven through a real browser (Debian's Chromium via Playwright)
against the live server; the client side is Authlib's OAuth2Session."""

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support.chromium import chromium
from tests.support.factories import make_user, make_web_client, query_of
from tests.support.live_clients import metadata
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

REDIRECT = "https://app.example.com/callback"


def test_login_and_consent_in_a_real_browser(gatehouse_server, tenant_a, commit, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with commit(tenant_a):
        client = make_web_client(tenant_a, name="Browser App", redirect_uris=[REDIRECT])
        user = make_user(tenant_a)
    meta = metadata(gatehouse_server, tenant_a)
    session = OAuth2Session(
        client.client_id,
        client.secret,
        scope="openid api",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = remember_secret(generate_token(48))
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )

    callbacks = []
    with chromium() as browser:
        drive_login_and_consent(browser, gatehouse_server, tenant_a, url, user, callbacks)

    assert len(callbacks) == 1
    params = query_of(callbacks[0])
    assert params["state"] == state
    assert params["iss"] == gatehouse_server.issuer(tenant_a.host)
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callbacks[0], code_verifier=verifier
    )
    remember_secret(token["access_token"])
    remember_secret(token["refresh_token"])
    assert token["scope"] == "openid api"


def drive_login_and_consent(browser, server, tenant, url, user, callbacks) -> None:
    page = browser.new_page()

    def capture(route):  # the client's site: record the redirect, answer a tiny page
        callbacks.append(remember_secret(route.request.url))
        route.fulfill(status=200, body="signed in", content_type="text/plain")

    page.route("https://app.example.com/**", capture)
    page.goto(url)
    assert page.url.startswith(server.url(tenant.host, "/oauth/login"))
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    assert "not correct" in page.content()
    page.fill("#id_password", user.raw_password)
    page.click("button[type=submit]")

    page.wait_for_selector("text=Allow Browser App?")
    assert "Confirm who you are" in page.content()
    page.click("button[value=allow]")
    page.wait_for_url("https://app.example.com/**")
    page.close()


def test_login_page_refuses_to_be_framed(gatehouse_server, tenant_a):
    login_url = gatehouse_server.url(tenant_a.host, "/oauth/login")
    with chromium() as browser:
        page = browser.new_page()
        response = page.goto(login_url)
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert page.locator("#id_username").count() == 1
        page.set_content(f'<iframe id="f" src="{login_url}"></iframe>')
        page.wait_for_timeout(300)
        assert page.frame_locator("#f").locator("#id_username").count() == 0
        page.close()
