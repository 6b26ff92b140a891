"""Device authorization (RFC 8628) clients and requests for the in-process tests."""

from __future__ import annotations

import re

from oauth.grant_types import DEVICE_CODE
from tests.support.factories import RegisteredClient, make_client, post_form
from tests.support.secrets import remember_secret

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def make_device_client(tenant, **options) -> RegisteredClient:
    """A public client (a CLI, a TV app) registered for the device grant and refresh."""
    options.setdefault("name", "TV app")
    options.setdefault("auth_method", "none")
    options.setdefault("grant_types", [DEVICE_CODE, "refresh_token"])
    options.setdefault("scopes", ["openid", "profile", "api"])
    return make_client(tenant, **options)


def _credentials(client: RegisteredClient) -> tuple[dict, dict]:
    if client.secret is None:
        return {"client_id": client.client_id}, {}
    return {}, client.basic()


def start(tenant, client: RegisteredClient, **params):
    """POST /oauth/device_authorization; the response."""
    body, extra = _credentials(client)
    return post_form(tenant.client(), "/oauth/device_authorization", {**body, **params}, **extra)


def started(tenant, client: RegisteredClient, **params) -> dict:
    response = start(tenant, client, **params)
    assert response.status_code == 200, response.content
    data = response.json()
    remember_secret(data["device_code"])
    remember_secret(data["user_code"])
    remember_secret(data["verification_uri_complete"])
    return data


def poll(tenant, client: RegisteredClient, device_code: str, **params):
    body, extra = _credentials(client)
    data = {"grant_type": DEVICE_CODE, "device_code": device_code, **body, **params}
    return post_form(tenant.client(), "/oauth/token", data, **extra)


def csrf_of(response) -> str:
    return _CSRF.search(response.content.decode()).group(1)


def enter_code(web, user_code: str, **extra):
    """Open /device and submit ``user_code`` as a browser would (CSRF token from the page)."""
    page = web.get("/device", secure=True, **extra)
    assert page.status_code == 200, page.content
    return web.post(
        "/device",
        {"csrfmiddlewaretoken": csrf_of(page), "user_code": user_code},
        secure=True,
        **extra,
    )


def decide(web, decision: str):
    """Open /device/consent and choose ``decision`` (allow or deny)."""
    page = web.get("/device/consent", secure=True)
    assert page.status_code == 200, page.content
    return web.post(
        "/device/consent",
        {"csrfmiddlewaretoken": csrf_of(page), "decision": decision},
        secure=True,
    )
