"""New tenant schemas copied from a template schema instead of migrated one by one.

Provisioning used to apply every tenant migration to an empty schema (35 migrations, ~350
queries and a rendered project state per tenant: most of a provisioning's time). Here the
migrations run once, into ``TEMPLATE_SCHEMA``, and each new tenant schema is a copy of it made
with SQL generated from the template's own catalog:

* tables (columns, identity columns and their sequences, storage, column comments) with
  ``CREATE TABLE ... (LIKE ...)``; then their rows (what migrations and ``post_migrate`` wrote:
  the ledger, content types, permissions) and each sequence's position;
* every constraint (``pg_get_constraintdef``), index (``pg_get_indexdef``), column default,
  function (``pg_get_functiondef``: oauth 0009's trigger function) and trigger
  (``pg_get_triggerdef``) under its own name, so later migrations that alter or drop an index
  or a constraint by name work on a copy as on a migrated schema.

The definitions are read with an empty ``search_path``, so every name they mention is
schema-qualified, and the template's qualifier is swapped for the new schema's. Anything the
copy does not know how to reproduce (a view, a free-standing sequence or type, a rule or a
row-level policy) makes ``clone_statements`` refuse, and the schema is migrated instead.

**The template stays in step with the migrations.** It is current when its ledger
(``django_migrations``) holds exactly the nodes of the project's migration graph; otherwise the
next provisioning (or ``migrate_schemas`` over every tenant) drops and rebuilds it by migrating
an empty schema, holding an advisory lock that copies hold shared: no copy reads a template
being rebuilt, and two rebuilds never overlap. ``migrate_schemas`` never migrates it as a tenant
(it has no tenant row), which is why a stale template is rebuilt rather than patched, and why
django-tenants' ``TENANT_BASE_SCHEMA`` (cloned, then the ledger faked) is not used: a clone of
an outdated base got a missing column recorded as applied. The template holds no tenant's data:
only migrations ever write to it, so a copy cannot carry another tenant's users, keys or
sequence values.
``tests/tenants/test_template.py`` compares a copy with a migrated schema, catalog entry by
catalog entry.
"""

from __future__ import annotations

import zlib

from django.core.management import call_command
from django.db import connection, transaction
from django_tenants.utils import schema_exists

from tenants.migrations_batch import expected_migrations

#: Tenant schemas come from slugs (``[a-z0-9][a-z0-9-]*``, hyphens made underscores), so a
#: name that starts with an underscore can never be a tenant's.
TEMPLATE_SCHEMA = "_tenant_template"
#: ``pg_advisory_xact_lock`` key serialising template rebuilds.
LOCK_KEY = zlib.crc32(b"gatehouse.tenants.template")
#: The placeholder for the new schema's (quoted) name in the generated SQL.
TARGET = "\x00schema\x00"

#: Generated SQL per template namespace oid (a rebuilt template has a new oid).
_statements: dict[int, str] = {}


class CloneUnsupported(Exception):
    """The template holds an object the copy does not reproduce: migrate the schema instead."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def template_is_current(cursor) -> bool:
    """Whether the template exists and its ledger holds exactly the migration graph's nodes."""
    cursor.execute(
        "SELECT to_regclass(%s) IS NOT NULL", [f"{quote(TEMPLATE_SCHEMA)}.django_migrations"]
    )
    if not cursor.fetchone()[0]:
        return False
    cursor.execute(f"SELECT app, name FROM {quote(TEMPLATE_SCHEMA)}.django_migrations")
    return set(cursor.fetchall()) == expected_migrations()


def template_build(*, verbosity: int = 0) -> None:
    """Drop the template and migrate it again from nothing (in the caller's transaction)."""
    with connection.cursor() as cursor:
        # A template built earlier in this transaction has foreign-key checks pending (Django's
        # are deferred), which DROP refuses: run them now, then defer again (Django's default).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote(TEMPLATE_SCHEMA)} CASCADE")
        cursor.execute(f"CREATE SCHEMA {quote(TEMPLATE_SCHEMA)}")
    call_command(
        "migrate_schemas",
        tenant=True,
        schema_name=TEMPLATE_SCHEMA,
        interactive=False,
        verbosity=verbosity,
    )
    connection.set_schema_to_public()


def template_ensure(*, verbosity: int = 0) -> bool:
    """Rebuild the template if its ledger differs from the migration graph (in the caller's
    transaction); True when it was rebuilt."""
    with connection.cursor() as cursor:
        if template_is_current(cursor):
            return False
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        if template_is_current(cursor):
            return False
    template_build(verbosity=verbosity)
    return True


def _rows(cursor, sql: str, params=()) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def clone_statements(cursor) -> str:
    """The SQL that makes schema ``TARGET`` a copy of the template (see the module docstring);
    raises ``CloneUnsupported`` for objects it would not reproduce."""
    (oid,) = _rows(cursor, "SELECT oid FROM pg_namespace WHERE nspname = %s", [TEMPLATE_SCHEMA])[0]
    if oid in _statements:
        return _statements[oid]
    cursor.execute("SELECT current_setting('search_path')")
    (search_path,) = cursor.fetchone()
    # With only pg_catalog on the path, every definition below names its schema.
    cursor.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        sql = _generate(cursor, oid)
    finally:
        cursor.execute("SELECT set_config('search_path', %s, true)", [search_path])
    _statements[oid] = sql
    return sql


def _generate(cursor, oid: int) -> str:
    # quote_ident leaves this name bare: definitions name it without quotes.
    prefix = TEMPLATE_SCHEMA + "."

    def retarget(definition: str) -> str:
        return definition.replace(prefix, TARGET + ".")

    relations = _rows(
        cursor,
        "SELECT c.oid, c.relname, c.relkind FROM pg_depend d JOIN pg_class c ON c.oid = d.objid"
        " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_namespace'::regclass"
        " AND d.refobjid = %s AND d.deptype = 'n' ORDER BY c.oid",
        [oid],
    )
    unknown = sorted({kind for _, _, kind in relations} - {"r", "i", "S"})
    if unknown:
        raise CloneUnsupported(f"relations of kind {unknown} in the template")
    tables = [(rel, name) for rel, name, kind in relations if kind == "r"]
    table_oids = [rel for rel, _ in tables]
    sequences = [(rel, name) for rel, name, kind in relations if kind == "S"]
    owned = {
        row[0]
        for row in _rows(
            cursor,
            "SELECT d.objid FROM pg_depend d JOIN pg_attribute a"
            " ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            " WHERE d.classid = 'pg_class'::regclass AND d.objid = ANY(%s)"
            " AND d.deptype = 'i' AND a.attidentity <> ''",
            [[rel for rel, _ in sequences]],
        )
    }
    if len(owned) != len(sequences):
        raise CloneUnsupported("a sequence that is not an identity column's")
    (others,) = _rows(
        cursor,
        "SELECT (SELECT count(*) FROM pg_rewrite WHERE ev_class = ANY(%s))"
        " + (SELECT count(*) FROM pg_policy WHERE polrelid = ANY(%s))"
        " + (SELECT count(*) FROM pg_type t WHERE t.typnamespace = %s AND t.typrelid = 0"
        "    AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0))"
        " + (SELECT count(*) FROM pg_proc WHERE pronamespace = %s AND prokind <> 'f')",
        [table_oids, table_oids, oid, oid],
    )[0]
    if others:
        raise CloneUnsupported("rules, policies, types or procedures in the template")

    parts = [f"CREATE SCHEMA {TARGET}"]
    for (definition,) in _rows(
        cursor, "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = %s", [oid]
    ):
        parts.append(retarget(definition))
    for _, table in tables:
        parts.append(
            f"CREATE TABLE {TARGET}.{quote(table)} (LIKE {quote(TEMPLATE_SCHEMA)}.{quote(table)}"
            " INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS"
            " INCLUDING COMPRESSION INCLUDING STATISTICS)"
        )
    for table, column, expression in _rows(
        cursor,
        "SELECT c.relname, a.attname, pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad"
        " JOIN pg_class c ON c.oid = ad.adrelid JOIN pg_attribute a"
        " ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum"
        " WHERE ad.adrelid = ANY(%s) AND a.attgenerated = ''",
        [table_oids],
    ):
        parts.append(
            f"ALTER TABLE {TARGET}.{quote(table)} ALTER COLUMN {quote(column)}"
            f" SET DEFAULT {retarget(expression)}"
        )
    for table, comment in _rows(
        cursor,
        "SELECT relname, obj_description(oid, 'pg_class') FROM pg_class"
        " WHERE oid = ANY(%s) AND obj_description(oid, 'pg_class') IS NOT NULL",
        [table_oids],
    ):
        parts.append(f"COMMENT ON TABLE {TARGET}.{quote(table)} IS {_literal(cursor, comment)}")
    # LIKE makes every identity sequence a bigint one (with the source's bounds); the
    # migrated schema's integer columns have integer sequences.
    for sequence, sequence_type in _rows(
        cursor,
        "SELECT c.relname, format_type(s.seqtypid, NULL) FROM pg_sequence s"
        " JOIN pg_class c ON c.oid = s.seqrelid"
        " WHERE s.seqrelid = ANY(%s) AND s.seqtypid <> 'bigint'::regtype",
        [[rel for rel, _ in sequences]],
    ):
        parts.append(f"ALTER SEQUENCE {TARGET}.{quote(sequence)} AS {sequence_type}")
    # The rows migrations wrote, before any trigger exists to rewrite them.
    for _, table in tables:
        source = f"{quote(TEMPLATE_SCHEMA)}.{quote(table)}"
        if _rows(cursor, f"SELECT EXISTS (SELECT 1 FROM {source})")[0][0]:
            parts.append(
                f"INSERT INTO {TARGET}.{quote(table)} OVERRIDING SYSTEM VALUE"
                f" SELECT * FROM {source}"
            )
    for _, sequence in sequences:
        last, called = _rows(
            cursor,
            f"SELECT last_value, is_called FROM {quote(TEMPLATE_SCHEMA)}.{quote(sequence)}",
        )[0]
        if called:
            name = f"{TARGET}.{quote(sequence)}".replace("'", "''")
            parts.append(f"SELECT setval('{name}', {int(last)}, true)")
    # Indexes that no constraint owns, then constraints (keys before the foreign keys that
    # need them), then triggers.
    for (definition,) in _rows(
        cursor,
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
        " AND c.conrelid = i.indrelid) ORDER BY i.indexrelid",
        [table_oids],
    ):
        parts.append(retarget(definition))
    for table, name, definition in _rows(
        cursor,
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid WHERE k.conrelid = ANY(%s)"
        " ORDER BY k.contype = 'f', k.oid",
        [table_oids],
    ):
        parts.append(
            f"ALTER TABLE {TARGET}.{quote(table)} ADD CONSTRAINT {quote(name)}"
            f" {retarget(definition)}"
        )
    for (definition,) in _rows(
        cursor,
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = ANY(%s)"
        " AND NOT tgisinternal ORDER BY oid",
        [table_oids],
    ):
        parts.append(retarget(definition))
    # Only the LIKE clauses and the row copies may still name the template.
    leftover = [p for p in parts if prefix in p and not p.startswith(("CREATE TABLE", "INSERT"))]
    if leftover:
        raise CloneUnsupported(f"a definition still names the template: {leftover[0][:200]}")
    return ";\n".join(parts) + ";"


def _literal(cursor, value: str) -> str:
    cursor.execute("SELECT quote_literal(%s)", [value])
    return cursor.fetchone()[0]


def template_for_copy(*, verbosity: int = 0) -> bool:
    """Make sure the template is current and stays so until this transaction ends; False when
    it cannot be used (it was rebuilt for another migration graph meanwhile: a rolling deploy),
    so the caller migrates instead.

    Copies hold the advisory lock shared, a rebuild holds it exclusively: a rebuild waits for
    the copies in progress to commit, and a copy that starts during a rebuild waits for it."""
    with connection.cursor() as cursor:
        if not template_is_current(cursor):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            if not template_is_current(cursor):
                template_build(verbosity=verbosity)
            return True
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
        return template_is_current(cursor)


def schema_create(schema: str, *, verbosity: int = 0) -> bool:
    """Create tenant schema ``schema`` as a copy of the (current) template; True when copied,
    False when the template could not be copied and the schema was migrated instead."""
    with transaction.atomic():
        usable = template_for_copy(verbosity=verbosity)
        with connection.cursor() as cursor:
            try:
                if not usable:
                    raise CloneUnsupported("the template was rebuilt for other migrations")
                sql = clone_statements(cursor)
            except CloneUnsupported:
                cursor.execute(f"CREATE SCHEMA {quote(schema)}")
                migrate_schema(schema, verbosity=verbosity)
                return False
            cursor.execute(sql.replace(TARGET, quote(schema)))
    return True


def migrate_schema(schema: str, *, verbosity: int = 0) -> None:
    """Apply every tenant migration to the existing, empty ``schema`` (django-tenants' way)."""
    if not schema_exists(schema):
        raise ValueError(f"schema {schema!r} does not exist")
    call_command(
        "migrate_schemas",
        tenant=True,
        schema_name=schema,
        interactive=False,
        verbosity=verbosity,
    )
    connection.set_schema_to_public()
