"""MFA in a real browser (Debian's Chromium via Playwright) against the live server: enrol
an authenticator app on the account page and sign in with it; enrol a passkey with
Chromium's virtual authenticator (CDP ``WebAuthn``) and sign in with it alone. Each ends
with a code exchanged for an id_token whose ``amr``/``acr`` say how the user signed in."""

import time

import pyotp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support import jose
from tests.support.chromium import chromium
from tests.support.factories import make_user, make_web_client
from tests.support.jwks import fetch_jwks
from tests.support.live_clients import metadata
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

REDIRECT = "https://app.example.com/callback"


def _secure_origin(server, tenant) -> tuple[str, ...]:
    """WebAuthn needs a secure context; the live server speaks http on a test host name."""
    return (f"--unsafely-treat-insecure-origin-as-secure={server.issuer(tenant.host)}",)


def _session(tenant, client):
    session = OAuth2Session(
        client.client_id,
        client.secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = remember_secret(generate_token(48))
    return session, verifier


def _capture_callbacks(page, callbacks: list) -> None:
    def capture(route):
        callbacks.append(remember_secret(route.request.url))
        route.fulfill(status=200, body="signed in", content_type="text/plain")

    page.route("https://app.example.com/**", capture)


def _sign_in_with_password(page, user) -> None:
    page.fill("#id_username", user.username)
    page.fill("#id_password", user.raw_password)
    page.click("form[action='/oauth/login'] button[type=submit]")


def _id_token(server, tenant, session, verifier, callback) -> dict:
    meta = metadata(server, tenant)
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    remember_secret(token["access_token"])
    remember_secret(token.get("refresh_token"))
    id_token = remember_secret(token["id_token"])
    return jose.verify(id_token, fetch_jwks(server, tenant), ["RS256"]).claims


def test_enrol_an_authenticator_app_and_sign_in_with_it(
    gatehouse_server, tenant_a, commit, monkeypatch
):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with commit(tenant_a):
        client = make_web_client(tenant_a, name="TOTP App", redirect_uris=[REDIRECT])
        user = make_user(tenant_a)
    session, verifier = _session(tenant_a, client)
    url, _state = session.create_authorization_url(
        metadata(gatehouse_server, tenant_a)["authorization_endpoint"], code_verifier=verifier
    )
    callbacks: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.goto(gatehouse_server.url(tenant_a.host, "/oauth/login?next=/account/mfa/"))
        _sign_in_with_password(page, user)
        page.wait_for_url("**/account/mfa/")
        page.click("#add-totp")
        page.wait_for_selector("#totp-qr svg")
        secret = remember_secret(page.inner_text("#totp-secret").replace(" ", ""))
        page.fill("#id_code", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        page.wait_for_url("**/account/mfa/recovery-codes")
        assert page.locator("#recovery-codes li").count() == 10
        for code in page.locator("#recovery-codes code").all_inner_texts():
            remember_secret(code)
        page.click("#continue")
        page.wait_for_selector("#totp-device")
        page.close()

        fresh = browser.new_context().new_page()  # another browser session: signed out
        _capture_callbacks(fresh, callbacks)
        fresh.goto(url)
        _sign_in_with_password(fresh, user)
        fresh.wait_for_url("**/account/mfa/challenge")
        fresh.fill("#id_code", "000000")
        fresh.click("#totp-form button[type=submit]")
        fresh.wait_for_selector("text=That code is not right")
        # The enrolment spent the current time step: the next one's code.
        fresh.fill("#id_code", pyotp.TOTP(secret).at(time.time() + 30))
        fresh.click("#totp-form button[type=submit]")
        fresh.wait_for_selector("text=Allow TOTP App?")
        fresh.click("button[value=allow]")
        fresh.wait_for_url("https://app.example.com/**")

    assert len(callbacks) == 1
    claims = _id_token(gatehouse_server, tenant_a, session, verifier, callbacks[0])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:gatehouse:acr:mfa"


def test_enrol_a_passkey_and_sign_in_with_it_alone(gatehouse_server, tenant_a, commit, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with commit(tenant_a):
        client = make_web_client(tenant_a, name="Passkey App", redirect_uris=[REDIRECT])
        user = make_user(tenant_a)
    session, verifier = _session(tenant_a, client)
    url, _state = session.create_authorization_url(
        metadata(gatehouse_server, tenant_a)["authorization_endpoint"], code_verifier=verifier
    )
    callbacks: list[str] = []
    with chromium(extra_args=_secure_origin(gatehouse_server, tenant_a)) as browser:
        context = browser.new_context()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )["authenticatorId"]
        page.goto(gatehouse_server.url(tenant_a.host, "/oauth/login?next=/account/mfa/"))
        _sign_in_with_password(page, user)
        page.wait_for_url("**/account/mfa/")
        page.click("#add-passkey")
        page.fill("#id_name", "Test laptop")
        page.click("#passkey-add-button")
        page.wait_for_url("**/account/mfa/recovery-codes")
        for code in page.locator("#recovery-codes code").all_inner_texts():
            remember_secret(code)
        page.click("#continue")
        page.wait_for_selector("#passkeys")
        assert page.locator("#passkeys input[name=name]").input_value() == "Test laptop"
        stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]

        context.clear_cookies()  # signed out; the authenticator keeps its passkey
        _capture_callbacks(page, callbacks)
        page.goto(url)
        page.wait_for_selector("#passkey-login-button")
        page.click("#passkey-login-button")
        page.wait_for_selector("text=Allow Passkey App?")
        page.click("button[value=allow]")
        page.wait_for_url("https://app.example.com/**")
        context.close()

    assert len(callbacks) == 1
    claims = _id_token(gatehouse_server, tenant_a, session, verifier, callbacks[0])
    assert claims["amr"] == ["hwk", "mfa"]
    assert claims["acr"] == "urn:gatehouse:acr:mfa"
