"""The console's tenant settings: the issuer policy through ``issuer_settings_update``,
audited; the allowed scopes enforced at registration and listed by discovery."""

import pytest

from tests.support.factories import make_client
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

VALID = {
    "access_token_lifetime": "900",
    "refresh_token_lifetime": "86400",
    "authorization_code_lifetime": "30",
    "refresh_reuse_window": "5",
    "jwks_max_age": "600",
    "default_access_token_format": "jwt",
    "scopes_supported": "openid profile email offline_access api",
}


def _staff_client(tenant, **kwargs):
    from kernel.accounts.models import User

    client = tenant.client(**kwargs)
    with tenant.context():
        client.force_login(User.objects.get(username=tenant.admin_username))
    return client


def _settings(tenant):
    from oauth.models import IssuerSettings

    with tenant.context():
        return IssuerSettings.load()


def _audit(tenant, action):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_settings_page_saves_through_the_service_with_an_audit_diff(tenant_a, tenant_b):
    client = _staff_client(tenant_a)
    page = client.get("/console/settings/")
    assert page.status_code == 200
    assert b'name="jwks_max_age"' in page.content
    before_b = _settings(tenant_b)

    saved = client.post("/console/settings/", VALID)
    assert saved.status_code == 302 and saved["Location"] == "/console/settings/"  # PRG
    row = _settings(tenant_a)
    assert row.access_token_lifetime == 900
    assert row.authorization_code_lifetime == 30
    assert row.default_access_token_format == "jwt"
    assert row.scopes_supported == ["openid", "profile", "email", "offline_access", "api"]
    [event] = _audit(tenant_a, "settings.updated")
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["access_lifetime"] == {"old": 3600, "new": 900}
    assert event.changes["authorization_grant_lifetime"] == {"old": 60, "new": 30}
    assert event.changes["default_access_format"] == {"old": "opaque", "new": "jwt"}
    assert event.changes["scopes_supported"]["old"] == []
    assert "refresh_lifetime" in event.changes
    assert b"Settings saved." in client.get("/console/settings/").content

    # The same POST again (a reload) changes nothing and records nothing.
    client.post("/console/settings/", VALID)
    assert len(_audit(tenant_a, "settings.updated")) == 1

    after_b = _settings(tenant_b)  # tenant B untouched
    assert after_b.access_token_lifetime == before_b.access_token_lifetime
    assert after_b.scopes_supported == before_b.scopes_supported
    assert _audit(tenant_b, "settings.updated") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("access_token_lifetime", "5", b"greater than or equal to 60"),
        ("access_token_lifetime", "9" * 5000, b"Enter a whole number"),
        ("authorization_code_lifetime", "1\x00", b"Enter a whole number"),
        ("jwks_max_age", "-1", b"greater than or equal to 60"),
        ("default_access_token_format", "saml", b"Select a valid choice"),
        ("scopes_supported", 'api "quoted"', b"is not a valid scope"),
        ("scopes_supported", "a\x00b", b"Null characters are not allowed"),
    ],
)
def test_settings_errors_are_shown_next_to_the_field(tenant_a, field, value, message):
    client = _staff_client(tenant_a)
    page = client.post("/console/settings/", {**VALID, field: value})
    assert page.status_code == 400
    assert message in page.content
    assert b'role="alert"' in page.content
    assert _settings(tenant_a).access_token_lifetime == 3600
    assert _audit(tenant_a, "settings.updated") == []


def test_allowed_scopes_cannot_drop_a_scope_a_client_uses(tenant_a):
    make_client(tenant_a, name="Reporting", scopes=["reports"])
    page = _staff_client(tenant_a).post("/console/settings/", VALID)
    assert page.status_code == 400
    assert "“reports” is used by Reporting".encode() in page.content
    assert _settings(tenant_a).scopes_supported == []


def test_a_scope_outside_the_allowed_ones_is_refused_at_registration(tenant_a, tenant_b):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from oauth.models import Client

    assert _staff_client(tenant_a).post("/console/settings/", VALID).status_code == 302
    console = _staff_client(tenant_a)
    page = console.post(
        "/console/clients/", {"name": "Payroll", "kind": "service", "scopes": "api payroll"}
    )
    assert page.status_code == 400
    assert b"Scope payroll is not among this organisation&#x27;s allowed scopes" in page.content
    with pytest.raises(CommandError, match="scope payroll is not among"):
        call_command(
            "register_client", "--tenant", tenant_a.slug, "--name", "Payroll", "--scope", "payroll"
        )
    with tenant_a.context():
        assert not Client.objects.filter(name="Payroll").exists()
    ok = console.post("/console/clients/", {"name": "Api", "kind": "service", "scopes": "api"})
    assert ok.status_code == 200
    remember_secret(ok.content.split(b'id="new-client-secret">')[1].split(b"<")[0].decode())
    with tenant_a.context():
        # Registered without choosing a format: the tenant's default (jwt, set above).
        assert Client.objects.get(name="Api").access_token_format == "jwt"

    # Tenant B restricts nothing: the same scope is fine there, in its default format.
    other = make_client(tenant_b, name="Payroll", scopes=["payroll"])
    with tenant_b.context():
        assert Client.objects.get(client_id=other.client_id).access_token_format == "opaque"


def test_discovery_lists_the_tenants_allowed_scopes(tenant_a, tenant_b):
    from oauth.oidc.claims import SCOPE_CLAIMS

    path = "/.well-known/openid-configuration"
    assert tenant_a.client().get(path).json()["scopes_supported"] == list(SCOPE_CLAIMS)
    _staff_client(tenant_a).post("/console/settings/", VALID)
    assert tenant_a.client().get(path).json()["scopes_supported"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "api",
    ]
    assert tenant_b.client().get(path).json()["scopes_supported"] == list(SCOPE_CLAIMS)


def test_a_new_tenants_defaults_restrict_to_the_oidc_scopes(tenant_a):
    from oauth.models import IssuerSettings

    with tenant_a.context():
        IssuerSettings.objects.all().delete()
        row = IssuerSettings.load()
    assert row.scopes_supported == ["openid", "profile", "email", "offline_access"]
    assert row.jwks_first_served_at is None


def test_settings_need_an_admin_and_a_csrf_token(tenant_a):
    from kernel.accounts.services import user_create

    assert tenant_a.client().get("/console/settings/").status_code == 302
    client = tenant_a.client()
    with tenant_a.context():
        plain = user_create(username="plain-s", password=remember_secret("plain-user-pw-123"))
        client.force_login(plain)
    assert client.get("/console/settings/").status_code == 403
    assert client.post("/console/settings/", VALID).status_code == 403

    strict = _staff_client(tenant_a, enforce_csrf_checks=True)
    assert strict.post("/console/settings/", VALID).status_code == 403
    assert _settings(tenant_a).access_token_lifetime == 3600


def test_lowering_jwks_max_age_keeps_next_keys_waiting(tenant_a):
    from oauth.models import SigningKey

    with tenant_a.context():
        before = {k.kid: k.published_at for k in SigningKey.objects.filter(state="next")}
    _staff_client(tenant_a).post("/console/settings/", VALID)  # 3600 -> 600
    with tenant_a.context():
        for key in SigningKey.objects.filter(state="next"):
            assert (key.published_at - before[key.kid]).total_seconds() >= 3000


def test_an_edited_client_may_not_gain_a_scope_outside_the_allowed_ones(tenant_a):
    """client_update refuses a new scope the tenant does not allow, and keeps a scope the
    client had before the tenant restricted its list."""
    from oauth.client_metadata import ClientError, ClientMetadata
    from oauth.models import Client, IssuerSettings
    from oauth.services.clients import client_update

    registered = make_client(tenant_a, name="Legacy", scopes=["legacy"])
    with tenant_a.context():
        IssuerSettings.load()
        IssuerSettings.objects.update(scopes_supported=["openid", "api"])
        client = Client.objects.get(client_id=registered.client_id)
        kept = client_update(
            client=client, metadata=ClientMetadata(name="Legacy", scopes=["legacy", "api"])
        )
        assert kept.scopes == ["legacy", "api"]
        with pytest.raises(ClientError, match="payroll is not among"):
            client_update(
                client=kept,
                metadata=ClientMetadata(name="Legacy", scopes=["legacy", "payroll"]),
            )
        assert Client.objects.get(pk=client.pk).scopes == ["legacy", "api"]
