"""Two tenants, provisioned once per session and committed, for every test to use."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from tests.support.secrets import remember_secret


@dataclass
class TenantInfo:
    slug: str
    schema: str
    host: str
    issuer: str
    admin_username: str
    admin_password: str

    @contextmanager
    def context(self):
        """Run ORM code inside this tenant's schema."""
        with schema_context(self.schema):
            yield

    def client(self, **defaults) -> Client:
        """A Django test client that talks https to this tenant's host."""
        return https_client(self.host, **defaults)


class HttpsClient(Client):
    """Django's test client with ``secure=True`` as every request method's default.

    Django's methods pass ``secure=False`` on to the request explicitly, which overrides an
    ``wsgi.url_scheme`` default; a test that wants plain http still says ``secure=False``.
    """


def _https_by_default(name: str):
    base = getattr(Client, name)

    def method(self, path, *args, secure: bool = True, **kwargs):
        return base(self, path, *args, secure=secure, **kwargs)

    method.__name__ = name
    return method


for _name in ("get", "post", "head", "options", "put", "patch", "delete", "trace"):
    setattr(HttpsClient, _name, _https_by_default(_name))


def https_client(host: str, **defaults) -> Client:
    environ = {"HTTP_HOST": host, "SERVER_PORT": "443"}
    environ.update(defaults)
    return HttpsClient(**environ)


def provision(slug: str, name: str) -> TenantInfo:
    from tenants.models import Tenant
    from tenants.services import tenant_provision

    password = remember_secret(f"{slug}-admin-password-7Q!", session=True)
    username = f"admin@{slug}.test"
    existing = Tenant.objects.filter(slug=slug).first()
    if existing is None:
        result = tenant_provision(
            slug=slug, name=name, admin_email=username, admin_password=password
        )
        schema, host, issuer = result.schema, result.domain, result.issuer
    else:  # --reuse-db
        host = f"{slug}.{settings.GATEHOUSE_BASE_DOMAIN}"
        schema, issuer = existing.schema_name, f"https://{host}"
    with schema_context(schema):
        _shared_tenant_settings()
    return TenantInfo(slug, schema, host, issuer, username, password)


def _shared_tenant_settings() -> None:
    """The shared tenants register clients with free-form scopes ("api read"): they restrict
    none. Their JWKS counts as served before their keys were made, so a next key waits
    jwks_max_age, as after any tenant's first rotation. Tests of the allowed scopes and of
    immediate rotation set their own values (rolled back after them)."""
    from datetime import timedelta

    from django.db.models import Min

    from oauth.models import IssuerSettings, SigningKey

    row = IssuerSettings.load()
    first_key = SigningKey.objects.aggregate(first=Min("created_at"))["first"]
    row.scopes_supported = []
    row.jwks_first_served_at = first_key - timedelta(seconds=1)
    row.save(update_fields=["scopes_supported", "jwks_first_served_at"])
