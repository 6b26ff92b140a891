"""One migration plan for many tenant schemas: plan once, apply the same operations per schema.

Django's migrate, run once per schema (django-tenants), builds the migration loader, reads the
schema's ledger, renders the whole project state, plans, applies, then renders the state again
and runs ``post_migrate`` (content types and permissions for every app): ~0.14 s of client CPU
per schema before the DDL itself, 300-470 s for one ``AddField`` over 1,000 tenants here.

Tenant schemas are alike: when many lack the same migrations, and nothing else, the plan and
the project states are the same for all of them. This module computes them once:

* ``ledger_gaps`` reads every schema's ``django_migrations`` in one query per batch and tells,
  per schema, which nodes of the migration graph it lacks (None: no ledger at all);
* ``BatchPlan.build`` takes one such set of missing nodes and, when every operation of those
  migrations only changes the schema of existing models in a way that does not depend on the
  data or on anything outside the operation (``BATCHABLE``: fields, indexes and constraints;
  no ``RunPython``, ``RunSQL``, ``SeparateDatabaseAndState``, model creation, deletion or
  renaming, option changes that ``post_migrate`` would act on), renders the project state
  before and after each operation once;
* ``BatchPlan.apply`` then runs, per schema, only what Django's migrate would have sent to the
  database for those operations (``operation.database_forwards`` through the schema editor,
  with the schema's own introspection where the operation needs it, e.g. a constraint's name),
  and records the migrations in the schema's ledger, all in one transaction per schema.

Anything else (another set of missing migrations, a schema without a ledger, an operation not
in ``BATCHABLE``, a squashed or non-atomic migration) goes through Django's migrate per schema,
as before. ``post_migrate`` is not sent for batched schemas: its receivers (content types,
permissions) only add rows for new models or new ``Meta.permissions``, which no batchable
operation introduces. ``tests/tenants/test_migrations_batch.py`` compares a schema migrated
this way with one migrated by Django's migrate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.migrations import operations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

#: Operations whose database work is a function of the project state and of the schema's own
#: catalog only, and that add no model (so ``post_migrate`` would have nothing to create).
BATCHABLE = (
    operations.AddField,
    operations.RemoveField,
    operations.AlterField,
    operations.RenameField,
    operations.AddIndex,
    operations.RemoveIndex,
    operations.RenameIndex,
    operations.AddConstraint,
    operations.RemoveConstraint,
    operations.AlterUniqueTogether,
    operations.AlterIndexTogether,
    operations.AlterModelTableComment,
)

#: Schemas compared per ledger query. Each query takes an AccessShareLock on every ledger it
#: reads until it ends; 500 stays well inside PostgreSQL's default lock table
#: (max_locks_per_transaction 64 x max_connections 100 = 6,400 slots, shared by all sessions).
LEDGER_BATCH = 500

Node = tuple[str, str]


def expected_migrations() -> set[tuple[str, str]]:
    """Every (app, name) node of the project's migration graph, read from disk: what a fully
    migrated schema's ``django_migrations`` holds (a squashed node once its replaced ones are
    applied, since migrate records both)."""
    return set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ledger_gaps(
    schemas: list[str], expected: set[Node], *, database: str = "default"
) -> dict[str, frozenset[Node] | None]:
    """For each schema that lacks any of ``expected`` in its ``django_migrations``, the nodes
    it lacks; None for a schema without a ledger table. Up-to-date schemas are left out. Two
    queries per ``LEDGER_BATCH`` schemas."""
    gaps: dict[str, set[Node] | None] = {}
    if not schemas:
        return {}
    ordered = sorted(expected)
    apps = [app for app, _ in ordered]
    names = [name for _, name in ordered]
    with connections[database].cursor() as cursor:
        for start in range(0, len(schemas), LEDGER_BATCH):
            batch = schemas[start : start + LEDGER_BATCH]
            cursor.execute(
                "SELECT n.nspname FROM pg_namespace n"
                " JOIN pg_class c ON c.relnamespace = n.oid"
                " WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p')"
                " AND n.nspname = ANY(%s)",
                [batch],
            )
            with_ledger = {row[0] for row in cursor.fetchall()}
            gaps.update((s, None) for s in batch if s not in with_ledger)
            ledgered = [s for s in batch if s in with_ledger]
            if not ledgered:
                continue
            lacking = " UNION ALL ".join(
                "SELECT %s::text, e.app, e.name FROM expected e WHERE NOT EXISTS"
                f" (SELECT 1 FROM {_quote(s)}.django_migrations m"
                " WHERE m.app = e.app AND m.name = e.name)"
                for s in ledgered
            )
            cursor.execute(
                "WITH expected(app, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])) "
                + lacking,
                [apps, names, *ledgered],
            )
            for schema, app, name in cursor.fetchall():
                gaps.setdefault(schema, set()).add((app, name))
    return {s: (None if g is None else frozenset(g)) for s, g in gaps.items()}


@dataclass
class Step:
    app_label: str
    operation: operations.base.Operation
    from_state: ProjectState
    to_state: ProjectState


@dataclass
class BatchPlan:
    """The migrations a group of schemas lacks, in order, with each operation's states."""

    migrations: list[Node]
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def build(cls, loader: MigrationLoader, missing: frozenset[Node]) -> BatchPlan | None:
        """The plan for schemas that lack exactly ``missing``; None when any of those
        migrations needs Django's migrate (see the module docstring)."""
        graph = loader.graph
        order: list[Node] = []
        seen: set[Node] = set()
        for leaf in graph.leaf_nodes():
            for key in graph.forwards_plan(leaf):
                if key not in seen:
                    seen.add(key)
                    order.append(key)
        pending = [key for key in order if key in missing]
        if not pending or set(pending) != set(missing):
            return None
        for key in pending:
            migration = graph.nodes[key]
            if migration.replaces or not migration.atomic:
                return None
            if not all(type(op) in BATCHABLE for op in migration.operations):
                return None
        # The state of every other migration, as Django's executor builds it for migrate.
        state = ProjectState(real_apps=loader.unmigrated_apps)
        for key in order:
            if key not in missing:
                graph.nodes[key].mutate_state(state, preserve=False)
        plan = cls(migrations=pending)
        for key in pending:
            migration = graph.nodes[key]
            for operation in migration.operations:
                before = state.clone()
                operation.state_forwards(migration.app_label, state)
                plan.steps.append(Step(migration.app_label, operation, before, state.clone()))
        for step in plan.steps:
            # Rendered here once, not per schema (and before any fork, so workers share them).
            step.from_state.apps  # noqa: B018
            step.to_state.apps  # noqa: B018
        return plan

    def apply(self, schema: str, *, database: str = "default") -> None:
        """Run the plan's operations in ``schema`` and record its migrations there, in one
        transaction."""
        connection = connections[database]
        connection.set_schema(schema)
        try:
            with transaction.atomic(using=database):
                with connection.schema_editor(atomic=False) as editor:
                    for step in self.steps:
                        step.operation.database_forwards(
                            step.app_label, editor, step.from_state, step.to_state
                        )
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {_quote(schema)}.django_migrations (app, name, applied)"
                        " VALUES (%s, %s, now())",
                        self.migrations,
                    )
        finally:
            connection.set_schema_to_public()

    def describe(self) -> str:
        return ", ".join(f"{app}.{name}" for app, name in self.migrations)
