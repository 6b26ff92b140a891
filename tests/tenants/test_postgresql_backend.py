"""The database backend in transaction mode, on a direct PostgreSQL connection.

Every statement must run in the current tenant's schema and leave nothing in the session;
cursor results must be the statement's own, as without the ``SET LOCAL`` in front. Two test
schemas with one ``item`` table each tell the schemas apart.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connections, transaction

ALIAS = "transaction_pooled"
SCHEMAS = ("pooltest_a", "pooltest_b")


def _wrapper(alias=ALIAS, **overrides):
    from tenants.postgresql_backend.base import DatabaseWrapper

    settings_dict = {**connections["default"].settings_dict, "POOL_MODE": "transaction"}
    # What the settings give DATABASE_POOL_MODE=transaction: no server-side binding and no
    # prepared statements (gatehouse.settings.base adds them in session mode only).
    options = {
        k: v
        for k, v in settings_dict["OPTIONS"].items()
        if k not in ("server_side_binding", "prepare_threshold")
    }
    settings_dict["OPTIONS"] = {**options, **overrides.pop("OPTIONS", {})}
    settings_dict.update(overrides)
    return DatabaseWrapper(settings_dict, alias)


@pytest.fixture
def pooled(django_db_setup, django_db_blocker):
    """A transaction-mode connection to the test database (autocommit, like Django's)."""
    with django_db_blocker.unblock():
        wrapper = _wrapper()
        connections[ALIAS] = wrapper
        with wrapper.cursor() as cursor:
            for schema in SCHEMAS:
                cursor.execute(
                    f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; "
                    f"CREATE TABLE {schema}.item (id serial PRIMARY KEY, name text UNIQUE); "
                    f"INSERT INTO {schema}.item (name) VALUES ('{schema}')"
                )
        try:
            yield wrapper
        finally:
            wrapper.set_schema_to_public()
            with wrapper.cursor() as cursor:
                cursor.execute(" ".join(f"DROP SCHEMA {s} CASCADE;" for s in SCHEMAS))
            wrapper.close()
            del connections[ALIAS]


def session_search_path(wrapper) -> tuple[str, str]:
    """The server session's own search_path and where it came from, read through libpq so
    that no SET LOCAL rides along."""
    result = wrapper.connection.pgconn.exec_(
        b"SELECT setting, source FROM pg_settings WHERE name = 'search_path'"
    )
    return result.get_value(0, 0).decode(), result.get_value(0, 1).decode()


def names(wrapper, sql="SELECT name FROM item ORDER BY id") -> list[str]:
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def test_each_statement_runs_in_the_current_schema_and_the_session_keeps_its_default(pooled):
    default = session_search_path(pooled)
    assert default[1] == "default"
    pooled.set_schema("pooltest_a")
    assert names(pooled) == ["pooltest_a"]
    pooled.set_schema("pooltest_b")
    assert names(pooled) == ["pooltest_b"]
    assert names(pooled, "SHOW search_path") == ["pooltest_b, public"]
    assert session_search_path(pooled) == default
    assert pooled.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_results_are_the_statements_own(pooled):
    pooled.set_schema("pooltest_a")
    with pooled.cursor() as cursor:
        cursor.execute("UPDATE item SET name = name WHERE name = %s", ["pooltest_a"])
        assert cursor.rowcount == 1
        assert cursor.cursor.statusmessage == "UPDATE 1"
        cursor.execute("SELECT id, name FROM item WHERE false")
        assert cursor.rowcount == 0
        assert [column.name for column in cursor.description] == ["id", "name"]
        assert cursor.fetchall() == []
        cursor.execute("INSERT INTO item (name) VALUES (%s), (%s) RETURNING name", ["x", "y"])
        assert cursor.rowcount == 2
        assert cursor.fetchall() == [("x",), ("y",)]
        # Literal percent signs, with and without parameters, reach PostgreSQL unchanged.
        cursor.execute("SELECT %s || '%%'", ["50"])
        assert cursor.fetchone() == ("50%",)
        cursor.execute("SELECT '100%'")
        assert cursor.fetchone() == ("100%",)
        # Several statements of the caller's own: the cursor is on the first one's result.
        cursor.execute("SELECT 1; SELECT 2")
        assert cursor.fetchone() == (1,)
        assert cursor.cursor.nextset() and cursor.fetchone() == (2,)
    assert names(pooled) == ["pooltest_a", "x", "y"]
    with pooled.cursor() as cursor, pytest.raises(IntegrityError):
        cursor.execute("INSERT INTO item (name) VALUES ('x')")
    assert names(pooled) == ["pooltest_a", "x", "y"]


def test_atomic_blocks_tenant_switches_and_savepoint_rollbacks(pooled):
    pooled.set_schema("pooltest_a")
    with transaction.atomic(using=ALIAS):
        assert names(pooled) == ["pooltest_a"]
        with pooled.cursor() as cursor:
            cursor.execute("INSERT INTO item (name) VALUES ('in a')")
        try:
            with transaction.atomic(using=ALIAS):
                pooled.set_schema("pooltest_b")
                assert names(pooled) == ["pooltest_b"]  # a SET LOCAL after the savepoint
                raise RuntimeError("roll back to the savepoint")
        except RuntimeError:
            pass
        # ROLLBACK TO SAVEPOINT undid that SET LOCAL; the backend still selects b.
        assert names(pooled) == ["pooltest_b"]
        try:
            with transaction.atomic(using=ALIAS), pooled.cursor() as cursor:
                cursor.execute("INSERT INTO item (name) VALUES ('pooltest_b')")
        except IntegrityError:
            pass
        assert names(pooled) == ["pooltest_b"]
        pooled.set_schema("pooltest_a")
        assert names(pooled) == ["pooltest_a", "in a"]
        assert session_search_path(pooled)[0] == "pooltest_a, public"  # SET LOCAL, in here
    assert session_search_path(pooled)[1] == "default"
    assert names(pooled) == ["pooltest_a", "in a"]


def test_introspection_sees_the_tenants_schema_alone_without_a_session_set(pooled):
    pooled.set_schema("pooltest_a")
    with pooled.cursor() as cursor:
        tables = pooled.introspection.table_names(cursor)
        columns = [c.name for c in pooled.introspection.get_table_description(cursor, "item")]
        constraints = pooled.introspection.get_constraints(cursor, "item")
    assert tables == ["item"]  # public's tables (django_migrations, ...) do not show through
    assert columns == ["id", "name"]
    assert {c["columns"][0] for c in constraints.values()} == {"id", "name"}
    assert session_search_path(pooled)[1] == "default"
    assert names(pooled, "SHOW search_path") == ["pooltest_a, public"]


def test_an_empty_query_answers_as_before(pooled):
    with pooled.cursor() as cursor:
        cursor.execute("")
        assert cursor.cursor.statusmessage is None
        assert cursor.description is None


def test_a_failed_transaction_fails_as_before(pooled):
    pooled.set_schema("pooltest_a")
    with pytest.raises(DatabaseError, match="current transaction is aborted"):
        with transaction.atomic(using=ALIAS), pooled.cursor() as cursor:
            with pytest.raises(DatabaseError, match="division by zero"):
                cursor.execute("SELECT 1 / 0")
            cursor.execute("SELECT name FROM item")
    assert names(pooled) == ["pooltest_a"]


def test_executemany_copy_and_stream_run_in_the_current_schema(pooled):
    pooled.set_schema("pooltest_b")
    with pooled.cursor() as cursor:
        cursor.executemany("INSERT INTO item (name) VALUES (%s)", [("m1",), ("m2",)])
        assert cursor.rowcount == 2
        # All rows or none, as psycopg's pipelined executemany in autocommit always was.
        with pytest.raises(IntegrityError):
            cursor.executemany("INSERT INTO item (name) VALUES (%s)", [("m3",), ("m1",)])
        cursor.cursor.executemany(
            "INSERT INTO item (name) VALUES (%s) RETURNING name", [("r1",), ("r2",)], returning=True
        )
        assert [row for _ in cursor.cursor.results() for row in cursor.fetchall()] == [
            ("r1",),
            ("r2",),
        ]
        with cursor.cursor.copy("COPY item (name) FROM STDIN") as copy:
            copy.write_row(("c1",))
        assert [row[0] for row in cursor.cursor.stream("SELECT name FROM item ORDER BY id")] == [
            "pooltest_b",
            "m1",
            "m2",
            "r1",
            "r2",
            "c1",
        ]
    with transaction.atomic(using=ALIAS), pooled.cursor() as cursor:
        cursor.executemany("INSERT INTO item (name) VALUES (%s)", [("t1",)])
        transaction.set_rollback(True, using=ALIAS)
    assert names(pooled)[-1] == "c1"
    assert session_search_path(pooled)[1] == "default"
    pooled.set_schema("pooltest_a")
    assert names(pooled) == ["pooltest_a"]


def test_the_orm_reads_in_the_current_schema_without_server_side_cursors(pooled):
    from tenants.models import Tenant

    pooled.set_schema_to_public()
    in_public = Tenant.objects.using(ALIAS).count()
    assert len(list(Tenant.objects.using(ALIAS).iterator(chunk_size=1))) == in_public


def test_session_mode_is_django_tenants_own(django_db_setup, django_db_blocker):
    from django.db.backends.postgresql.base import Cursor

    with django_db_blocker.unblock():
        wrapper = _wrapper(POOL_MODE="session")
        try:
            wrapper.set_schema("public")
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")
                assert type(cursor.cursor) is Cursor
            assert session_search_path(wrapper) == ("public", "session")
            assert "DISABLE_SERVER_SIDE_CURSORS" not in wrapper.settings_dict
        finally:
            wrapper.close()


def test_qualified_statements_take_numbered_placeholders_only_with_server_binding(
    pooled, django_db_blocker
):
    """``schema_qualified_cursor``: psycopg's RawCursor (``$n``, ``native_placeholders``)
    in session mode with server-side binding; Django's client-binding cursor in session mode
    without it; in transaction mode the pinned cursor, whose statement carries its own
    ``SET LOCAL`` and so takes ``%s``, and still runs in the current schema."""
    import psycopg
    from django.db.backends.postgresql.base import Cursor

    assert pooled.native_placeholders is False
    pooled.set_schema("pooltest_b")
    with pooled.schema_qualified_cursor() as cursor:
        assert not isinstance(cursor.cursor, psycopg.RawCursor)
        cursor.execute("SELECT name FROM item WHERE id = %s", [1])
        assert cursor.fetchall() == [("pooltest_b",)]
    with django_db_blocker.unblock():
        for options, native, kind in (
            ({"server_side_binding": True}, True, psycopg.RawCursor),
            ({}, False, Cursor),
        ):
            alias = f"{ALIAS}_qualified"
            wrapper = _wrapper(alias, POOL_MODE="session", OPTIONS=options)
            connections[alias] = wrapper
            try:
                wrapper.set_schema("public")
                assert wrapper.native_placeholders is native
                with wrapper.schema_qualified_cursor() as cursor:
                    assert type(cursor.cursor) is kind
                    cursor.execute(
                        f"SELECT name FROM pooltest_a.item WHERE id = {'$1' if native else '%s'}",
                        [1],
                    )
                    assert cursor.fetchall() == [("pooltest_a",)]
            finally:
                wrapper.close()
                del connections[alias]


def test_session_mode_binds_on_the_server_and_prepares_repeated_statements(
    pooled, django_db_blocker
):
    """The settings' session mode: server-side binding, a statement prepared once it has run
    ``prepare_threshold`` times, at most ``PREPARED_MAX`` kept per connection (the oldest
    deallocated on the server too); the same statements in transaction mode stay unprepared."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    base = connections["default"].settings_dict
    assert base["OPTIONS"]["server_side_binding"] is True
    assert base["OPTIONS"]["prepare_threshold"] >= 0
    listed = "SELECT statement FROM pg_prepared_statements ORDER BY statement"
    alias = f"{ALIAS}_session"
    with django_db_blocker.unblock():
        wrapper = _wrapper(
            alias,
            POOL_MODE="session",
            PREPARED_MAX=3,
            OPTIONS={"server_side_binding": True, "prepare_threshold": 2},
        )
        connections[alias] = wrapper
        try:
            wrapper.set_schema("public")
            with wrapper.cursor() as cursor:
                assert type(cursor.cursor) is ServerBindingCursor
                for n in range(5):
                    for _ in range(3):
                        cursor.execute(f"SELECT %s::int + {n}", [n])
                        assert cursor.fetchone() == (2 * n,)
                cursor.execute(listed)
                kept = [row[0] for row in cursor.fetchall()]
                # The three latest; psycopg deallocates an evicted one with its next query.
                assert kept[-3:] == [f"SELECT $1::int + {n}" for n in (2, 3, 4)]
                assert "SELECT $1::int + 0" not in kept and len(kept) <= 4
        finally:
            wrapper.close()
            del connections[alias]
        pooled.set_schema("public")
        with pooled.cursor() as cursor:
            for _ in range(4):
                cursor.execute("SELECT %s::int", [1])
            cursor.execute(listed)
            assert cursor.fetchall() == []


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"POOL_MODE": "statement"}, "POOL_MODE must be one of session, transaction"),
        ({"OPTIONS": {"prepare_threshold": 0}}, "'prepare_threshold' cannot be used"),
        ({"OPTIONS": {"server_side_binding": True}}, "'server_side_binding' cannot be used"),
        ({"OPTIONS": {"assume_role": "owner"}}, "'assume_role' cannot be used"),
    ],
)
def test_settings_that_would_keep_session_state_are_refused(overrides, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        _wrapper(**overrides)


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_a_purge_batch_names_the_session_only_for_the_batch_behind_a_transaction_pooler(
    pool_mode, django_db_setup, django_db_blocker, monkeypatch
):
    """Session mode keeps the name on the worker's own connection (foreground_sessions()
    tells resting purges by it); behind a transaction pooler it must not outlive the batch."""
    import datetime

    from django.db import connection

    from workers import purge

    def application_name() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW application_name")
            return cursor.fetchone()[0]

    sessions = purge.kind_for_model("sessions.Session")
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    monkeypatch.setitem(connection.settings_dict, "POOL_MODE", pool_mode)
    with django_db_blocker.unblock():
        before = application_name()
        try:
            assert purge.purge_batch(sessions, schema="public", now=long_ago) == 0
            after = application_name()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET application_name")
    assert after == (purge.APPLICATION_NAME if pool_mode == "session" else before)
    assert before != purge.APPLICATION_NAME
