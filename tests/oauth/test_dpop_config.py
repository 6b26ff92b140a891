"""Where a client is made DPoP-only (RFC 9449 §5.2 ``dpop_bound_access_tokens``): the CLI,
the console's client form and dynamic registration; and the tenant's nonce setting."""

import pytest

from tests.oauth.console.test_clients import _edit_data
from tests.oauth.console.test_console import _staff_client
from tests.oauth.registration.helpers import native_client_body, register, set_policy
from tests.support.dpop import DPoPKey
from tests.support.factories import RegisteredClient, assert_error, make_web_client, token_request
from tests.support.factories import register_client_cli as register_cli
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}


def _row(tenant, client_id: str):
    from oauth.models import Client

    with tenant.context():
        return Client.objects.get(client_id=client_id)


def test_cli_dpop_flag_makes_a_dpop_only_client(tenant_a):
    result = register_cli("--tenant", tenant_a.slug, "--name", "Bank API client", "--dpop")
    assert _row(tenant_a, result["client_id"]).dpop_bound_access_tokens
    client = RegisteredClient(result["client_id"], result["client_secret"], 0, tenant_a)
    assert_error(token_request(tenant_a, CC, client), 400, "invalid_dpop_proof")
    proof = DPoPKey().proof("POST", tenant_a.issuer + "/oauth/token")
    response = token_request(tenant_a, CC, client, HTTP_DPOP=proof)
    assert response.status_code == 200, response.content
    assert (
        remember_secret(response.json()["access_token"]) and response.json()["token_type"] == "DPoP"
    )
    plain = register_cli("--tenant", tenant_a.slug, "--name", "Plain")
    assert not _row(tenant_a, plain["client_id"]).dpop_bound_access_tokens


def test_console_checkbox(tenant_a):
    web = make_web_client(tenant_a, name="Portal", scopes=["openid", "api"])
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/edit/"
    assert b"DPoP-bound access tokens" in admin.get(url).content
    saved = admin.post(url, _edit_data(dpop_bound_access_tokens="on"))
    assert saved.status_code == 302, saved.content[:2000]
    assert _row(tenant_a, web.client_id).dpop_bound_access_tokens
    detail = admin.get(f"/console/clients/{web.client_id}/")
    assert b"DPoP-bound access tokens" in detail.content
    assert admin.get(url).context["form"].initial["dpop_bound_access_tokens"] is True
    admin.post(url, _edit_data())
    assert not _row(tenant_a, web.client_id).dpop_bound_access_tokens


def test_new_client_form_checkbox(tenant_a):
    admin = _staff_client(tenant_a)
    data = {"name": "Service", "kind": "service", "scopes": "api", "dpop_bound_access_tokens": "on"}
    response = admin.post("/console/clients/", data)
    assert response.status_code == 200, response.content[:2000]
    from oauth.models import Client

    with tenant_a.context():
        assert Client.objects.get(name="Service").dpop_bound_access_tokens


def test_registration_endpoint_takes_dpop_bound_access_tokens(tenant_a):
    set_policy(tenant_a, mode="open")
    response = register(tenant_a, native_client_body(dpop_bound_access_tokens=True))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["dpop_bound_access_tokens"] is True
    assert _row(tenant_a, body["client_id"]).dpop_bound_access_tokens
    plain = register(tenant_a, native_client_body()).json()
    assert "dpop_bound_access_tokens" not in plain
    bad = register(tenant_a, native_client_body(dpop_bound_access_tokens="yes"))
    assert_error(bad, 400, "invalid_client_metadata")


def test_console_settings_turn_server_nonces_on(tenant_a, tenant_b):
    from oauth.models import IssuerSettings
    from tests.oauth.console.test_settings import VALID
    from tests.oauth.console.test_settings import _staff_client as _settings_admin

    admin = _settings_admin(tenant_a)
    assert b'name="dpop_nonce_required"' in admin.get("/console/settings/").content
    try:
        saved = admin.post("/console/settings/", {**VALID, "dpop_nonce_required": "on"})
        assert saved.status_code == 302, saved.content[:2000]
        with tenant_a.context():
            assert IssuerSettings.load().dpop_nonce_required
        with tenant_b.context():
            assert not IssuerSettings.load().dpop_nonce_required
        client = make_web_client(
            tenant_a, grant_types=["client_credentials"], redirect_uris=[], scopes=["api"]
        )
        proof = DPoPKey().proof("POST", tenant_a.issuer + "/oauth/token")
        response = token_request(tenant_a, CC, client, HTTP_DPOP=proof)
        assert_error(response, 400, "use_dpop_nonce")
        assert response["DPoP-Nonce"]
    finally:
        admin.post("/console/settings/", VALID)
    with tenant_a.context():
        assert not IssuerSettings.load().dpop_nonce_required


def test_cli_turns_server_nonces_on_and_off_audited(tenant_a, tenant_b):
    """RFC 9449 §8 by ``set_issuer_policy --dpop-nonce``: the same audited service as the
    console (``issuer_settings_update``); tenant B is untouched; ``--no-dpop-nonce`` undoes."""
    import json
    from io import StringIO

    from django.core.management import call_command

    from tests.oauth.console.test_settings import _audit, _settings

    def cli(*args: str) -> dict:
        out = StringIO()
        call_command("set_issuer_policy", "--tenant", tenant_a.slug, *args, "--json", stdout=out)
        return json.loads(out.getvalue())

    client = make_web_client(
        tenant_a, grant_types=["client_credentials"], redirect_uris=[], scopes=["api"]
    )
    token_url = tenant_a.issuer + "/oauth/token"
    key = DPoPKey()
    try:
        result = cli("--dpop-nonce")
        assert result == {
            "tenant": tenant_a.slug,
            "require_pushed_authorization_requests": False,
            "dpop_nonce_required": True,
        }
        assert _settings(tenant_a).dpop_nonce_required
        assert not _settings(tenant_b).dpop_nonce_required
        [event] = _audit(tenant_a, "settings.updated")
        assert event.actor_label == "operator command set_issuer_policy"
        assert event.changes["dpop_nonce_required"] == {"old": False, "new": True}
        refused = token_request(tenant_a, CC, client, HTTP_DPOP=key.proof("POST", token_url))
        assert_error(refused, 400, "use_dpop_nonce")
        nonce = refused["DPoP-Nonce"]
        retried = token_request(
            tenant_a, CC, client, HTTP_DPOP=key.proof("POST", token_url, nonce=nonce)
        )
        assert retried.status_code == 200, retried.content
        remember_secret(retried.json()["access_token"])
    finally:
        off = cli("--no-dpop-nonce")
    assert off["dpop_nonce_required"] is False and not _settings(tenant_a).dpop_nonce_required
    assert len(_audit(tenant_a, "settings.updated")) == 2
    response = token_request(tenant_a, CC, client, HTTP_DPOP=key.proof("POST", token_url))
    assert response.status_code == 200, response.content
    remember_secret(response.json()["access_token"])


def test_browser_clients_may_send_proofs_and_read_nonces(tenant_a):
    from tests.support.factories import make_client

    app = "https://spa.example.com"
    client = make_client(tenant_a, cors_origins=[app])
    preflight = tenant_a.client().options(
        "/oauth/token",
        HTTP_ORIGIN=app,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="dpop, content-type, authorization",
    )
    assert "DPoP" in preflight["Access-Control-Allow-Headers"]
    proof = DPoPKey().proof("POST", tenant_a.issuer + "/oauth/token")
    response = token_request(tenant_a, CC, client, HTTP_ORIGIN=app, HTTP_DPOP=proof)
    assert response.status_code == 200, response.content
    remember_secret(response.json()["access_token"])
    assert response["Access-Control-Allow-Origin"] == app
    assert "DPoP-Nonce" in response["Access-Control-Expose-Headers"]
