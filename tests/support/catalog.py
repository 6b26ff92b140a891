"""A tenant schema's catalog as comparable data: what a copy of the template or a batched
migration must reproduce of a schema that Django's migrate made."""

from __future__ import annotations

from django.db import connection, transaction

#: Each describes one kind of catalog entry of a schema (``%(oid)s``), with its schema name
#: replaced by ``@`` in the definitions before comparison.
CATALOG = {
    "relations": "SELECT relname, relkind, relpersistence, obj_description(oid, 'pg_class')"
    " FROM pg_class WHERE relnamespace = %(oid)s",
    # Column order, not attnum: a migrated schema keeps the numbers of dropped columns.
    "columns": "SELECT c.relname, rank() OVER (PARTITION BY c.oid ORDER BY a.attnum),"
    " a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,"
    " a.attgenerated, pg_get_expr(ad.adbin, ad.adrelid),"
    " a.attcollation, a.attstorage, col_description(c.oid, a.attnum)"
    " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
    " AND NOT a.attisdropped LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum"
    " WHERE c.relnamespace = %(oid)s AND c.relkind IN ('r', 'i', 'S')",
    "indexes": "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary"
    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = %(oid)s",
    "constraints": "SELECT t.relname, k.conname, k.contype, pg_get_constraintdef(k.oid),"
    " k.condeferrable, k.condeferred, k.convalidated, i.relname"
    " FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid"
    " LEFT JOIN pg_class i ON i.oid = k.conindid WHERE k.connamespace = %(oid)s",
    "triggers": "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled"
    " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE c.relnamespace = %(oid)s AND NOT t.tgisinternal",
    "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
    " WHERE pronamespace = %(oid)s",
    "sequences": "SELECT c.relname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement,"
    " s.seqmax, s.seqmin, s.seqcache, s.seqcycle, o.relname, d.refobjsubid, d.deptype,"
    " q.last_value"
    " FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid"
    " JOIN pg_sequences q ON q.schemaname = %(name)s AND q.sequencename = c.relname"
    " LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass"
    " AND d.refclassid = 'pg_class'::regclass LEFT JOIN pg_class o ON o.oid = d.refobjid"
    " WHERE c.relnamespace = %(oid)s",
}


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@transaction.atomic
def snapshot(schema: str) -> dict[str, list]:
    """Everything the comparison looks at, sorted, with ``schema`` written as ``@`` (in a
    transaction, for the local ``search_path``)."""
    (oid,) = _rows("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])[0]
    path = _rows("SELECT current_setting('search_path')")[0][0]
    _rows("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        result = {}
        for kind, sql in CATALOG.items():
            rows = _rows(sql, {"oid": oid, "name": schema})
            result[kind] = sorted(
                tuple(
                    value.replace(f"{schema}.", "@.") if isinstance(value, str) else value
                    for value in row
                )
                for row in rows
            )
        for (table,) in _rows(
            "SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind = 'r'", [oid]
        ):
            columns = "id, app, name" if table == "django_migrations" else "*"
            result[f"rows of {table}"] = sorted(
                map(repr, _rows(f'SELECT {columns} FROM "{schema}"."{table}"'))
            )
    finally:
        _rows("SELECT set_config('search_path', %s, true)", [path])
    return result
