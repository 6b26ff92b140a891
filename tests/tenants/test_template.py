"""Tenant schemas copied from the template (tenants.template) are the schemas the migrations
make: same tables, columns, indexes, constraints, triggers, functions, sequences and rows; a
stale template is rebuilt; a copy works end to end and carries nothing of another tenant."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenants import template
from tenants.models import Tenant
from tenants.services import tenant_provision
from tests.support.catalog import snapshot
from tests.support.factories import client_credentials_token, make_client
from tests.support.tenants import TenantInfo, provision

pytestmark = pytest.mark.django_db

MIGRATED, COPIED = "tplcmp_migrated", "tplcmp_copied"


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.fixture
def migrated_and_copied():
    """One schema migrated from nothing, one copied from the template (both rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {MIGRATED}")
    template.migrate_schema(MIGRATED)
    assert template.schema_create(COPIED) is True
    connection.set_schema_to_public()
    return MIGRATED, COPIED


def test_a_copy_is_the_migrated_schema(migrated_and_copied):
    migrated, copied = (snapshot(s) for s in migrated_and_copied)
    assert migrated.keys() == copied.keys()
    for kind in migrated:
        assert copied[kind] == migrated[kind], kind
    # What the comparison covered, so that an empty catalog query cannot pass it.
    assert len(migrated["relations"]) > 100
    assert ("oauth_client", "oauth_client_touched") in {t[:2] for t in migrated["triggers"]}
    assert [f[0] for f in migrated["functions"]] == ["gatehouse_client_touched"]
    assert any(c[2] == "f" for c in migrated["constraints"])
    assert any(c[2] == "c" for c in migrated["constraints"])
    assert any(s[-1] is not None for s in migrated["sequences"])  # used ones keep their place
    assert len(migrated["rows of django_migrations"]) == len(template.expected_migrations())
    assert migrated["rows of django_content_type"]


def test_a_copy_costs_few_statements(migrated_and_copied):
    """Once the template is current and its SQL generated, a copy is the template check (its
    ledger), the shared lock and the check again, the template's oid and one multi-statement
    execute, in a savepoint."""
    with CaptureQueriesContext(connection) as queries:
        template.schema_create("tplcmp_third")
    assert len(queries) <= 9, [q["sql"][:80] for q in queries]


def _template_oid() -> int:
    sql = "SELECT oid FROM pg_namespace WHERE nspname = %s"
    return _rows(sql, [template.TEMPLATE_SCHEMA])[0][0]


def test_a_stale_template_is_rebuilt_before_it_is_copied():
    template.schema_create("tplcmp_first")
    before = _template_oid()
    # As after a deploy that adds a migration: the template's ledger lacks a graph node.
    _execute(
        f"DELETE FROM {template.TEMPLATE_SCHEMA}.django_migrations"
        " WHERE app = 'sessions' AND name = '0001_initial'"
    )
    _execute(f"DROP TABLE {template.TEMPLATE_SCHEMA}.django_session")

    template.schema_create("tplcmp_second")

    after = _template_oid()
    assert after != before
    assert _rows(
        "SELECT 1 FROM tplcmp_second.django_migrations"
        " WHERE app = 'sessions' AND name = '0001_initial'"
    )
    assert _rows("SELECT to_regclass('tplcmp_second.django_session')::text") == [
        ("tplcmp_second.django_session",)
    ]
    with connection.cursor() as cursor:
        assert template.template_is_current(cursor)


def test_the_template_is_not_a_tenant():
    template.schema_create("tplcmp_first")
    assert not Tenant.objects.filter(schema_name=template.TEMPLATE_SCHEMA).exists()
    assert template.TEMPLATE_SCHEMA.startswith("_")  # no slug maps to it


def test_a_copied_tenant_issues_tokens_and_its_trigger_fires():
    tenant = provision("tpl-e2e", "Template E2E")
    client = make_client(tenant)
    assert client_credentials_token(tenant, client)["token_type"].lower() == "bearer"

    from oauth.models import Client

    with tenant.context():
        before = Client.objects.get(pk=client.pk).updated_at
        Client.objects.filter(pk=client.pk).update(name="Renamed")
        assert Client.objects.get(pk=client.pk).updated_at > before


def _tenant_contents(info: TenantInfo) -> dict:
    from kernel.accounts.models import User
    from oauth.models import Client, SigningKey

    with schema_context(info.schema):
        return {
            "users": sorted(User.objects.values_list("id", "username")),
            "clients": sorted(Client.objects.values_list("client_id", flat=True)),
            "keys": sorted(SigningKey.objects.values_list("kid", flat=True)),
        }


def _sequences(schema: str) -> dict[str, int | None]:
    return dict(
        _rows("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s", [schema])
    )


def test_a_copy_carries_nothing_of_another_tenant():
    first = provision("tpl-iso-one", "Isolation One")
    fresh = _sequences(first.schema)
    make_client(first)
    with schema_context(first.schema):
        from kernel.accounts.models import User

        User.objects.create_user(username="extra@one.test", password="Pw-iso-1!-long")

    second_result = tenant_provision(
        slug="tpl-iso-two",
        name="Isolation Two",
        admin_email="admin@tpl-iso-two.test",
        admin_password="Pw-iso-2!-long",
    )
    connection.set_schema_to_public()
    one = _tenant_contents(first)
    two = _tenant_contents(
        TenantInfo("tpl-iso-two", second_result.schema, second_result.domain, "", "", "")
    )

    assert [u[1] for u in two["users"]] == ["admin@tpl-iso-two.test"]
    assert two["clients"] == []
    assert two["keys"] and not set(two["keys"]) & set(one["keys"])
    # The sequences start where the template's stand, not after the first tenant's rows.
    after = _sequences(first.schema)
    assert after != fresh
    assert _sequences(second_result.schema) == fresh
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {template.TEMPLATE_SCHEMA}.accounts_user")
        assert cursor.fetchone()[0] == 0


def test_a_copy_in_progress_keeps_a_rebuild_waiting(two_tenants):
    """Until the provisioning transaction that copied the template ends, another session
    cannot take the rebuild's (exclusive) lock; it can still copy (shared). (``two_tenants``:
    a committed, current template, so this copy takes the shared lock only.)"""
    import psycopg
    from django.conf import settings

    template.schema_create("tplcmp_locked")
    db = settings.DATABASES["default"]
    other = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
        autocommit=True,
    )  # fmt: skip
    try:
        rebuild = other.execute("SELECT pg_try_advisory_lock(%s)", [template.LOCK_KEY])
        assert rebuild.fetchone()[0] is False
        copy = other.execute("SELECT pg_try_advisory_lock_shared(%s)", [template.LOCK_KEY])
        assert copy.fetchone()[0] is True
    finally:
        other.close()
