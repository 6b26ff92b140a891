"""The official MCP Python SDK (PyPI ``mcp``) against a live Gatehouse tenant.

A small MCP server built with the SDK (``MCPServer``, streamable HTTP under uvicorn in a
thread) trusts the tenant as its authorization server: it serves RFC 9728 protected-resource
metadata naming the tenant's issuer and checks every bearer token by introspection (RFC
7662), refusing tokens whose audience is another resource. The SDK's ``OAuthClientProvider``
is the client: it discovers the tenant from the server's 401, registers (RFC 7591, or with a
Client ID Metadata Document served over https on loopback), sends the user through the
tenant's login and consent pages (the scripted browser of ``tests.support.browser``, as the
SDK's redirect handler), redeems the code with PKCE and ``resource``, and calls a tool.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
import requests
import uvicorn
from django.db import connection
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata

from tests.oauth.registration.docserver import DocumentServer
from tests.support.browser import Browser
from tests.support.live import LiveServer, free_port
from tests.support.secrets import remember_secret
from tests.support.tenants import provision

pytestmark = [pytest.mark.live, pytest.mark.slow]

SCOPE = "mcp:tools"


class IntrospectionVerifier:
    """The MCP server's ``TokenVerifier``: RFC 7662 introspection at the tenant."""

    def __init__(self, endpoint: str, client_id: str, secret: str) -> None:
        self.endpoint, self.auth = endpoint, (client_id, secret)

    async def verify_token(self, token: str) -> AccessToken | None:
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.post(self.endpoint, data={"token": token}, auth=self.auth)
        body = response.json()
        if response.status_code != 200 or not body.get("active"):
            return None
        return AccessToken(
            token=token,
            client_id=body["client_id"],
            scopes=body.get("scope", "").split(),
            expires_at=body.get("exp"),
            resource=body.get("aud"),
            subject=body.get("sub"),
            claims={"iss": body.get("iss")},
        )


class MemoryStorage:
    """The SDK's ``TokenStorage``, in memory (a real client would keep it on disk)."""

    def __init__(self) -> None:
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        remember_secret(tokens.access_token)
        remember_secret(tokens.refresh_token)
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class McpServerThread:
    def __init__(self, app, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the MCP server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def _bytes_hosts_mapped():
    """anyio (under httpx2) resolves IDNA-encoded bytes; the test host mapping
    (``tests.support.live.map_test_hosts``) matches str host names, so decode first."""
    mapped = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode("idna")
        return mapped(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = mapped


@pytest.fixture(scope="module")
def mcp_world(
    _bytes_hosts_mapped, django_db_setup, django_db_blocker, live_server_db_name, tmp_path_factory
):
    """A tenant of its own (committed: the live server must see it), a live Gatehouse that
    may fetch documents from loopback, the document server, and the MCP server."""
    from django_tenants.utils import schema_context

    from oauth.client_metadata import ClientMetadata
    from oauth.models import IssuerSettings, RegistrationPolicy
    from oauth.services.clients import client_create
    from tenants.hosts import clear_tenant_host_cache
    from tenants.models import Tenant
    from tests.support.factories import make_user

    tmp = tmp_path_factory.mktemp("mcp")
    docs = DocumentServer("localhost", str(tmp / "ca.pem"))
    mcp_port = free_port()
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    other_url = "https://other.example.com/mcp"
    with django_db_blocker.unblock():
        tenant = provision("mcp-live", "MCP Live")
        with schema_context(tenant.schema):
            IssuerSettings.objects.update(scopes_supported=["openid", SCOPE])
            policy = RegistrationPolicy.load()
            policy.mode = RegistrationPolicy.Mode.OPEN
            policy.documents = RegistrationPolicy.DocumentMode.ANY
            policy.resources = [mcp_url, other_url]
            policy.save()
            rs, rs_secret = client_create(
                metadata=ClientMetadata(name="MCP server", can_introspect=True, scopes=[SCOPE])
            )
        user = make_user(tenant, f"mcp-user-{uuid.uuid4().hex[:6]}")
        connection.set_schema_to_public()
    remember_secret(rs_secret)
    live = LiveServer(
        live_server_db_name,
        tmp,
        workers=1,
        env={
            "GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK": "true",
            "GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE": docs.ca_path,
        },
        name="gunicorn-mcp",
    )
    issuer = live.issuer(tenant.host)
    app = MCPServer(
        name="calculator",
        token_verifier=IntrospectionVerifier(f"{issuer}/oauth/introspect", rs.client_id, rs_secret),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=mcp_url,
            required_scopes=[SCOPE],
            validate_token_resource=True,
        ),
    )

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    server = McpServerThread(app.streamable_http_app(), mcp_port)
    world = {
        "tenant": tenant,
        "live": live,
        "issuer": issuer,
        "mcp_url": mcp_url,
        "other_url": other_url,
        "docs": docs,
        "user": user,
    }
    yield world
    server.stop()
    live.stop()
    docs.stop()
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        Tenant.objects.get(slug=tenant.slug).delete(force_drop=True)
        clear_tenant_host_cache()


def _provider(world, *, client_metadata_url: str | None = None):
    callback = f"http://127.0.0.1:{free_port()}/callback"
    browser = Browser(
        world["live"], world["tenant"], world["user"].username, world["user"].raw_password
    )
    redirects: list[str] = []

    async def redirect_handler(url: str) -> None:
        redirects.append(await anyio.to_thread.run_sync(browser.authorize, url))

    async def callback_handler() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirects[-1]).query).items()}
        return AuthorizationCodeResult(
            code=remember_secret(query["code"]), state=query.get("state"), iss=query.get("iss")
        )

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=world["mcp_url"],
        client_metadata=OAuthClientMetadata(
            client_name="SDK test client",
            redirect_uris=[callback],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope=SCOPE,
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )
    return provider, storage, browser, callback


async def _call_add(world, provider) -> int:
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(world["mcp_url"], http_client=http)) as client:
            result = await client.call_tool("add", {"a": 2, "b": 3})
    assert not result.is_error, result
    return int(result.content[0].text)


def _introspect(world, token: str) -> dict:
    from django_tenants.utils import schema_context

    from oauth import selectors

    with schema_context(world["tenant"].schema):
        found = selectors.token_by_value(value=token)
        assert found is not None
        row, _kind = found
        return {"aud": row.audience, "client_id": row.client.client_id}


def _clients(world):
    from django_tenants.utils import schema_context

    from oauth.models import Client as OAuthClient

    with schema_context(world["tenant"].schema):
        rows = list(OAuthClient.objects.values_list("client_id", "registration"))
    connection.set_schema_to_public()
    return rows


def test_the_sdk_registers_signs_in_and_calls_a_tool(mcp_world, django_db_blocker):
    provider, storage, browser, _callback = _provider(mcp_world)
    assert anyio.run(_call_add, mcp_world, provider) == 5
    assert browser.pages == ["login", "consent"]
    client_id = storage.client_info.client_id
    with django_db_blocker.unblock():
        assert (client_id, "dynamic") in _clients(mcp_world)
        token = _introspect(mcp_world, storage.tokens.access_token)
        connection.set_schema_to_public()
    assert token == {"aud": mcp_world["mcp_url"], "client_id": client_id}


def test_the_sdk_uses_a_client_id_metadata_document(mcp_world, django_db_blocker):
    docs = mcp_world["docs"]
    path = docs.new_path()
    url = docs.url(path)
    provider, storage, browser, callback = _provider(mcp_world, client_metadata_url=url)
    docs.serve_json(
        path,
        {
            "client_id": url,
            "client_name": "SDK document client",
            "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
        **{"Cache-Control": "max-age=600"},
    )
    with django_db_blocker.unblock():
        before = {c for c, kind in _clients(mcp_world) if kind == "dynamic"}
    assert anyio.run(_call_add, mcp_world, provider) == 5
    assert storage.client_info.client_id == url
    assert docs.hits[path] == 1
    with django_db_blocker.unblock():
        rows = _clients(mcp_world)
        assert (url, "document") in rows
        assert {c for c, kind in rows if kind == "dynamic"} == before  # nothing registered
        assert _introspect(mcp_world, storage.tokens.access_token)["aud"] == mcp_world["mcp_url"]
        connection.set_schema_to_public()


def test_a_token_bound_to_another_resource_is_refused(mcp_world):
    """A client of the same tenant gets a token for another resource: the MCP server refuses
    it (its audience is not this server), and the same client's token for this server works."""
    live, tenant, issuer = mcp_world["live"], mcp_world["tenant"], mcp_world["issuer"]
    callback = f"http://127.0.0.1:{free_port()}/callback"
    registered = requests.post(
        f"{issuer}/oauth/register",
        json={
            "redirect_uris": [callback],
            "token_endpoint_auth_method": "none",
            "scope": SCOPE,
            "grant_types": ["authorization_code"],
        },
        timeout=10,
    ).json()
    remember_secret(registered["registration_access_token"])
    user = mcp_world["user"]

    def token_for(resource: str) -> str:
        from tests.support.factories import pkce_pair

        verifier, challenge = pkce_pair()
        browser = Browser(live, tenant, user.username, user.raw_password)
        location = browser.authorize(
            f"{issuer}/oauth/authorize?"
            + requests.compat.urlencode(
                {
                    "response_type": "code",
                    "client_id": registered["client_id"],
                    "redirect_uri": callback,
                    "scope": SCOPE,
                    "state": "s",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "resource": resource,
                }
            )
        )
        code = remember_secret(parse_qs(urlsplit(location).query)["code"][0])
        body = requests.post(
            f"{issuer}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback,
                "client_id": registered["client_id"],
                "code_verifier": verifier,
                "resource": resource,
            },
            timeout=10,
        ).json()
        return remember_secret(body["access_token"])

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    other = token_for(mcp_world["other_url"])
    refused = requests.post(
        mcp_world["mcp_url"],
        json=initialize,
        headers={**headers, "Authorization": f"Bearer {other}"},
        timeout=10,
    )
    assert refused.status_code == 401, refused.text
    assert "resource_metadata" in refused.headers.get("WWW-Authenticate", "")
    right = token_for(mcp_world["mcp_url"])
    accepted = requests.post(
        mcp_world["mcp_url"],
        json=initialize,
        headers={**headers, "Authorization": f"Bearer {right}"},
        timeout=10,
    )
    assert accepted.status_code == 200, accepted.text
