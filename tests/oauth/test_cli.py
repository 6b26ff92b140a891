"""``manage.py register_client`` (DESIGN.md §5)."""

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.support.factories import (
    RegisteredClient,
    assert_error,
    client_credentials_token,
    token_request,
)
from tests.support.factories import register_client_cli as register

pytestmark = pytest.mark.django_db


def test_registers_a_confidential_client_whose_secret_works(tenant_a):
    result = register("--tenant", tenant_a.slug, "--name", "Billing", "--scope", "api read")
    assert set(result) == {"client_id", "client_secret", "tenant"}
    assert result["tenant"] == tenant_a.slug
    client = RegisteredClient(result["client_id"], result["client_secret"], 0, tenant_a)
    assert client_credentials_token(tenant_a, client)["scope"] == "api read"


def test_every_option_is_stored(tenant_a):
    from oauth.models import Client

    result = register(
        "--tenant", tenant_a.slug,
        "--name", "Portal",
        "--grant-type", "authorization_code",
        "--grant-type", "refresh_token",
        "--redirect-uri", "https://portal.example.com/cb",
        "--redirect-uri", "http://127.0.0.1/cb",
        "--scope", "openid api",
        "--auth-method", "client_secret_post",
        "--can-introspect",
        "--resource", "https://api.example.com",
        "--cors-origin", "https://portal.example.com",
        "--access-token-lifetime", "300",
        "--refresh-token-lifetime", "86400",
        "--access-token-format", "jwt",
    )  # fmt: skip
    with tenant_a.context():
        client = Client.objects.get(client_id=result["client_id"])
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.response_types == ["code"]
    assert client.redirect_uris == ["https://portal.example.com/cb", "http://127.0.0.1/cb"]
    assert client.scopes == ["openid", "api"]
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.can_introspect and client.resources == ["https://api.example.com"]
    assert client.cors_origins == ["https://portal.example.com"]
    assert (client.access_token_lifetime, client.refresh_token_lifetime) == (300, 86400)
    assert client.access_token_format == "jwt"
    assert result["client_secret"] not in repr(client.__dict__)


def test_public_client_has_no_secret(tenant_b):
    result = register(
        "--tenant", tenant_b.slug,
        "--name", "CLI app",
        "--auth-method", "none",
        "--redirect-uri", "http://127.0.0.1/callback",
    )  # fmt: skip
    assert result["client_secret"] is None
    assert result["tenant"] == tenant_b.slug


def test_client_is_registered_in_its_tenant_only(tenant_a, tenant_b):
    result = register("--tenant", tenant_a.slug, "--name", "Only A")
    client = RegisteredClient(result["client_id"], result["client_secret"], 0, tenant_b)
    response = token_request(tenant_b, {"grant_type": "client_credentials"}, client)
    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--tenant", "nope"], "no tenant 'nope'"),
        (["--redirect-uri", "http://app.example.com/cb"], "redirect URI"),
        (["--redirect-uri", "https://app.example.com/cb#frag"], "fragment"),
        (["--auth-method", "none"], "public client"),
        (["--grant-type", "authorization_code"], "redirect-uri"),
        (["--cors-origin", "https://app.example.com/path"], "CORS origin"),
        (["--access-token-lifetime", "0"], "lifetime"),
        (["--scope", 'bad"scope'], "invalid scope"),
    ],
)
def test_bad_input_is_a_one_line_error(tenant_a, args, message):
    base = ["--tenant", tenant_a.slug, "--name", "X"]
    with pytest.raises(CommandError, match=message):
        call_command("register_client", *base, *args, "--json", stdout=StringIO())


def test_cli_process_exits_non_zero_with_one_line(live_server_db_name, two_tenants):
    from tests.support.live import REPO, service_env

    proc = subprocess.run(
        [sys.executable, "manage.py", "register_client", "--tenant", "nope", "--name", "X"],
        cwd=REPO,
        env=service_env(live_server_db_name),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["CommandError: no tenant 'nope'"]
