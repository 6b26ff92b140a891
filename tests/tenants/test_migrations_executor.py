"""migrate_schemas through tenants.migrations_executor: up-to-date schemas skipped after one
ledger query, a schema that lacks a migration migrated, failures named, public first."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tenants import migrations_executor
from tests.support.catalog import snapshot

SLUGS = ("mig-one", "mig-two", "mig-three")
SCHEMAS = tuple(s.replace("-", "_") for s in SLUGS)
#: A migration nothing else depends on, whose only effect is one table: removing its ledger
#: row and its table leaves a schema that needs exactly that migration.
SESSIONS = ("sessions", "0001_initial")


@pytest.fixture(scope="module")
def schemas(django_db_setup, django_db_blocker):
    """Three committed tenants of this module's own (migrate_schemas commits per schema, so
    these tests run outside a test transaction); dropped afterwards."""
    from tenants.models import Tenant
    from tenants.services import tenant_provision

    with django_db_blocker.unblock():
        for slug in SLUGS:
            if not Tenant.objects.filter(slug=slug).exists():
                tenant_provision(
                    slug=slug,
                    name=slug,
                    admin_email=f"admin@{slug}.test",
                    admin_password="Executor-test-pw-9!",
                )
        connection.set_schema_to_public()
    yield SCHEMAS
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(slug__in=SLUGS):
            tenant.delete(force_drop=True)


@pytest.fixture
def autocommit(schemas, django_db_blocker):
    """Database access with autocommit, as manage.py has it; every schema whole again after
    the test."""
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()
        for schema in schemas:
            if not _has_row(schema, *SESSIONS):
                _execute(f"DROP TABLE IF EXISTS {schema}.django_session CASCADE")
        call_command("migrate_schemas", "--tenant", verbosity=0)


@pytest.fixture
def migrated(monkeypatch) -> list[str]:
    """The schemas Django's migrate ran for in this process, in order."""
    ran: list[str] = []
    real = migrations_executor.run_migrations

    def recording(args, options, codename, schema_name, *rest, **kwargs):
        ran.append(schema_name)
        return real(args, options, codename, schema_name, *rest, **kwargs)

    monkeypatch.setattr(migrations_executor, "run_migrations", recording)
    return ran


def _execute(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _has_row(schema: str, app: str, name: str) -> bool:
    return bool(
        _execute(
            f"SELECT 1 FROM {schema}.django_migrations WHERE app = %s AND name = %s", [app, name]
        )
    )


def _has_table(schema: str, table: str) -> bool:
    return bool(_execute("SELECT to_regclass(%s)::text", [f"{schema}.{table}"])[0][0])


def _unmigrate_sessions(schema: str, *, keep_table: bool = False) -> None:
    """The schema as if ``sessions.0001_initial`` had never run (``keep_table``: the ledger
    forgets it but the table stays, so applying it fails)."""
    _execute(f"DELETE FROM {schema}.django_migrations WHERE app = %s AND name = %s", SESSIONS)
    if not keep_table:
        _execute(f"DROP TABLE {schema}.django_session CASCADE")


def _migrate(*args: str) -> str:
    out = io.StringIO()
    call_command("migrate_schemas", *args, stdout=out, verbosity=1)
    return out.getvalue()


def test_up_to_date_schemas_run_no_migrate(autocommit, migrated, capsys):
    _migrate("--tenant")
    assert not set(SCHEMAS) & set(migrated)
    assert migrated == []
    assert " 0 to migrate" in capsys.readouterr().out


def test_a_schema_lacking_a_migration_is_migrated_and_only_it(autocommit, migrated, capsys):
    _unmigrate_sessions(SCHEMAS[1])
    assert migrations_executor.schemas_needing_migration(list(SCHEMAS)) == [SCHEMAS[1]]

    _migrate("--tenant")

    assert migrated == [SCHEMAS[1]]
    assert _has_row(SCHEMAS[1], *SESSIONS) and _has_table(SCHEMAS[1], "django_session")
    assert "1 to migrate" in capsys.readouterr().out


def test_schemas_needing_migration_in_parallel_workers(autocommit, capsys):
    """Two schemas to migrate: they go to the forked workers (budget 2), both end migrated."""
    _unmigrate_sessions(SCHEMAS[0])
    _unmigrate_sessions(SCHEMAS[2])

    _migrate("--tenant")

    for schema in (SCHEMAS[0], SCHEMAS[2]):
        assert _has_row(schema, *SESSIONS) and _has_table(schema, "django_session")
    out = capsys.readouterr().out
    assert "2 to migrate" in out
    assert f"[gatehouse:{SCHEMAS[0]}] sessions.0001_initial" in out


def test_a_schema_without_a_ledger_is_never_skipped(autocommit):
    _execute("CREATE SCHEMA mig_bare")
    try:
        pending = migrations_executor.schemas_needing_migration(["mig_bare", *SCHEMAS])
    finally:
        _execute("DROP SCHEMA mig_bare CASCADE")
    assert pending == ["mig_bare"]


def test_a_failure_names_the_schema_and_fails_the_command(autocommit, migrated):
    _unmigrate_sessions(SCHEMAS[2], keep_table=True)

    with pytest.raises(CommandError, match=f"migrating schema '{SCHEMAS[2]}' failed"):
        _migrate("--tenant")
    assert not _has_row(SCHEMAS[2], *SESSIONS)


def test_a_failure_in_a_worker_names_the_schema(autocommit):
    _unmigrate_sessions(SCHEMAS[0], keep_table=True)
    _unmigrate_sessions(SCHEMAS[1], keep_table=True)

    with pytest.raises(CommandError, match="migrating schema 'mig_(one|two)' failed.*exists"):
        _migrate("--tenant")


def test_public_is_migrated_first(autocommit, migrated):
    _unmigrate_sessions(SCHEMAS[0])

    _migrate()

    assert migrated == ["public", SCHEMAS[0]]


def test_schema_option_migrates_that_schema_only(autocommit, migrated):
    _unmigrate_sessions(SCHEMAS[0])
    _unmigrate_sessions(SCHEMAS[1])

    _migrate("--schema", SCHEMAS[0])

    assert migrated == [SCHEMAS[0]]
    assert _has_row(SCHEMAS[0], *SESSIONS)
    assert not _has_row(SCHEMAS[1], *SESSIONS)


def test_schema_option_on_an_up_to_date_schema_runs_nothing(autocommit, migrated):
    _migrate("--schema", SCHEMAS[2])
    assert migrated == []


def test_options_beyond_apply_all_skip_nothing(autocommit, migrated):
    """--plan asks migrate for a listing per schema: no ledger shortcut answers that."""
    _migrate("--tenant", "--plan")
    assert set(SCHEMAS) <= set(migrated)


def test_a_django_tenants_executor_runs_behind_the_ledger(autocommit, capsys):
    """``--executor multiprocessing`` (the Helm job's) gets the same filter."""
    _unmigrate_sessions(SCHEMAS[1])

    _migrate("--tenant", "--executor", "multiprocessing")

    assert _has_row(SCHEMAS[1], *SESSIONS) and _has_table(SCHEMAS[1], "django_session")
    assert "[multiprocessing] " in capsys.readouterr().out


def test_the_table_list_is_the_schemas_own(autocommit):
    """Introspection lists a schema's tables by index (tenants/postgresql_backend): the same
    set as the catalog's tables and views of that schema, for a tenant and for public."""
    for schema in (SCHEMAS[0], "public"):
        connection.set_schema(schema, include_public=False)
        with connection.cursor() as cursor:
            listed = set(connection.introspection.table_names(cursor, include_views=True))
        connection.set_schema_to_public()
        in_catalog = {
            row[0]
            for row in _execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s"
                " UNION SELECT viewname FROM pg_views WHERE schemaname = %s",
                [schema, schema],
            )
        }
        assert listed == in_catalog and "django_migrations" in listed


#: A leaf migration whose operations are all batchable (AddIndex: the back-channel logout
#: outbox's sweep and purge indexes, one partial): reversed in a schema, it is what that
#: schema lacks after a deploy that brings it. When a later migration becomes oauth's leaf,
#: point these at a batchable leaf.
AMR = ("oauth", "0019_backchannel_logout_delivery_indexes")
BEFORE_AMR = "0018_backchannel_logout_deliveries"
#: The indexes it creates, in order.
AMR_INDEXES = ("oauth_bcl_delivery_due", "oauth_bcl_delivery_purge")


def _structure(schema: str) -> dict:
    """The schema's catalog and ledger entries (not its tenant's rows, which differ per
    tenant, nor the ledger's ids, which count this module's earlier un- and re-migrations)."""
    taken = {kind: rows for kind, rows in snapshot(schema).items() if not kind.startswith("rows")}
    taken["sequences"] = [
        row[:-1] if row[0] == "django_migrations_id_seq" else row for row in taken["sequences"]
    ]
    taken["ledger"] = sorted(_execute(f"SELECT app, name FROM {schema}.django_migrations"))
    return taken


def _unapply_amr(*schemas: str) -> None:
    for schema in schemas:
        call_command("migrate_schemas", AMR[0], BEFORE_AMR, schema_name=schema, verbosity=0)
        assert not _has_row(schema, *AMR)


def test_schemas_lacking_the_same_migrations_share_one_plan(autocommit, migrated, capsys):
    """Two schemas lack oauth 0019 (AddIndexes): one plan, applied to both in the workers,
    without Django's migrate; each ends as the schema Django's migrate made of the third."""
    _unapply_amr(*SCHEMAS)
    call_command("migrate_schemas", AMR[0], AMR[1], schema_name=SCHEMAS[2], verbosity=0)
    migrated.clear()

    _migrate("--tenant")

    out = capsys.readouterr().out
    assert migrated == []
    assert f"2 schemas lack oauth.{AMR[1]}: one plan for all of them" in out
    assert f"[gatehouse:{SCHEMAS[0]}] oauth.{AMR[1]}" in out
    reference = _structure(SCHEMAS[2])
    assert set(AMR_INDEXES) <= {index[0] for index in reference["indexes"]}
    for schema in SCHEMAS[:2]:
        assert _has_row(schema, *AMR)
        batched = _structure(schema)
        for kind in reference:
            assert batched[kind] == reference[kind], (schema, kind)


def test_one_plan_in_process_with_a_budget_of_one(autocommit, migrated, settings):
    settings.TENANT_MULTIPROCESSING_MAX_PROCESSES = 1
    _unapply_amr(SCHEMAS[0], SCHEMAS[1])
    migrated.clear()

    _migrate("--tenant")

    assert migrated == []
    assert _has_row(SCHEMAS[0], *AMR) and _has_row(SCHEMAS[1], *AMR)


def test_a_migration_that_is_not_batchable_goes_through_migrate(autocommit, migrated):
    """sessions 0001 creates a model (post_migrate adds its content type): Django's migrate."""
    _unapply_amr(SCHEMAS[0])
    _unmigrate_sessions(SCHEMAS[1])
    migrated.clear()

    _migrate("--tenant")

    assert migrated == [SCHEMAS[1]]
    assert _has_row(SCHEMAS[0], *AMR) and _has_row(SCHEMAS[1], *SESSIONS)


def test_a_failing_batched_schema_is_named_and_left_unrecorded(autocommit):
    _unapply_amr(SCHEMAS[0], SCHEMAS[1])
    # The second index's name is taken already: its CREATE INDEX fails in that schema, and
    # the migration with it, whole (the first index, created just before, goes too).
    first, second = AMR_INDEXES
    _execute(f"CREATE INDEX {second} ON {SCHEMAS[1]}.oauth_backchannellogoutdelivery (sub)")

    with pytest.raises(CommandError, match=f"migrating schema '{SCHEMAS[1]}' failed.*{second}"):
        _migrate("--tenant")

    assert not _has_row(SCHEMAS[1], *AMR)
    assert not _has_table(SCHEMAS[1], first)  # to_regclass names indexes too
    _execute(f"DROP INDEX {SCHEMAS[1]}.{second}")


def test_batch_plan_refuses_what_it_cannot_share():
    from django.db.migrations.loader import MigrationLoader

    from tenants.migrations_batch import BatchPlan

    loader = MigrationLoader(None, ignore_no_migrations=True)
    assert BatchPlan.build(loader, frozenset({AMR})).migrations == [AMR]
    # RunSQL (the trigger), CreateModel: schema-dependent or post_migrate's business.
    assert BatchPlan.build(loader, frozenset({("oauth", "0009_client_updated_at_trigger")})) is None
    assert BatchPlan.build(loader, frozenset({SESSIONS})) is None


def test_a_pass_over_every_tenant_brings_the_template_up_to_date(autocommit, capsys):
    """After a deploy's migrate_schemas, the provisioning template has the new migrations too
    (rebuilt there, not in the first provisioning after it)."""
    from tenants import template

    _execute(
        f"DELETE FROM {template.TEMPLATE_SCHEMA}.django_migrations"
        " WHERE app = 'sessions' AND name = '0001_initial'"
    )
    _execute(f"DROP TABLE {template.TEMPLATE_SCHEMA}.django_session")

    _migrate("--tenant")

    assert "tenant template rebuilt" in capsys.readouterr().out
    assert _has_row(template.TEMPLATE_SCHEMA, *SESSIONS)
    _migrate("--tenant")
    assert "tenant template rebuilt" not in capsys.readouterr().out
