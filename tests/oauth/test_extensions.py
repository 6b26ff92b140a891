"""Seams left for the OIDC layer: code-grant extensions at both endpoints, the metadata
function, and the proxy-aware client IP of the login throttle."""

import pytest

from tests.support.factories import (
    exchange_code,
    get_code,
    make_user,
    make_web_client,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db


class RecordingExtension:
    """Shaped like Authlib's OpenIDCode: hooks registered per grant instance."""

    def __init__(self):
        self.consent_checked = []

    def __call__(self, grant):
        grant.register_hook("after_validate_consent_request", self.on_consent)
        grant.register_hook("after_create_token_response", self.on_token)

    def on_consent(self, grant, redirect_uri):
        self.consent_checked.append(redirect_uri)

    def on_token(self, grant, response):
        _status, token, _headers = response
        code = grant.request.authorization_code
        token["extension_saw"] = f"{code.get_nonce()}|{grant.request.user.pk}"


def test_code_grant_extensions_run_at_both_endpoints(tenant_a, monkeypatch):
    from oauth import server

    extension = RecordingExtension()
    monkeypatch.setattr(server, "CODE_GRANT_EXTENSIONS", server.CODE_GRANT_EXTENSIONS)
    server.CODE_GRANT_EXTENSIONS.append(extension)
    try:
        client = make_web_client(tenant_a)
        user = make_user(tenant_a)
        code = get_code(tenant_a, signed_in(tenant_a, user), client, nonce="abc")
        body = remember_tokens(exchange_code(tenant_a, client, code).json())
    finally:
        server.CODE_GRANT_EXTENSIONS.remove(extension)
    assert extension.consent_checked == [client.redirect_uris[0]] * 2  # page, then decision
    assert body["extension_saw"] == f"abc|{user.pk}"


def test_metadata_function_is_reusable(tenant_a, rf):
    from oauth.selectors import authorization_server_metadata
    from tenants.selectors import tenant_for_host

    request = rf.get("/", HTTP_HOST=tenant_a.host, secure=True)
    request.tenant = tenant_for_host(tenant_a.host)  # as the routing middleware sets it
    doc = authorization_server_metadata(request)
    assert doc["issuer"] == tenant_a.issuer
    assert doc["token_endpoint"] == f"{tenant_a.issuer}/oauth/token"


@pytest.mark.parametrize(
    "hops,forwarded,expected",
    [
        (0, "203.0.113.9", "10.0.0.2"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        (2, "198.51.100.1, 203.0.113.9", "198.51.100.1"),
        (2, "203.0.113.9", "10.0.0.2"),
    ],
)
def test_client_ip_behind_trusted_proxies(rf, settings, hops, forwarded, expected):
    from kernel.http import client_ip

    settings.GATEHOUSE = {**settings.GATEHOUSE, "TRUSTED_PROXY_COUNT": hops}
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
