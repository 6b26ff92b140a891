"""Statements of the refresh and code-exchange paths, built once from the models' metadata.

The ORM compiles every query again on each call (``select_related`` over four tables,
``select_for_update().get()``, ``save()``): on the refresh-rotation and code-exchange token
steps that was most of the CPU per request on the benchmark. These are the same statements,
written once per process from ``Model._meta`` (so a new column is picked up without an
edit), with the rows built by ``Model.from_db`` as the ORM builds them; values are prepared
by each field (``get_db_prep_save``), as ``save()`` prepares them. Every table
they name carries the tenant's schema (``in_schema``), so they run without a ``SET
search_path`` (``qualified_cursor``): with many tenants nearly every request switches
tenant, and that ``SET`` cost a round trip and a replan of its own. No signal is sent for
these models (none is connected), so nothing that ``save()`` would have done is skipped.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Model


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


#: Stands for the current tenant's (quoted) schema in statements built once per process.
SCHEMA = "\x00schema\x00"


def table(model: type[Model]) -> str:
    """``<schema>.<table>`` of ``model``, the schema filled in by ``in_schema`` per call."""
    return f"{SCHEMA}.{_qn(model._meta.db_table)}"


def in_schema(sql: str) -> str:
    """``sql`` (built with ``table``, ``%s`` placeholders) naming the current tenant's schema
    on every table, for ``qualified_cursor()``: with PostgreSQL's own ``$1, $2, ...``
    placeholders where that cursor takes them (``connection.native_placeholders``)."""
    if connection.native_placeholders:
        sql = numbered(sql)
    return sql.replace(SCHEMA, _qn(connection.schema_name))


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered ``$1, $2, ...`` in order, once per
    statement (the statements here are built once per process) rather than by psycopg on
    each execution of each tenant's text. Not a parser: the statements given here are this
    project's own, built from model metadata, and one with any other ``%`` is refused."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError(f"not only %s placeholders in {sql!r}")
    out = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        out += [f"${number}", part]
    return "".join(out)


def qualified_cursor():
    """A cursor for ``in_schema`` statements: no ``search_path`` is set for them
    (``tenants.postgresql_backend``'s ``schema_qualified_cursor``)."""
    return connection.schema_qualified_cursor()


@functools.cache
def _converters(model: type[Model]) -> list:
    """Per concrete field, its ``from_db_value`` or None: a raw cursor returns what the
    driver returns (jsonb as text, under Django's loaders), the ORM converts it."""
    return [getattr(f, "from_db_value", None) for f in model._meta.concrete_fields]


def _build(model: type[Model], values) -> Model:
    converted = [
        value if convert is None or value is None else convert(value, None, connection)
        for convert, value in zip(_converters(model), values, strict=True)
    ]
    names = [f.attname for f in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, converted)


@functools.cache
def _select_sql(model: type[Model], field: str, lock: bool) -> str:
    meta = model._meta
    column = meta.get_field(field)
    if not (column.primary_key or column.unique):
        raise ValueError(f"{model.__name__}.{field} is not unique: rowsql reads one row")
    columns = ", ".join(_qn(f.column) for f in meta.concrete_fields)
    return f"SELECT {columns} FROM {table(model)} WHERE {_qn(column.column)} = %s" + (
        " FOR UPDATE" if lock else ""
    )


def get_by(model: type[Model], field: str, value, *, lock: bool = False):
    """``model.objects[.select_for_update()].filter(**{field: value}).first()`` for a unique
    ``field``, in one prepared-once statement; None when there is no such row."""
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(_select_sql(model, field, lock)), [value])
        row = cursor.fetchone()
    return None if row is None else _build(model, row)


def get_by_pk(model: type[Model], pk, *, lock: bool = False):
    """``model.objects[.select_for_update()].get(pk=pk)`` in one prepared-once statement;
    ``model.DoesNotExist`` when there is no such row."""
    row = get_by(model, model._meta.pk.name, pk, lock=lock)
    if row is None:
        raise model.DoesNotExist(f"{model.__name__} {pk} does not exist")
    return row


@functools.cache
def _first_sql(model: type[Model]) -> str:
    meta = model._meta
    columns = ", ".join(_qn(f.column) for f in meta.concrete_fields)
    return f"SELECT {columns} FROM {table(model)} ORDER BY {_qn(meta.pk.column)} LIMIT 1"


def first(model: type[Model]):
    """``model.objects.order_by("pk").first()`` in one prepared-once statement, or None."""
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(_first_sql(model)))
        row = cursor.fetchone()
    return None if row is None else _build(model, row)


@functools.cache
def _first_versioned_sql(model: type[Model]) -> str:
    meta = model._meta
    columns = ", ".join(_qn(f.column) for f in meta.concrete_fields)
    return (
        f"SELECT {columns}, xmin::text FROM {table(model)} ORDER BY {_qn(meta.pk.column)} LIMIT 1"
    )


def first_versioned(model: type[Model]):
    """``first(model)`` and the row's version, or None: its ``xmin`` (the transaction that
    wrote this row version; every UPDATE, however made, writes a new one), as text, for a
    later statement to confirm the row unchanged with ``row_version_sql``
    (https://www.postgresql.org/docs/current/ddl-system-columns.html)."""
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(_first_versioned_sql(model)))
        row = cursor.fetchone()
    return None if row is None else (_build(model, row[:-1]), row[-1])


@functools.cache
def row_version_sql(model: type[Model]) -> str:
    """``EXISTS (<a row of model at version %s>)``, the version as ``first_versioned`` read
    it (for a one-row model such as ``IssuerSettings``); a NULL version: true, nothing to
    confirm. Its one parameter is given twice."""
    return (
        f"(%s::text IS NULL OR EXISTS (SELECT 1 FROM {table(model)} v "
        f"WHERE v.xmin::text = %s::text))"
    )


def row_version(model: type[Model]) -> str | None:
    """The current version of ``model``'s first row (``first_versioned``), or None."""
    with qualified_cursor() as cursor:
        cursor.execute(
            in_schema(
                f"SELECT xmin::text FROM {table(model)} ORDER BY {_qn(model._meta.pk.column)} "
                "LIMIT 1"
            )
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


@functools.cache
def _insert_sql(model: type[Model]) -> tuple[str, list]:
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    columns = ", ".join(_qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {table(model)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {_qn(meta.pk.column)}"
    )
    return sql, fields


def insert(obj: Model) -> Model:
    """``obj.save(force_insert=True)`` for a model with an auto primary key and no signals:
    one INSERT ... RETURNING. ``pre_save`` does not run: the caller sets ``auto_now`` and
    ``auto_now_add`` fields itself."""
    sql, fields = _insert_sql(type(obj))
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(sql), values)
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, list]:
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    assignments = ", ".join(f"{_qn(f.column)} = %s" for f in fields)
    return (
        f"UPDATE {table(model)} SET {assignments} WHERE {_qn(meta.pk.column)} = %s",
        fields,
    )


def update_fields(obj: Model, names: tuple[str, ...]) -> None:
    """``obj.save(update_fields=names)`` for fields without ``pre_save`` effects."""
    sql, fields = _update_sql(type(obj), names)
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(sql), [*values, obj.pk])


@functools.cache
def _joined_sql(model: type[Model], related: tuple[str, ...], field: str) -> str:
    meta = model._meta
    columns = [f"t.{_qn(f.column)}" for f in meta.concrete_fields]
    joins = []
    for alias, name in enumerate(related):
        fk = meta.get_field(name)
        other = fk.related_model._meta
        alias_ = f"r{alias}"
        columns += [f"{alias_}.{_qn(f.column)}" for f in other.concrete_fields]
        kind = "LEFT JOIN" if fk.null else "JOIN"
        joins.append(
            f"{kind} {table(fk.related_model)} {alias_} "
            f"ON {alias_}.{_qn(other.pk.column)} = t.{_qn(fk.column)}"
        )
    column = meta.get_field(field).column
    return (
        f"SELECT {', '.join(columns)} FROM {table(model)} t {' '.join(joins)} "
        f"WHERE t.{_qn(column)} = %s LIMIT 1"
    )


def first_with_related(model: type[Model], related: tuple[str, ...], field: str, value):
    """``model.objects.select_related(*related).filter(**{field: value}).first()`` for
    direct foreign keys and a unique ``field`` (so ``first()``'s ordering picks nothing):
    the whole related rows, attached as ``select_related`` attaches them (None for a null
    key)."""
    with qualified_cursor() as cursor:
        cursor.execute(in_schema(_joined_sql(model, related, field)), [value])
        values = cursor.fetchone()
    if values is None:
        return None
    meta = model._meta
    offset = len(meta.concrete_fields)
    obj = _build(model, values[:offset])
    for name in related:
        other = meta.get_field(name).related_model
        fields = other._meta.concrete_fields
        part = values[offset : offset + len(fields)]
        offset += len(fields)
        if getattr(obj, meta.get_field(name).attname) is None:
            setattr(obj, name, None)
        else:
            setattr(obj, name, _build(other, part))
    return obj
