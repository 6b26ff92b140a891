"""The device flow end to end on a live server: a stock OAuth client (Authlib's requests
``OAuth2Session``) plays the device, polling the token endpoint per RFC 8628 §3.4-§3.5 in a
thread, while a real browser (Debian's Chromium via Playwright) opens
``verification_uri_complete``, confirms the code, signs in and allows; then the same with a
user who denies."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from jwcrypto import jwk, jwt

from oauth.grant_types import DEVICE_CODE
from tests.oauth.device.helpers import make_device_client
from tests.support.chromium import chromium
from tests.support.factories import make_user
from tests.support.live_clients import metadata
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


#: How long the device waits for its user before giving up (the browser takes seconds).
DEVICE_PATIENCE_SECONDS = 90


class Device:
    """A device per RFC 8628 on a stock client, Authlib's requests ``OAuth2Session`` as a
    public client (``none``, RFC 7591 §2): it asks for codes (§3.1, a POST with the
    session's own client authentication; Authlib has no method for this endpoint), then
    polls with ``fetch_token(grant_type=device_code)`` (§3.4) at ``interval``. Authlib
    raises ``OAuthError`` for every error answer: ``authorization_pending`` means poll
    again, ``slow_down`` poll again 5 seconds slower (§3.5), anything else is the end."""

    def __init__(self, meta: dict, client_id: str, scope: str) -> None:
        self.meta = meta
        # No scope on the session: Authlib would add it to every token request (§3.4 has
        # none), and the one asked for at §3.1 is the grant's.
        self.session = OAuth2Session(client_id, None, token_endpoint_auth_method="none")
        response = self.session.post(
            meta["device_authorization_endpoint"],
            data={"scope": scope},
            auth=self.session.client_auth("none"),
            withhold_token=True,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.codes = response.json()
        for name in ("device_code", "user_code", "verification_uri_complete"):
            remember_secret(self.codes[name])
        self.answers: list[str] = []
        self.result: dict | None = None
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        interval = self.codes["interval"]
        deadline = time.monotonic() + DEVICE_PATIENCE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(interval)
            try:
                token = self.session.fetch_token(
                    self.meta["token_endpoint"],
                    grant_type=DEVICE_CODE,
                    device_code=self.codes["device_code"],
                    timeout=10,
                )
            except OAuthError as error:
                self.answers.append(error.error)
                if error.error == "slow_down":
                    interval += 5
                elif error.error != "authorization_pending":
                    self.result = {"error": error.error}
                    return
                continue
            body = dict(token)
            for name in ("access_token", "refresh_token", "id_token"):
                remember_secret(body.get(name))
            self.answers.append("tokens")
            self.result = body
            return

    def wait(self) -> dict:
        self.thread.join(DEVICE_PATIENCE_SECONDS + 15)
        assert self.result is not None, self.answers
        return self.result


def _browser_decides(
    browser, server, tenant, device: Device, user, decision: str, client_name: str
) -> None:
    page = browser.new_page()
    page.goto(device.codes["verification_uri_complete"])
    # Prefilled, but nothing happens until the user confirms it (§3.3.1).
    assert page.input_value("#id_user_code") == device.codes["user_code"]
    page.click("button[type=submit]")
    page.wait_for_url(server.url(tenant.host, "/oauth/login") + "**")
    page.fill("#id_username", user.username)
    page.fill("#id_password", user.raw_password)
    page.click("button[type=submit]")
    page.wait_for_selector("#device-warning")
    assert client_name in page.content() and "Use “api”" in page.content()
    page.click(f"button[value={decision}]")
    page.wait_for_selector("#device-done")
    page.close()


def test_a_device_gets_tokens_once_the_user_allows_in_a_browser(gatehouse_server, tenant_a, commit):
    with commit(tenant_a):
        client = make_device_client(tenant_a, name="Living-room TV")
        user = make_user(tenant_a)
    meta = metadata(gatehouse_server, tenant_a)
    issuer = gatehouse_server.issuer(tenant_a.host)
    assert meta["device_authorization_endpoint"] == f"{issuer}/oauth/device_authorization"
    assert DEVICE_CODE in meta["grant_types_supported"]

    device = Device(meta, client.client_id, "openid api")
    assert device.codes["verification_uri"] == f"{issuer}/device"
    device.thread.start()
    with chromium() as browser:
        _browser_decides(
            browser, gatehouse_server, tenant_a, device, user, "allow", "Living-room TV"
        )
    tokens = device.wait()

    assert device.answers[-1] == "tokens", device.answers
    assert set(device.answers[:-1]) <= {"authorization_pending"}, device.answers
    assert tokens["scope"] == "openid api" and tokens["refresh_token"]
    # The id_token verifies against the tenant's JWKS with an independent library.
    keys = jwk.JWKSet.from_json(requests.get(meta["jwks_uri"], timeout=10).text)
    claims = json.loads(jwt.JWT(jwt=tokens["id_token"], key=keys, expected_type="JWS").claims)
    assert claims["iss"] == issuer and claims["aud"] == client.client_id
    # How the approving user signed in (RFC 8176), and no nonce: the request had none.
    assert claims["amr"] == ["pwd"] and "acr" in claims and "nonce" not in claims
    userinfo = requests.get(
        f"{issuer}/oauth/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"]
    # The device code was good once.
    again = requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": DEVICE_CODE,
            "device_code": device.codes["device_code"],
            "client_id": client.client_id,
        },
        timeout=10,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_device_is_told_access_denied_when_the_user_denies(gatehouse_server, tenant_b, commit):
    with commit(tenant_b):
        client = make_device_client(tenant_b, name="Printer")
        user = make_user(tenant_b)
    meta = metadata(gatehouse_server, tenant_b)
    device = Device(meta, client.client_id, "api")
    device.thread.start()
    with chromium() as browser:
        _browser_decides(browser, gatehouse_server, tenant_b, device, user, "deny", "Printer")
    assert device.wait()["error"] == "access_denied"
