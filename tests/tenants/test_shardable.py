"""The design stays shardable (docs/scaling.md): no foreign key leaves a tenant schema.

Citus schema-based sharding moves each tenant schema, whole, to one worker node; a foreign key
from a tenant table to a table outside its schema (public's tenant registry, say) only works if
that table is a reference table copied to every node, and a future migration would make the
move impossible without anyone noticing. The check reads the real catalog of a provisioned
tenant schema (pg_constraint), so a migration that adds such a key fails here.
"""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def foreign_keys_leaving(schema: str) -> list[str]:
    """Every foreign key on a table of ``schema`` whose referenced table lives elsewhere, as
    "table.constraint -> schema.table"."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, c.conname, rn.nspname, r.relname
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_class r ON r.oid = c.confrelid
            JOIN pg_namespace rn ON rn.oid = r.relnamespace
            WHERE c.contype = 'f' AND tn.nspname = %s AND rn.nspname <> tn.nspname
            ORDER BY 1, 2
            """,
            [schema],
        )
        return [f"{t}.{c} -> {s}.{r}" for t, c, s, r in cursor.fetchall()]


def foreign_keys_within(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE c.contype = 'f' AND n.nspname = %s AND c.confrelid IN"
            " (SELECT oid FROM pg_class WHERE relnamespace = n.oid)",
            [schema],
        )
        return cursor.fetchone()[0]


def test_no_tenant_table_has_a_foreign_key_out_of_its_schema(tenant_a):
    # The tenant's own keys are there (so the query reads the right schema) ...
    assert foreign_keys_within(tenant_a.schema) > 0
    # ... and none points into public or another schema.
    assert foreign_keys_leaving(tenant_a.schema) == [], (
        "a tenant table references a table outside its schema: that blocks schema-based"
        " sharding (docs/scaling.md); reference the row by value, or make the target a"
        " Citus reference table and say so there"
    )


def test_the_check_sees_a_key_into_public(tenant_a):
    """A migration adding such a key (made here inside the test's transaction, rolled back
    after it) is caught."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {tenant_a.schema}.oauth_client ADD COLUMN owner_tenant_id bigint"
            " CONSTRAINT oauth_client_owner_tenant_fk REFERENCES public.tenants_tenant (id)"
        )

    assert foreign_keys_leaving(tenant_a.schema) == [
        "oauth_client.oauth_client_owner_tenant_fk -> public.tenants_tenant"
    ]
