"""Clients, users and tokens for OAuth tests, made through oauth.services.

Every secret, token, code and password made or received here is handed to
``remember_secret``, so the log guard fails any test that logs one.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.secrets import remember_secret

FORM = "application/x-www-form-urlencoded"
REDIRECT_URI = "https://app.example.com/callback"


@dataclass
class RegisteredClient:
    client_id: str
    secret: str | None
    pk: int
    tenant: object
    redirect_uris: list[str] = field(default_factory=list)

    def basic(self) -> dict[str, str]:
        """Django test-client extra for HTTP Basic with this client's credentials."""
        return basic_auth(self.client_id, self.secret or "")

    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret or "")


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def make_client(tenant, **options) -> RegisteredClient:
    """A client of ``tenant`` registered through ``client_create`` (defaults: confidential,
    client_credentials, scopes "api read")."""
    from oauth.client_metadata import ClientMetadata
    from oauth.services.clients import client_create

    options.setdefault("name", "Test client")
    options.setdefault("scopes", ["api", "read"])
    with tenant.context():
        client, secret = client_create(metadata=ClientMetadata(**options))
    remember_secret(secret)
    return RegisteredClient(client.client_id, secret, client.pk, tenant, client.redirect_uris)


def make_web_client(tenant, **options) -> RegisteredClient:
    """A confidential authorization-code client with refresh tokens."""
    options.setdefault("name", "Web app")
    options.setdefault("grant_types", ["authorization_code", "refresh_token"])
    options.setdefault("redirect_uris", [REDIRECT_URI])
    options.setdefault("scopes", ["openid", "profile", "api", "read"])
    return make_client(tenant, **options)


def make_public_client(tenant, **options) -> RegisteredClient:
    options.setdefault("auth_method", "none")
    options.setdefault("name", "Native app")
    return make_web_client(tenant, **options)


def make_user(tenant, username: str | None = None, password: str | None = None):
    from kernel.accounts.services import user_create

    username = username or f"user-{secrets.token_hex(4)}"
    password = remember_secret(password or f"pw-{secrets.token_urlsafe(12)}")
    with tenant.context():
        user = user_create(username=username, password=password, email=f"{username}@x.test")
    user.raw_password = password
    return user


def form(data) -> str:
    return data if isinstance(data, str) else urlencode(data, doseq=True)


def post_form(web, path: str, data, **extra):
    """POST an application/x-www-form-urlencoded body with the Django test client.

    ``secure=True`` on every call: Django's per-request default (``secure=False``) would
    override the tenant client's https environ."""
    extra.setdefault("secure", True)
    return web.post(path, form(data), content_type=FORM, **extra)


def token_request(tenant, data, client: RegisteredClient | None = None, **extra):
    if client is not None and "HTTP_AUTHORIZATION" not in extra:
        extra.update(client.basic())
    return post_form(tenant.client(), "/oauth/token", data, **extra)


def client_credentials_token(tenant, client: RegisteredClient, **params) -> dict:
    response = token_request(tenant, {"grant_type": "client_credentials", **params}, client)
    assert response.status_code == 200, response.content
    body = response.json()
    remember_secret(body["access_token"])
    return body


def pkce_pair() -> tuple[str, str]:
    verifier = remember_secret(secrets.token_urlsafe(48))
    return verifier, create_s256_code_challenge(verifier)


def signed_in(tenant, user):
    """A Django test client of ``tenant`` with ``user`` logged in (session in the tenant)."""
    web = tenant.client()
    with tenant.context():
        web.force_login(user)
    return web


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(client: RegisteredClient, challenge: str | None = None, **extra) -> dict:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": "api read",
        "state": "st-" + secrets.token_hex(4),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def get_code(tenant, web, client: RegisteredClient, challenge: str | None = None, **extra) -> str:
    """Run /oauth/authorize (and the consent form) as a signed-in user; return the code."""
    params = authorize_params(client, challenge, **extra)
    response = web.get("/oauth/authorize", params, secure=True)
    if response.status_code == 200:  # the consent page
        response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 302, response.content
    query = query_of(response["Location"])
    assert "code" in query, response["Location"]
    assert query["iss"] == tenant.issuer
    return remember_secret(query["code"])


def exchange_code(tenant, client: RegisteredClient, code: str, verifier: str | None = None, **x):
    data = {"grant_type": "authorization_code", "code": code}
    data["redirect_uri"] = x.pop("redirect_uri", client.redirect_uris[0])
    if verifier:
        data["code_verifier"] = verifier
    if client.secret is None:
        data["client_id"] = client.client_id
        return post_form(tenant.client(), "/oauth/token", data, **x)
    return token_request(tenant, data, client, **x)


def remember_tokens(body: dict) -> dict:
    for key in ("access_token", "refresh_token", "id_token"):
        remember_secret(body.get(key))
    return body


def user_tokens(tenant, client: RegisteredClient, user=None, **extra) -> dict:
    """A full in-process code flow (PKCE S256): the token response, tokens remembered."""
    user = user or make_user(tenant)
    verifier, challenge = pkce_pair()
    web = signed_in(tenant, user)
    code = get_code(tenant, web, client, challenge, **extra)
    response = exchange_code(tenant, client, code, verifier)
    assert response.status_code == 200, response.content
    return remember_tokens(response.json())


def refresh(tenant, client: RegisteredClient, refresh_token: str, **params):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **params}
    if client.secret is None:
        data["client_id"] = client.client_id
        return post_form(tenant.client(), "/oauth/token", data)
    return token_request(tenant, data, client)


def introspect(tenant, as_client: RegisteredClient, token: str, **params):
    return post_form(
        tenant.client(), "/oauth/introspect", {"token": token, **params}, **as_client.basic()
    )


def revoke(tenant, as_client: RegisteredClient, token: str, **params):
    data = {"token": token, **params}
    if as_client.secret is None:
        data["client_id"] = as_client.client_id
        return post_form(tenant.client(), "/oauth/revoke", data)
    return post_form(tenant.client(), "/oauth/revoke", data, **as_client.basic())


def active(tenant, token: str) -> bool:
    """Whether ``token`` is active, asked by a fresh introspecting client of ``tenant``."""
    rs = make_client(tenant, name="Resource server", can_introspect=True)
    response = introspect(tenant, rs, token)
    assert response.status_code == 200, response.content
    return response.json()["active"]


def assert_no_store(response) -> None:
    assert response["Cache-Control"] == "no-store", response.headers
    assert response["Pragma"] == "no-cache", response.headers


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert_no_store(response)
    return body


def register_client_cli(*args: str) -> dict:
    """``manage.py register_client ... --json``, in process; the printed secret is remembered."""
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("register_client", *args, "--json", stdout=out)
    result = json.loads(out.getvalue())
    remember_secret(result["client_secret"])
    return result
