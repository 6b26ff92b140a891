"""Shared apps in public, tenant apps in every tenant schema, and nothing crossing over."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _tables(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        )
        return {row[0] for row in cursor.fetchall()}


def test_no_tenant_only_table_in_public(tenant_a):
    public = _tables("public")
    tenant = _tables(tenant_a.schema)
    tenant_only = {t for t in tenant if t.startswith("oauth_")}
    assert tenant_only, "tenant schema should hold the oauth tables"
    assert not tenant_only & public
    assert not any(t.startswith("oauth_") for t in public)


def test_each_tenant_has_its_own_users_and_sessions(tenant_a):
    tenant = _tables(tenant_a.schema)
    assert {"accounts_user", "django_session", "auth_permission"} <= tenant
    assert "tenants_tenant" not in tenant and "tenants_domain" not in tenant
    assert "django_admin_log" not in tenant
    assert {"tenants_tenant", "tenants_domain", "accounts_user", "django_admin_log"} <= _tables(
        "public"
    )


def test_user_ids_are_uuids_and_become_sub(tenant_a):
    from kernel.accounts.models import User

    with tenant_a.context():
        admin = User.objects.get(username=tenant_a.admin_username)
    assert admin.id.version == 4
    assert admin.sub == str(admin.id)


def test_argon2_first_in_production_hashers():
    from gatehouse.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_admin_password_hashed_not_stored(tenant_a):
    from kernel.accounts.models import User

    with tenant_a.context():
        stored = User.objects.get(username=tenant_a.admin_username).password
    assert tenant_a.admin_password not in stored
