"""The demo tenant the run command prepares. Re-running is safe: it creates what is missing
and, since secrets are stored only as digests, gives the demo service client a new secret to
print (development only)."""

from __future__ import annotations

from django.conf import settings
from django_tenants.utils import schema_context

from kernel.accounts.models import User
from kernel.accounts.services import user_create
from kernel.http import public_url
from oauth.client_metadata import ClientMetadata
from oauth.models import Client, IssuerSettings
from oauth.services.clients import client_create, client_rotate_secret
from oauth.services.issuer import issuer_settings_update
from tenants.selectors import primary_domain, tenant_by_slug
from tenants.services import tenant_provision

DEMO_SLUG = "acme"
DEMO_ADMIN = "admin@acme.test"
# Development-only credentials, printed by the run command.
DEMO_ADMIN_PASSWORD = "acme-admin-demo-pw"
DEMO_OPERATOR = "operator"
DEMO_OPERATOR_PASSWORD = "operator-demo-pw"
DEMO_USER = "alice"
DEMO_USER_PASSWORD = "alice-demo-password"
DEMO_SERVICE = "Demo service"
DEMO_WEB_APP = "Demo web app"
DEMO_REDIRECT_URI = "http://127.0.0.1/callback"  # any port (RFC 8252 §7.3)


def _ensure_demo_clients() -> dict:
    """A client-credentials client and a public PKCE web app, in the current tenant schema."""
    allowed = IssuerSettings.load().scopes_supported
    if allowed and not {"api", "read"} <= set(allowed):
        issuer_settings_update(scopes_supported=[*allowed, *sorted({"api", "read"} - set(allowed))])
    service = Client.objects.filter(name=DEMO_SERVICE).first()
    if service is None:
        service, secret = client_create(
            metadata=ClientMetadata(
                name=DEMO_SERVICE, grant_types=["client_credentials"], scopes=["api", "read"]
            )
        )
    else:
        secret = client_rotate_secret(client=service)
    web_app = Client.objects.filter(name=DEMO_WEB_APP).first()
    if web_app is None:
        web_app, _ = client_create(
            metadata=ClientMetadata(
                name=DEMO_WEB_APP,
                grant_types=["authorization_code", "refresh_token"],
                redirect_uris=[DEMO_REDIRECT_URI],
                scopes=["openid", "profile", "email", "api"],
                auth_method=Client.AuthMethod.NONE,
            )
        )
    return {
        "service": {"client_id": service.client_id, "client_secret": secret},
        "web_app": {"client_id": web_app.client_id, "redirect_uri": DEMO_REDIRECT_URI},
    }


def ensure_demo(*, port: int) -> dict:
    if not User.objects.filter(username=DEMO_OPERATOR).exists():  # public schema: operators
        user_create(
            username=DEMO_OPERATOR,
            password=DEMO_OPERATOR_PASSWORD,
            is_staff=True,
            is_superuser=True,
        )
    tenant = tenant_by_slug(DEMO_SLUG)
    if tenant is None:
        tenant_provision(
            slug=DEMO_SLUG,
            name="Acme Inc (demo)",
            admin_email=DEMO_ADMIN,
            admin_password=DEMO_ADMIN_PASSWORD,
        )
        tenant = tenant_by_slug(DEMO_SLUG)
    with schema_context(tenant.schema_name):
        if not User.objects.filter(username=DEMO_USER).exists():
            user_create(
                username=DEMO_USER,
                password=DEMO_USER_PASSWORD,
                email="alice@acme.test",
                email_verified=True,
            )
        clients = _ensure_demo_clients()
    host = primary_domain(tenant)
    return {
        "public_url": public_url(settings.GATEHOUSE_BASE_DOMAIN, port=port),
        "tenant": DEMO_SLUG,
        "issuer": public_url(host, port=port),
        "operator": {"username": DEMO_OPERATOR, "password": DEMO_OPERATOR_PASSWORD},
        "admin": {"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
        "user": {"username": DEMO_USER, "password": DEMO_USER_PASSWORD},
        "clients": clients,
        "port": port,
    }


def describe(info: dict) -> list[tuple[str, str]]:
    issuer = info["issuer"]
    return [
        ("Public site", info["public_url"] + "/"),
        ("Operators' admin", info["public_url"] + "/admin/"),
        ("Operator login", f"{info['operator']['username']} / {info['operator']['password']}"),
        ("Demo tenant issuer", issuer),
        ("Discovery", issuer + "/.well-known/openid-configuration"),
        ("Token endpoint", issuer + "/oauth/token"),
        ("Tenant admin", f"{info['admin']['username']} / {info['admin']['password']}"),
        ("Demo user", f"{info['user']['username']} / {info['user']['password']}"),
        (
            "Demo service client",
            f"{info['clients']['service']['client_id']} / "
            f"{info['clients']['service']['client_secret']}  (client_credentials)",
        ),
        (
            "Demo web app",
            f"{info['clients']['web_app']['client_id']}  (public, PKCE, redirect "
            f"{info['clients']['web_app']['redirect_uri']} on any port)",
        ),
        ("Tenant console", issuer + "/console/"),
    ]
