"""Configuring PAR and request objects: the console's client form ("Require PAR", the request
object alg) and tenant settings ("Require PAR for every client"), the CLI
(``register_client --require-par --request-object-signing-alg``, ``set_issuer_policy
--require-par``) and dynamic registration (RFC 7591 with RFC 9101 §10.5 / RFC 9126 §6
members); each change audited, each tenant's on its own."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey

from tests.oauth.console.test_clients import _edit_data, _events
from tests.oauth.console.test_console import _staff_client
from tests.oauth.console.test_settings import VALID, _audit, _settings
from tests.oauth.registration.helpers import register, set_policy
from tests.support.factories import assert_error, make_web_client, register_client_cli

pytestmark = pytest.mark.django_db


def _row(tenant, client_id: str):
    from oauth.models import Client

    with tenant.context():
        return Client.objects.get(client_id=client_id)


def test_console_client_form_sets_require_par_and_the_request_object_alg(tenant_a):
    key = ECKey.generate_key("P-256", parameters={"kid": "console-ro"})
    web = make_web_client(
        tenant_a, name="Portal", scopes=["openid", "api"], jwks={"keys": [key.as_dict()]}
    )
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/edit/"
    page = admin.get(url)
    assert b"Require PAR" in page.content and b'name="request_object_signing_alg"' in page.content
    bad = admin.post(url, _edit_data(request_object_signing_alg="none"))
    assert bad.status_code == 400 and b"Select a valid choice" in bad.content
    keys = json.dumps({"keys": [key.as_dict()]})
    saved = admin.post(
        url,
        _edit_data(
            require_pushed_authorization_requests="on",
            request_object_signing_alg="ES256",
            jwks=keys,
        ),
    )
    assert saved.status_code == 302, saved.content[:2000]
    row = _row(tenant_a, web.client_id)
    assert row.require_pushed_authorization_requests is True
    assert row.request_object_signing_alg == "ES256"
    assert row.jwks == {"keys": [key.as_dict()]}
    detail = admin.get(f"/console/clients/{web.client_id}/").content.decode()
    assert '<td id="require-par">required</td>' in detail
    assert '<td id="request-object-alg">accepted, signed ES256</td>' in detail
    (event,) = _events(tenant_a, "client.updated", web.client_id)
    assert event.changes["require_par"] == {"old": False, "new": True}
    assert event.changes["request_object_alg"] == {"old": "", "new": "ES256"}
    # Off again.
    admin.post(url, _edit_data(jwks=keys))
    row = _row(tenant_a, web.client_id)
    assert not row.require_pushed_authorization_requests and not row.request_object_signing_alg


def test_console_settings_require_par_for_the_tenant_only(tenant_a, tenant_b):
    admin = _staff_client(tenant_a)
    page = admin.get("/console/settings/")
    assert b'name="require_pushed_authorization_requests"' in page.content
    saved = admin.post(
        "/console/settings/", {**VALID, "require_pushed_authorization_requests": "on"}
    )
    assert saved.status_code == 302
    assert _settings(tenant_a).require_pushed_authorization_requests is True
    assert _settings(tenant_b).require_pushed_authorization_requests is False
    [event] = _audit(tenant_a, "settings.updated")
    assert event.changes["require_pushed_authorization_requests"] == {"old": False, "new": True}
    meta = tenant_a.client().get("/.well-known/openid-configuration").json()
    assert meta["require_pushed_authorization_requests"] is True


def test_cli_registers_a_client_that_must_push(tenant_a):
    result = register_client_cli(
        "--tenant", tenant_a.slug, "--name", "CLI par",
        "--redirect-uri", "https://app.example.com/cb", "--require-par",
    )  # fmt: skip
    assert _row(tenant_a, result["client_id"]).require_pushed_authorization_requests is True
    with pytest.raises(CommandError, match="needs the client's keys"):
        call_command(
            "register_client", "--tenant", tenant_a.slug, "--name", "x",
            "--redirect-uri", "https://app.example.com/cb",
            "--request-object-signing-alg", "ES256", stdout=StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError):
        call_command(
            "register_client", "--tenant", tenant_a.slug, "--name", "x",
            "--request-object-signing-alg", "none", stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip


def test_cli_sets_the_tenants_par_policy_audited(tenant_a, tenant_b):
    out = StringIO()
    call_command(
        "set_issuer_policy", "--tenant", tenant_a.slug, "--require-par", "--json", stdout=out
    )
    assert json.loads(out.getvalue()) == {
        "tenant": tenant_a.slug,
        "require_pushed_authorization_requests": True,
        "dpop_nonce_required": False,
    }
    assert _settings(tenant_a).require_pushed_authorization_requests is True
    assert _settings(tenant_b).require_pushed_authorization_requests is False
    [event] = _audit(tenant_a, "settings.updated")
    assert event.actor_label == "operator command set_issuer_policy"
    out = StringIO()
    call_command(
        "set_issuer_policy", "--tenant", tenant_a.slug, "--no-require-par", "--json", stdout=out
    )
    assert json.loads(out.getvalue())["require_pushed_authorization_requests"] is False
    with pytest.raises(CommandError, match="no tenant"):
        call_command("set_issuer_policy", "--tenant", "nope", "--require-par", stdout=StringIO())


def test_registration_takes_the_alg_with_keys_and_require_par(tenant_a):
    set_policy(tenant_a, mode="open")
    key = ECKey.generate_key("P-256", parameters={"kid": "dcr-ro"})
    body = {
        "client_name": "Registered",
        "redirect_uris": ["https://app.example.com/cb"],
        "jwks": {"keys": [key.as_dict(private=False)]},
        "request_object_signing_alg": "ES256",
        "require_pushed_authorization_requests": True,
    }
    answer = register(tenant_a, body)
    assert answer.status_code == 201, answer.content
    registered = answer.json()
    assert registered["request_object_signing_alg"] == "ES256"
    assert registered["require_pushed_authorization_requests"] is True
    row = _row(tenant_a, registered["client_id"])
    assert row.request_object_signing_alg == "ES256" and row.require_pushed_authorization_requests
    for change in (
        {"request_object_signing_alg": "none"},
        {"request_object_signing_alg": "ES256", "jwks": None},
        {"require_pushed_authorization_requests": "yes"},
    ):
        refused = register(tenant_a, {**body, **change})
        assert_error(refused, 400, "invalid_client_metadata")
