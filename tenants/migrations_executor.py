"""``manage.py migrate_schemas`` at many tenants: skip the schemas that are up to date, migrate
the rest in parallel within a connection budget, and show progress.

django-tenants runs Django's ``migrate`` once per schema, and each run builds a migration
executor (loading every migration module and the schema's ledger) even when there is nothing
to apply: ~0.14 s per tenant here, 141 s per 1,000. This module plugs in at django-tenants'
extension point, ``settings.GET_EXECUTOR_FUNCTION``, so operators and the Helm job keep running
the same ``migrate_schemas`` command:

* **The ledger, compared in one query.** A schema is up to date when its own
  ``django_migrations`` holds every node of the project's migration graph (a tenant schema
  records every migration, shared apps' included: the router only turns their operations into
  no-ops). One catalog query finds the schemas that have a ledger at all, one ``UNION ALL``
  query over them returns the schemas that lack any node; only those run Django's migrate.
  The truth stays the schema's own ``django_migrations``: a schema with one row missing (or no
  ledger table) is never skipped.
* **One plan for schemas that lack the same migrations** (``tenants.migrations_batch``): when
  those migrations only change fields, indexes or constraints, the plan and the project states
  are computed once and each schema gets just the DDL and its ledger rows, in the same bounded
  workers; anything else goes on to Django's migrate per schema, below.
* **A bounded parallel pass.** The schemas that do need migrating run in forked worker
  processes, at most ``TENANT_MULTIPROCESSING_MAX_PROCESSES`` at a time (the connection
  budget: one PostgreSQL connection per worker), in-process when only one schema needs it or
  when called inside a transaction (provisioning migrates its new schema in its own atomic
  block). The first failure stops new schemas from being started, lets the running ones
  finish, and ends the command non-zero naming the schema.
* **Progress with ETA**: a tqdm bar when stdout is a terminal, a plain line every 10% (and at
  the end) otherwise, for CI and Kubernetes logs.

After a pass over every tenant, the provisioning template (``tenants.template``) is rebuilt
when its ledger differs from the migration graph.

``migrate_schemas`` already migrates the public schema first (``--shared`` then tenants); here
the public schema, when in the list, is always migrated in-process and before any tenant.
Options that ask migrate for something other than "apply everything" (an app label or target,
``--fake``, ``--fake-initial``, ``--plan``, ``--check``, ``--prune``, ``--run-syncdb``) skip
nothing and run the schemas one by one, exactly as django-tenants' standard executor does.

``--executor standard`` and ``--executor multiprocessing`` (the Helm job's) keep their
django-tenants behaviour for the schemas that need migrating, after the same ledger filter;
``--executor subprocess`` likewise.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.migration_executors import get_executor as stock_executor
from django_tenants.migration_executors.base import MigrationExecutor, run_migrations
from tqdm import tqdm

from tenants import template
from tenants.migrations_batch import BatchPlan, expected_migrations, ledger_gaps

#: Options under which migrate does something other than apply every pending migration: the
#: ledger comparison does not answer those, so no schema is skipped.
NO_SKIP_OPTIONS = (
    "app_label",
    "migration_name",
    "fake",
    "fake_initial",
    "plan",
    "check_unapplied",
    "prune",
    "run_syncdb",
)


def schemas_needing_migration(schemas: list[str], *, database: str = "default") -> list[str]:
    """The schemas, in the given order, whose ledger lacks any node of the migration graph
    (or that have no ledger table): two queries per ``LEDGER_BATCH`` schemas, whatever the
    number of migrations."""
    gaps = ledger_gaps(schemas, expected_migrations(), database=database)
    return [s for s in schemas if s in gaps]


def skips_allowed(options: dict) -> bool:
    """Whether this migrate run only applies pending migrations (so up-to-date schemas may be
    skipped)."""
    return not any(options.get(name) for name in NO_SKIP_OPTIONS)


class LedgerFilter:
    """Mixin for a django-tenants executor: the public schema first, in-process; then only the
    tenant schemas whose ledger lacks a migration go on to the executor's own pass."""

    #: Set by run_migrations: how many schemas the ledger query let through, for the tests.
    skipped: int = 0
    #: Set by run_migrations: per schema to migrate, the graph nodes its ledger lacks (None:
    #: no ledger), when the ledger was read (``skips_allowed``).
    gaps: dict | None = None

    def run_migrations(self, tenants=None):
        tenants = list(tenants or [])
        if self.PUBLIC_SCHEMA_NAME in tenants:
            tenants.remove(self.PUBLIC_SCHEMA_NAME)
            run_migrations(self.args, self.options, self.codename, self.PUBLIC_SCHEMA_NAME)
        if not tenants:
            return
        if skips_allowed(self.options):
            self.gaps = ledger_gaps(
                tenants,
                expected_migrations(),
                database=self.options.get("database") or self.TENANT_DB_ALIAS,
            )
            pending = [s for s in tenants if s in self.gaps]
        else:
            pending = tenants
        self.skipped = len(tenants) - len(pending)
        if self._verbosity() >= 1 and len(tenants) > 1:
            sys.stdout.write(
                f"[{self.codename}] {len(tenants)} tenant schemas: {self.skipped} up to date,"
                f" {len(pending)} to migrate\n"
            )
        if pending:
            super().run_migrations(pending)
        self._refresh_template()

    def _refresh_template(self) -> None:
        """After a pass over every tenant, bring the provisioning template (tenants.template)
        to the same migrations, so the next provisioning does not have to."""
        database = self.options.get("database") or self.TENANT_DB_ALIAS
        if (
            self.options.get("schema_name")
            or not skips_allowed(self.options)
            or connections[database].in_atomic_block
        ):
            return
        with transaction.atomic(using=database):
            rebuilt = template.template_ensure()
        if rebuilt and self._verbosity() >= 1:
            sys.stdout.write(f"[{self.codename}] tenant template rebuilt\n")

    def run_multi_type_migrations(self, tenants):
        # Gatehouse has one tenant type; django-tenants' own path is kept for completeness.
        return super().run_multi_type_migrations(tenants)

    def _verbosity(self) -> int:
        return int(self.options.get("verbosity", 1))


@dataclass
class SchemaResult:
    schema: str
    output: str
    error: str | None = None


def _migrate_one(args, options, codename, schema: str) -> SchemaResult:
    """One schema, in a worker process: Django's migrate with its output captured, so the
    parent prints it without tearing the progress bar."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            run_migrations(args, options, codename, schema, allow_atomic=False)
    except BaseException as exc:  # noqa: BLE001 - SystemExit (migrate --check) is a failure too
        return SchemaResult(schema, buffer.getvalue(), f"{type(exc).__name__}: {exc}")
    return SchemaResult(schema, buffer.getvalue())


#: The plans of the batched pass, set before its workers fork (they inherit them rendered).
_BATCH_PLANS: list[BatchPlan] = []


def _apply_planned(index: int, schema: str, database: str) -> SchemaResult:
    """One schema of the batched pass (in a worker, or in-process)."""
    try:
        _BATCH_PLANS[index].apply(schema, database=database)
    except Exception as exc:  # noqa: BLE001 - reported with the schema's name
        return SchemaResult(schema, "", f"{type(exc).__name__}: {exc}")
    return SchemaResult(schema, "")


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line every 10% and at the end."""

    def __init__(self, total: int, *, codename: str, quiet: bool):
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.codename = codename
        self.quiet = quiet
        self.tty = sys.stdout.isatty() and not quiet
        self.bar = tqdm(total=total, unit="schema", desc="migrate_schemas") if self.tty else None
        self._next_line = max(1, total // 10)

    def write(self, text: str) -> None:
        if self.quiet or not text:
            return
        if self.bar is not None:
            self.bar.write(text.rstrip("\n"))
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif not self.quiet and (self.done % self._next_line == 0 or self.done == self.total):
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            sys.stdout.write(
                f"[{self.codename}] migrated {self.done}/{self.total} schemas"
                f" in {elapsed:.1f} s, ETA {eta:.0f} s\n"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ParallelExecutor(MigrationExecutor):
    """Migrate each given schema with Django's migrate, at most
    ``TENANT_MULTIPROCESSING_MAX_PROCESSES`` at a time in forked workers."""

    codename = "gatehouse"

    def run_migrations(self, tenants=None):
        tenants = list(tenants or [])
        if self.PUBLIC_SCHEMA_NAME in tenants:
            tenants.remove(self.PUBLIC_SCHEMA_NAME)
            run_migrations(self.args, self.options, self.codename, self.PUBLIC_SCHEMA_NAME)
        if not tenants:
            return
        budget = max(1, int(getattr(settings, "TENANT_MULTIPROCESSING_MAX_PROCESSES", 2)))
        database = self.options.get("database") or self.TENANT_DB_ALIAS
        verbosity = int(self.options.get("verbosity", 1))
        progress = Progress(len(tenants), codename=self.codename, quiet=verbosity < 1)
        try:
            in_transaction = connections[database].in_atomic_block
            if in_transaction:
                # Provisioning: its own error handling sees the migration's exception as is.
                for schema in tenants:
                    run_migrations(self.args, self.options, self.codename, schema)
                    progress.step()
            else:
                if getattr(self, "gaps", None) and skips_allowed(self.options):
                    tenants = self._batched(tenants, progress, verbosity, budget, database)
                if not tenants:
                    return
                if len(tenants) == 1 or budget == 1 or not skips_allowed(self.options):
                    self._in_process(tenants, progress)
                else:
                    self._in_workers(tenants, progress, verbosity, min(budget, len(tenants)))
        finally:
            progress.close()

    def _batched(
        self, tenants: list[str], progress: Progress, verbosity: int, budget: int, database: str
    ) -> list[str]:
        """Apply one shared plan per group of schemas that lack the same migrations
        (``tenants.migrations_batch``); returns the schemas left for Django's migrate."""
        loader = MigrationLoader(None, ignore_no_migrations=True)
        groups: dict[frozenset, list[str]] = {}
        for schema in tenants:
            missing = self.gaps.get(schema)
            if missing:
                groups.setdefault(missing, []).append(schema)
        work: list[tuple[int, str]] = []
        plans: list[BatchPlan] = []
        for missing, schemas in groups.items():
            plan = BatchPlan.build(loader, missing)
            if plan is None:
                continue
            plans.append(plan)
            work.extend((len(plans) - 1, schema) for schema in schemas)
            if verbosity >= 1:
                progress.write(
                    f"[{self.codename}] {len(schemas)} schemas lack {plan.describe()}:"
                    " one plan for all of them"
                )
        if not work:
            return tenants
        _BATCH_PLANS[:] = plans
        try:
            self._apply_batched(work, progress, verbosity, budget, database)
        finally:
            _BATCH_PLANS.clear()
        done = {schema for _, schema in work}
        return [schema for schema in tenants if schema not in done]

    def _apply_batched(
        self, work: list[tuple[int, str]], progress: Progress, verbosity: int, budget: int,
        database: str,
    ) -> None:  # fmt: skip
        def report(result: SchemaResult, index: int) -> None:
            if verbosity >= 1:
                progress.write(
                    f"[{self.codename}:{result.schema}] {_BATCH_PLANS[index].describe()}"
                )
            progress.step()

        def failed(result: SchemaResult) -> CommandError:
            return CommandError(
                f"migrating schema {result.schema!r} failed: {result.error}"
                f" ({progress.done} of {progress.total} schemas migrated before it stopped;"
                " rerun migrate_schemas after fixing it: finished schemas are skipped)"
            )

        workers = min(budget, len(work))
        if workers == 1:
            for index, schema in work:
                result = _apply_planned(index, schema, database)
                if result.error is not None:
                    raise failed(result)
                report(result, index)
            return
        connections.close_all()
        failure: SchemaResult | None = None
        queue = iter(work)
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            running = {}
            for index, schema in queue:
                running[pool.submit(_apply_planned, index, schema, database)] = index
                if len(running) >= workers * 2:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    result = future.result()
                    if result.error is not None:
                        failure = failure or result
                        continue
                    report(result, index)
                    if failure is None:
                        item = next(queue, None)
                        if item is not None:
                            future = pool.submit(_apply_planned, item[0], item[1], database)
                            running[future] = item[0]
        if failure is not None:
            raise failed(failure)

    def _in_process(self, tenants: list[str], progress: Progress) -> None:
        for schema in tenants:
            try:
                run_migrations(self.args, self.options, self.codename, schema)
            except CommandError as exc:
                raise CommandError(f"migrating schema {schema!r} failed: {exc}") from exc
            except Exception as exc:
                raise CommandError(
                    f"migrating schema {schema!r} failed: {type(exc).__name__}: {exc}"
                ) from exc
            progress.step()

    def _in_workers(
        self, tenants: list[str], progress: Progress, verbosity: int, workers: int
    ) -> None:
        # The children must not share the parent's socket: each opens its own connection.
        connections.close_all()
        # A stream handed to call_command stays here: a worker's output comes back as text.
        options = {k: v for k, v in self.options.items() if k not in ("stdout", "stderr")}
        failure: SchemaResult | None = None
        queue = iter(tenants)
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            running = set()
            for schema in queue:
                running.add(pool.submit(_migrate_one, self.args, options, self.codename, schema))
                if len(running) >= workers:
                    break
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    if result.error is not None:
                        failure = failure or result
                        progress.write(result.output)
                        continue
                    if verbosity >= 2:
                        progress.write(result.output)
                    elif verbosity >= 1:
                        applied = [
                            line.split("Applying", 1)[1].split("...")[0].strip()
                            for line in result.output.splitlines()
                            if "Applying" in line
                        ]
                        if applied:
                            progress.write(
                                f"[{self.codename}:{result.schema}] {', '.join(applied)}"
                            )
                    progress.step()
                    if failure is None:
                        schema = next(queue, None)
                        if schema is not None:
                            running.add(
                                pool.submit(_migrate_one, self.args, options, self.codename, schema)
                            )
        if failure is not None:
            raise CommandError(
                f"migrating schema {failure.schema!r} failed: {failure.error}"
                f" ({progress.done} of {progress.total} schemas migrated before it stopped;"
                " rerun migrate_schemas after fixing it: finished schemas are skipped)"
            )

    def run_multi_type_migrations(self, tenants):
        raise NotImplementedError("Gatehouse has a single tenant type")


class GatehouseExecutor(LedgerFilter, ParallelExecutor):
    """The default: the ledger filter, then the bounded parallel pass with progress."""

    codename = "gatehouse"


def get_executor(codename: str | None = None):
    """``settings.GET_EXECUTOR_FUNCTION``: ours by default (and for ``--executor gatehouse``);
    a django-tenants codename gets that executor behind the same ledger filter."""
    if codename in (None, "", GatehouseExecutor.codename):
        return GatehouseExecutor
    stock = stock_executor(codename)
    return type(f"Ledger{stock.__name__}", (LedgerFilter, stock), {"codename": stock.codename})
