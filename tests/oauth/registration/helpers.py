"""Registration test helpers: the tenant's policy, RFC 7591 requests, registered clients."""

from __future__ import annotations

import json

from tests.support.factories import RegisteredClient
from tests.support.secrets import remember_secret

MCP_RESOURCE = "https://mcp.example.com/mcp"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"


def set_policy(tenant, **fields):
    """Set ``tenant``'s registration policy fields (rolled back with the test)."""
    from oauth.models import RegistrationPolicy

    with tenant.context():
        policy = RegistrationPolicy.load()
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()
    return policy


def register(tenant, body, *, token: str | None = None, **extra):
    """POST ``body`` to ``/oauth/register``; secrets in the answer are remembered."""
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    response = tenant.client().post(
        "/oauth/register", raw, content_type=extra.pop("content_type", "application/json"), **extra
    )
    _remember(response)
    return response


def manage(tenant, method: str, client_id: str, token: str, body=None):
    web = tenant.client()
    call = getattr(web, method.lower())
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    response = call(f"/oauth/register/{client_id}", **kwargs)
    _remember(response)
    return response


def _remember(response) -> None:
    if response.get("Content-Type", "").startswith("application/json") and response.content:
        body = response.json()
        remember_secret(body.get("client_secret"))
        remember_secret(body.get("registration_access_token"))


def mint_token(tenant, **options) -> str:
    from oauth.registration.services import initial_access_token_create

    options.setdefault("expires_in", 3600)
    with tenant.context():
        _row, value = initial_access_token_create(**options)
    return remember_secret(value)


def native_client_body(**extra) -> dict:
    body = {
        "client_name": "MCP Inspector",
        "redirect_uris": [LOOPBACK_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "api read",
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def as_registered(tenant, body: dict) -> RegisteredClient:
    with tenant.context():
        from oauth.models import Client

        pk = Client.objects.get(client_id=body["client_id"]).pk
    return RegisteredClient(
        body["client_id"], body.get("client_secret"), pk, tenant, body["redirect_uris"]
    )
