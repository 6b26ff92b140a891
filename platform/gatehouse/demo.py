"""The demo tenant the run command prepares. Idempotent: re-running changes nothing."""

from __future__ import annotations

from django.conf import settings
from django_tenants.utils import schema_context

from gatehouse.conf import public_url
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


def ensure_demo(*, port: int) -> dict:
    from gatehouse.accounts.models import User
    from gatehouse.accounts.services import user_create

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
    host = primary_domain(tenant)
    return {
        "public_url": public_url(settings.GATEHOUSE_BASE_DOMAIN, port=port),
        "tenant": DEMO_SLUG,
        "issuer": public_url(host, port=port),
        "operator": {"username": DEMO_OPERATOR, "password": DEMO_OPERATOR_PASSWORD},
        "admin": {"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
        "user": {"username": DEMO_USER, "password": DEMO_USER_PASSWORD},
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
    ]
