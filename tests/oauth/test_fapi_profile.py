"""The FAPI 2.0 profile's parts owned by client authentication and signing: PS256 keys made
on first need and rotated with the others, PS256/ES256 (never RS256) JWTs for FAPI clients,
the capped code lifetime, the tenant and client settings through the console, the CLI and
RFC 7591 registration, each audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError
from joserfc.jwk import ECKey

from tests.oauth.console.test_console import _staff_client
from tests.oauth.registration.helpers import register, set_policy
from tests.support.factories import (
    assert_error,
    make_client,
    make_user,
    make_web_client,
    register_client_cli,
)

pytestmark = pytest.mark.django_db


def _public_set() -> dict:
    return {"keys": [ECKey.generate_key("P-256", parameters={"kid": "e1"}).as_dict()]}


def _fapi_web_client(tenant, **options):
    options.setdefault("auth_method", "private_key_jwt")
    options.setdefault("jwks", {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]})
    options.setdefault("security_profile", "fapi2")
    return make_web_client(tenant, **options)


def _row(client):
    from oauth.models import Client

    with client.tenant.context():
        return Client.objects.get(pk=client.pk)


def _header(token: str) -> dict:
    from oauth.signing.jws import unverified_header

    return unverified_header(token)


def test_ps256_keys_are_made_on_first_need_published_and_rotated(tenant_a, tenant_b):
    from oauth.models import SigningKey
    from oauth.signing import jws, selectors, services

    with tenant_b.context():
        SigningKey.objects.filter(alg="PS256").delete()  # as a tenant provisioned today
        assert {k["alg"] for k in selectors.jwks_document()["keys"]} == {"RS256", "ES256"}
        token = jws.sign_jwt({"sub": "x", "exp": _soon()}, alg="PS256")
        ps = SigningKey.objects.filter(alg="PS256")
        assert sorted(ps.values_list("state", flat=True)) == ["current", "next"]
        published = {k["kid"]: k["alg"] for k in selectors.jwks_document()["keys"]}
        assert {k.kid for k in ps} <= set(published) and _header(token)["alg"] == "PS256"
        assert _header(token)["kid"] == ps.get(state="current").kid
        assert jws.verify_jwt(token)["sub"] == "x"
        # The PS256 key is its own RSA key: no kid shared with the RS256 one.
        rs_kids = set(SigningKey.objects.filter(alg="RS256").values_list("kid", flat=True))
        assert not rs_kids & {k.kid for k in ps}
        outcome = services.rotate(force=True)
        assert set(outcome.current) == {"RS256", "ES256", "PS256"}
        assert outcome.retiring["PS256"] == _header(token)["kid"]
        assert jws.verify_jwt(token)["sub"] == "x"  # retiring keys still verify
    with tenant_a.context():  # tenants are walls: B's PS256 keys are nothing to A
        assert _header(token)["kid"] not in {k["kid"] for k in selectors.jwks_document()["keys"]}
        with pytest.raises(jws.JWTVerificationError):
            jws.verify_jwt(token)


def _soon() -> int:
    import time

    return int(time.time()) + 300


def test_fapi_clients_get_ps256_or_es256_jwts_never_rs256(tenant_a):
    from oauth.oidc.tokens import (
        access_token_alg,
        build_id_token,
        build_jwt_access_token,
        id_token_alg,
    )
    from oauth.signing.jws import verify_jwt

    plain = _row(make_web_client(tenant_a))
    fapi = _row(_fapi_web_client(tenant_a))
    fapi_es = _row(_fapi_web_client(tenant_a, id_token_signed_response_alg="ES256"))
    user = make_user(tenant_a)
    with tenant_a.context():
        assert id_token_alg(plain) == "RS256" and access_token_alg(plain) == "RS256"
        assert id_token_alg(fapi) == "PS256" and access_token_alg(fapi) == "PS256"
        assert id_token_alg(fapi_es) == "ES256" and access_token_alg(fapi_es) == "ES256"
        token = build_id_token(
            issuer=tenant_a.issuer, client=fapi, user=user, auth_time=0, access_token="a" * 43
        )
        assert _header(token)["alg"] == "PS256"
        assert verify_jwt(token)["aud"] == fapi.client_id
        for client, alg in ((fapi, "PS256"), (fapi_es, "ES256"), (plain, "RS256")):
            access, _ = build_jwt_access_token(
                issuer=tenant_a.issuer,
                client=client,
                user=None,
                scope="api",
                audience=tenant_a.issuer,
                expires_in=300,
            )
            assert _header(access)["alg"] == alg and _header(access)["typ"] == "at+jwt"
            assert verify_jwt(access, typ="at+jwt")["client_id"] == client.client_id


def test_fapi_code_lifetime_is_capped_at_60_seconds(tenant_a):
    from django.utils import timezone

    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache
    from oauth.services.codes import authorization_code_create

    plain = _row(make_web_client(tenant_a))
    fapi = _row(_fapi_web_client(tenant_a))
    user = make_user(tenant_a)
    with tenant_a.context():
        IssuerSettings.objects.update(authorization_code_lifetime=600)
        clear_issuer_policy_cache()
        lifetimes = {}
        for client in (plain, fapi):
            row = authorization_code_create(
                code=f"code-{client.pk}-" + "c" * 40,
                client=client,
                user=user,
                redirect_uri=client.redirect_uris[0],
                scope="openid",
                auth_time=timezone.now(),
            )
            lifetimes[client.pk] = row.expires_at - row.created_at
        clear_issuer_policy_cache()
    assert lifetimes[plain.pk] == timedelta(seconds=600)
    assert lifetimes[fapi.pk] == timedelta(seconds=60)


def test_tenant_profile_in_the_console_is_audited_and_makes_ps256_keys(tenant_b):
    from kernel.audit.models import AuditEvent
    from oauth.models import IssuerSettings, SigningKey
    from oauth.selectors import clear_issuer_policy_cache

    admin = _staff_client(tenant_b)
    page = admin.get("/console/settings/")
    assert b'name="security_profile"' in page.content
    data = {
        name: value
        for name, value in page.context["form"].initial.items()
        if value is not None and name != "security_profile"
    }
    with tenant_b.context():
        SigningKey.objects.filter(alg="PS256").delete()
    saved = admin.post("/console/settings/", {**data, "security_profile": "fapi2"})
    assert saved.status_code == 302, saved.content[:3000]
    with tenant_b.context():
        assert IssuerSettings.load().security_profile == "fapi2"
        assert SigningKey.objects.filter(alg="PS256", state="current").exists()
        event = AuditEvent.objects.filter(action="settings.updated").latest("pk")
        assert event.changes["security_profile"] == {"old": "", "new": "fapi2"}
        IssuerSettings.objects.update(security_profile="")
        clear_issuer_policy_cache()


def test_console_registers_and_edits_a_private_key_jwt_client(tenant_a):
    import re

    from oauth.models import Client

    admin = _staff_client(tenant_a)
    form = admin.get("/console/clients/")
    once = re.search(rb'name="once" value="([^"]+)"', form.content).group(1).decode()
    jwks = _public_set()
    created = admin.post(
        "/console/clients/",
        {
            "name": "Keyed",
            "kind": "service",
            "scopes": "api",
            "auth_method": "private_key_jwt",
            "jwks": json.dumps(jwks),
            "token_endpoint_auth_signing_alg": "ES256",
            "once": once,
        },
    )
    assert created.status_code == 302, created.content[:3000]  # no secret to show
    with tenant_a.context():
        row = Client.objects.get(name="Keyed")
    assert row.token_endpoint_auth_method == "private_key_jwt" and row.jwks == jwks
    assert row.secret_digest == "" and row.token_endpoint_auth_signing_alg == "ES256"
    url = f"/console/clients/{row.client_id}/edit/"
    initial = admin.get(url).context["form"].initial
    data = {k: v for k, v in initial.items() if v is not None}
    data["grant_types"] = row.grant_types
    moved = admin.post(
        url,
        {
            **data,
            "jwks": "",
            "jwks_uri": "https://keys.example.com/jwks.json",
            "security_profile": "fapi2",
        },
    )
    assert moved.status_code == 302, moved.content[:3000]
    with tenant_a.context():
        row.refresh_from_db()
    assert row.jwks is None and row.jwks_uri == "https://keys.example.com/jwks.json"
    assert row.security_profile == "fapi2"
    detail = admin.get(f"/console/clients/{row.client_id}/")
    assert b"https://keys.example.com/jwks.json" in detail.content
    assert b"FAPI 2.0 Security Profile" in detail.content
    assert b"Rotate secret" not in detail.content  # a private_key_jwt client has none
    bad = admin.post(url, {**data, "jwks": "{not json"})
    assert bad.status_code == 400 and b"JWK Set as JSON" in bad.content
    downgrade = admin.post(
        url, {**data, "security_profile": "fapi2", "auth_method": "client_secret_basic"}
    )
    assert downgrade.status_code == 400 and b"FAPI 2.0 profile needs" in downgrade.content


def test_cli_registers_key_clients_and_sets_profiles(tenant_a, tmp_path):
    from django.core.management import call_command

    from kernel.audit.models import AuditEvent
    from oauth.models import Client, IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache

    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_public_set()))
    made = register_client_cli(
        "--tenant", tenant_a.slug, "--name", "CLI keyed",
        "--auth-method", "private_key_jwt", "--jwks", str(path),
        "--auth-signing-alg", "ES256", "--security-profile", "fapi2",
    )  # fmt: skip
    assert made["client_secret"] is None
    by_uri = register_client_cli(
        "--tenant", tenant_a.slug, "--name", "CLI by URI",
        "--auth-method", "private_key_jwt", "--jwks-uri", "https://keys.example.com/k.json",
    )  # fmt: skip
    hmac = register_client_cli(
        "--tenant", tenant_a.slug, "--name", "CLI hmac", "--auth-method", "client_secret_jwt"
    )
    assert hmac["client_secret"]
    with tenant_a.context():
        row = Client.objects.get(client_id=made["client_id"])
        assert row.jwks["keys"][0]["kid"] == "e1" and row.security_profile == "fapi2"
        assert Client.objects.get(client_id=by_uri["client_id"]).jwks_uri.endswith("/k.json")
        assert Client.objects.get(client_id=hmac["client_id"]).secret_ciphertext
    with pytest.raises(CommandError, match="not a readable JSON file"):
        register_client_cli("--tenant", tenant_a.slug, "--name", "X", "--jwks", "/nonexistent")
    with pytest.raises(CommandError, match="FAPI 2.0 profile needs"):
        register_client_cli("--tenant", tenant_a.slug, "--name", "X", "--security-profile", "fapi2")

    def profile(*args):
        from io import StringIO

        out = StringIO()
        call_command("set_security_profile", "--tenant", tenant_a.slug, *args, "--json", stdout=out)
        return json.loads(out.getvalue())

    assert profile("--profile", "none", "--client", made["client_id"])["client_id"]
    tenant_wide = profile("--profile", "fapi2")
    assert tenant_wide["tenant"] == tenant_a.slug and tenant_wide["profile"] == "fapi2"
    assert tenant_wide["client_id"] is None
    # Clients that will be refused under FAPI 2.0 are listed; key clients are not.
    assert hmac["client_id"] in tenant_wide["clients_not_fapi2"]
    assert made["client_id"] not in tenant_wide["clients_not_fapi2"]
    with tenant_a.context():
        assert Client.objects.get(client_id=made["client_id"]).security_profile == ""
        assert IssuerSettings.load().security_profile == "fapi2"
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"client.updated", "settings.updated"} <= actions
        IssuerSettings.objects.update(security_profile="")
        clear_issuer_policy_cache()
    with pytest.raises(CommandError, match="no client"):
        profile("--profile", "fapi2", "--client", "nobody")


def test_rfc7591_registration_of_a_key_client_and_fapi_refusal(tenant_b):
    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache

    set_policy(tenant_b, mode="open")
    jwks = _public_set()
    body = {
        "client_name": "Keyed app",
        "redirect_uris": ["https://app.example.com/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": jwks,
    }
    response = register(tenant_b, body)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["token_endpoint_auth_method"] == "private_key_jwt"
    assert answer["jwks"] == jwks and answer["token_endpoint_auth_signing_alg"] == "ES256"
    assert "client_secret" not in answer
    bad_alg = register(tenant_b, {**body, "token_endpoint_auth_signing_alg": "HS256"})
    assert_error(bad_alg, 400, "invalid_client_metadata")
    with tenant_b.context():
        IssuerSettings.objects.update(security_profile="fapi2")
        clear_issuer_policy_cache()
    try:
        basic = {**body, "token_endpoint_auth_method": "client_secret_basic"}
        basic.pop("jwks")
        basic.pop("token_endpoint_auth_signing_alg")
        refused = assert_error(register(tenant_b, basic), 400, "invalid_client_metadata")
        assert "FAPI 2.0" in refused["error_description"]
        assert register(tenant_b, body).status_code == 201
    finally:
        with tenant_b.context():
            IssuerSettings.objects.update(security_profile="")
            clear_issuer_policy_cache()


def test_a_fapi_client_elsewhere_changes_nothing_here(tenant_a, tenant_b):
    """Tenants are walls: a FAPI client or tenant profile at A leaves B's plain clients alone."""
    from oauth.security_profile import requirements

    _fapi_web_client(tenant_a)
    plain_b = _row(make_client(tenant_b))
    with tenant_b.context():
        assert not requirements(plain_b).fapi2


def test_client_secret_jwt_secrets_are_reencrypted_with_the_newest_key(tenant_a, settings):
    from cryptography.fernet import Fernet

    from oauth.client_assertion import client_secret_key
    from oauth.models import Client
    from oauth.services.clients import client_secrets_reencrypt

    made = make_client(tenant_a, auth_method="client_secret_jwt")
    old = settings.GATEHOUSE["KEY_ENCRYPTION_KEYS"][0]
    new = Fernet.generate_key().decode()
    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": [new, old]}
    with tenant_a.context():
        assert client_secrets_reencrypt() >= 1
    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": [new]}
    with tenant_a.context():
        row = Client.objects.get(pk=made.pk)
        assert client_secret_key(row).raw_value == made.secret.encode()
