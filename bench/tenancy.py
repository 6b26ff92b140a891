"""Benchmark: tenancy at 1,000 tenants (not a test).

Measures, on a bench database of its own (recreated each run):

  1. Provisioning (``tenants.services.tenant_provision``, in this process, as the operator
     CLI runs it): ``--samples`` tenants provisioned with 10 existing tenants, and again with
     ``--tenants`` existing; median and p95.
  2. ``manage.py migrate_schemas --tenant`` with nothing to apply over every tenant: Gatehouse's
     executor (tenants/migrations_executor.py) against django-tenants' own ``standard`` and
     ``multiprocessing`` executors (the same command with GET_EXECUTOR_FUNCTION unset), each a
     fresh process, wall time including start-up (measured alone too).
  3. One real migration over every tenant: a temporary ``oauth`` migration (a column with a
     default and an index on ``oauth_client``) written for the run, applied by
     ``migrate_schemas --tenant`` (one shared plan, tenants/migrations_batch.py) with
     TENANT_MULTIPROCESSING_MAX_PROCESSES 1, 2 and 4, rolled back with SQL between runs; with
     ``--per-schema``, also through Django's migrate per schema (django-tenants'
     ``multiprocessing`` executor behind the ledger filter, 2 processes), the path before the
     shared plan; the file is removed afterwards.
  4. The catalog cache of one PostgreSQL backend (persistent connections) after it has read
     the token tables of N tenant schemas: CacheMemoryContext from pg_backend_memory_contexts
     and the backend's RSS from /proc.

Most tenants are **bare copies**: 10 are provisioned for real, then the provisioning template
(tenants/template.py: the migrated schema every provisioning copies) is copied with the
product's own SQL, two connections at a time, without an admin user or keys, and Tenant/Domain
rows are bulk-inserted, because provisioning 1,000 tenants one by one costs ~10 minutes here.
A copy's catalog and ledger are a provisioned schema's, so migrate sees it as any other.
Provisioning is also timed by phase (the schema copy, the admin's Argon2 hash, computed in a
thread while the schema is copied, what is left of it for the admin user, the signing keys).

    .venv/bin/python bench/tenancy.py [--tenants 1000] [--samples 20] [--per-schema] [--no-doc]

Environment: BENCH_TENANCY_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/gh_bench_tenancy), BENCH_TENANCY_REDIS_URL (default
redis://127.0.0.1:6379/13). Figures go to docs/benchmarks.md between the tenancy markers, charts
to docs/tenancy-*.png. The bench database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import common  # this folder is on sys.path: the benchmarks run as scripts
import psycopg

DOC = common.REPO / "docs" / "benchmarks.md"
START, END = "<!-- tenancy:start -->", "<!-- tenancy:end -->"
FIRST_TENANT = "tpl"
PASSWORD = "Bench-tenancy-pw-1!"
TEMP_MIGRATION = common.REPO / "oauth" / "migrations" / "0999_bench_tenancy_column.py"
TEMP_COLUMN = "bench_weight"
STOCK = "django_tenants.migration_executors.get_executor"
LAST_CPU = [0.0]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(env: dict[str, str], args: list[str], **extra_env: str) -> tuple[float, str]:
    """Wall seconds of one process, and its output's last lines; its CPU seconds (and its
    children's) go to ``LAST_CPU``."""
    started, cpu = time.monotonic(), children_cpu()
    proc = subprocess.run(
        args, cwd=common.REPO, env={**env, **extra_env}, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    LAST_CPU[0] = children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {(proc.stdout + proc.stderr)[-1500:]}")
    return elapsed, "\n".join(proc.stdout.strip().splitlines()[-3:])


def migrate(env, *args: str, stock: str | None = None, **extra_env) -> tuple[float, str]:
    """``migrate_schemas ARGS`` in a fresh process; with ``stock`` (a django-tenants executor
    codename), django-tenants' executor instead of Gatehouse's."""
    if stock is None:
        return timed_run(env, [sys.executable, "manage.py", "migrate_schemas", *args], **extra_env)
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        f"settings.GET_EXECUTOR_FUNCTION = {STOCK!r}\n"
        "from django.core.management import call_command\n"
        f"call_command('migrate_schemas', *{list(args)!r}, executor={stock!r})\n"
    )
    return timed_run(env, [sys.executable, "-c", script], **extra_env)


# --- tenants ----------------------------------------------------------------------------------


CPU: list[float] = []
#: Seconds per provisioning phase, summed over the samples of one size.
PHASES: dict[str, list[float]] = {}
#: Set while a comparison sample provisions the way it was done before the template: an empty
#: schema and every tenant migration applied to it.
MIGRATE_INSTEAD = [False]


def time_phases() -> None:
    """Wrap the provisioning phases (bench-only) so each sample's time splits into them."""
    import tenants.services
    from oauth.signing import services as key_services
    from tenants import template

    def wrap(module, name: str, label: str) -> None:
        real = getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                if not MIGRATE_INSTEAD[0]:
                    PHASES.setdefault(label, []).append(time.perf_counter() - started)

        setattr(module, name, timed)

    copy = template.schema_create

    def schema_create(schema: str, *, verbosity: int = 0) -> bool:
        if not MIGRATE_INSTEAD[0]:
            return copy(schema, verbosity=verbosity)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        template.migrate_schema(schema, verbosity=verbosity)
        return False

    template.schema_create = schema_create
    wrap(template, "schema_create", "schema (copy of the template)")
    # The hash itself runs in a thread during the copy (tenants.services): timed apart, and
    # the admin-user phase is what is left of it after the copy, plus the INSERT.
    wrap(tenants.services, "make_password", "Argon2 hash (in a thread, during the copy)")
    wrap(tenants.services, "user_create", "admin user (the hash's rest + INSERT)")
    wrap(key_services, "provision_signing_keys", "signing keys (2 RSA-2048, 2 P-256)")


def phase_medians() -> dict[str, float]:
    medians = {label: statistics.median(v) for label, v in PHASES.items()}
    PHASES.clear()
    return medians


def provision(slug: str) -> float:
    """Wall seconds of one provisioning; this process's CPU seconds go to ``CPU``."""
    from tenants.services import tenant_provision

    started, cpu = time.perf_counter(), time.process_time()
    tenant_provision(
        slug=slug, name=slug, admin_email=f"admin@{slug}.test", admin_password=PASSWORD
    )
    if not MIGRATE_INSTEAD[0]:
        CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started


def provision_samples(prefix: str, count: int) -> dict:
    """``count`` provisionings as the product does them, with one by migrating (the path
    before the template) after every second one, interleaved so both see the same load."""
    CPU.clear()
    PHASES.clear()
    samples, migrated = [], []
    for i in range(count):
        samples.append(provision(f"{prefix}{i:02}"))
        if i % 2:
            MIGRATE_INSTEAD[0] = True
            try:
                migrated.append(provision(f"{prefix}m{i:02}"))
            finally:
                MIGRATE_INSTEAD[0] = False
    return {
        "samples": samples,
        "migrated": migrated,
        "load": load(),
        "cpu": statistics.median(CPU),
        "phases": phase_medians(),
    }


def clone_tenants(database_url: str, first: int, last: int) -> float:
    """Tenants ``t{first:04}`` .. ``t{last-1:04}`` as bare copies of the provisioning template
    (the product's SQL, tenants.template), two connections at a time; seconds."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, transaction

    from tenants import template
    from tenants.models import Domain, Tenant

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        template.template_ensure()
        sql = template.clone_statements(cursor)
    numbers = list(range(first, last))

    def copy(part: list[int]) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for number in part:
                with conn.transaction():
                    conn.execute(sql.replace(template.TARGET, f'"t{number:04}"'))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(copy, [numbers[0::2], numbers[1::2]]))
    tenants = Tenant.objects.bulk_create(
        Tenant(slug=f"t{n:04}", name=f"t{n:04}", schema_name=f"t{n:04}") for n in numbers
    )
    Domain.objects.bulk_create(
        Domain(domain=f"{t.slug}.{common.BASE_DOMAIN}", tenant=t, is_primary=True) for t in tenants
    )
    return time.perf_counter() - started


# --- the real migration ----------------------------------------------------------------------


def write_temp_migration() -> None:
    leaf = max(p.stem for p in TEMP_MIGRATION.parent.glob("0[0-8]*.py"))
    TEMP_MIGRATION.write_text(
        "# Written by bench/tenancy.py for one run; never committed.\n"
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('oauth', {leaf!r})]\n"
        "    operations = [\n"
        f"        migrations.AddField('client', {TEMP_COLUMN!r},"
        " models.IntegerField(default=1, db_index=True)),\n"
        "    ]\n"
    )


def roll_back_temp_migration(database_url: str, schemas: list[str]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(
                f"ALTER TABLE {schema}.oauth_client DROP COLUMN IF EXISTS {TEMP_COLUMN};"
                f" DELETE FROM {schema}.django_migrations"
                f" WHERE app = 'oauth' AND name = '{TEMP_MIGRATION.stem}'"
            )


def count_with_column(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'oauth_client' AND column_name = %s"
            " AND table_schema <> '_tenant_template'",
            [TEMP_COLUMN],
        ).fetchone()[0]


# --- the catalog cache ----------------------------------------------------------------------


def catalog_cache(database_url: str, schemas: list[str], steps: list[int]) -> list[dict]:
    """One backend reads the token tables of more and more schemas; its cache after each step."""
    rows = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        touched = 0
        for step in steps:
            for schema in schemas[touched:step]:
                conn.execute(
                    f"SELECT count(*) FROM {schema}.oauth_token t"
                    f" JOIN {schema}.oauth_client c ON c.id = t.client_id"
                )
            touched = step
            cache = conn.execute(
                "SELECT sum(total_bytes) FROM pg_backend_memory_contexts"
                " WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext'"
            ).fetchone()[0]
            rss = None
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) * 1024
            except OSError:
                pass
            rows.append(
                {"schemas": step, "cache_mb": float(cache) / 2**20, "rss_mb": (rss or 0) / 2**20}
            )
    return rows


# --- report ------------------------------------------------------------------------------------


def charts(results: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    prov = results["provisioning"]
    n = results["tenants"]
    ax.boxplot(
        [prov[k][kind] for k in ("10", "n") for kind in ("samples", "migrated")],
        tick_labels=["10: copy", "10: migrate", f"{n}: copy", f"{n}: migrate"],
    )
    ax.set_ylabel("seconds per provisioning")
    ax.set_title("Provisioning one tenant")
    fig.tight_layout()
    fig.savefig(common.REPO / "docs" / "tenancy-provisioning.png", dpi=100)
    names.append("tenancy-provisioning.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.8))
    labels = [
        ("no-op: " if r["label"].startswith("no-op") else "real: ") + r["label"].split(": ", 1)[1]
        for r in results["migrate"]
    ]
    values = [r["seconds"] for r in results["migrate"]]
    bars = ax.barh(
        labels,
        values,
        color=["#999" if "stock" in r or "per schema" in r else "#2a7" for r in labels],
    )
    ax.bar_label(bars, fmt="%.0f s")
    ax.axvline(30, ls="--", c="#c33", lw=1)
    ax.axvline(60, ls=":", c="#c33", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds, migrate_schemas over {results['tenants']} tenants (wall)")
    fig.tight_layout()
    fig.savefig(common.REPO / "docs" / "tenancy-migrate.png", dpi=100)
    names.append("tenancy-migrate.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    cache = results["catalog_cache"]
    ax.plot(
        [r["schemas"] for r in cache], [r["cache_mb"] for r in cache], "o-", label="catalog cache"
    )
    ax.plot([r["schemas"] for r in cache], [r["rss_mb"] for r in cache], "s-", label="backend RSS")
    ax.set_xlabel("tenant schemas whose token tables one backend has read")
    ax.set_ylabel("MB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.REPO / "docs" / "tenancy-catalog-cache.png", dpi=100)
    names.append("tenancy-catalog-cache.png")
    plt.close(fig)
    return names


def report(results: dict) -> str:
    n = results["tenants"]
    prov = results["provisioning"]
    lines = [
        f"## Tenancy at {n:,} tenants ({results['date']})",
        "",
        "| measurement | wall | client CPU | target | load average |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label in (("10", "10"), ("n", f"{n:,}")):
        p = prov[key]
        lines.append(
            f"| provisioning with {label} existing tenants ({len(p['samples'])} samples)"
            f" | median {p['median']:.2f} s, p95 {p['p95']:.2f} s | median {p['cpu']:.2f} s"
            f" | {'<= 1 s median' if key == 'n' else ''} | {p['load']} |"
        )
        if p.get("migrated"):
            lines.append(
                f"| the same, by migrating an empty schema (the path before the template;"
                f" {len(p['migrated'])} samples interleaved) | median"
                f" {statistics.median(p['migrated']):.2f} s, p95 {p95(p['migrated']):.2f} s"
                " | | | |"
            )
    for row in results["migrate"]:
        lines.append(
            f"| {row['label']} | {row['seconds']:.1f} s | {row['cpu']:.1f} s | {row['target']}"
            f" | {row['load']} |"
        )
    phases = list(prov["n"].get("phases", {}))
    if phases:
        lines += [
            "",
            "Provisioning by phase (median seconds per sample; the hash overlaps the copy, so "
            "the phases add up to more than the wall time they share; the rest is the tenant, "
            "domain and audit rows, the checks before them and the commit):",
            "",
            "| existing tenants | " + " | ".join(phases) + " | whole provisioning |",
            "|---" * (len(phases) + 2) + "|",
        ]
        for key, label in (("10", "10"), ("n", f"{n:,}")):
            p = prov[key]
            cells = " | ".join(f"{p['phases'].get(name, 0):.2f} s" for name in phases)
            lines.append(f"| {label} | {cells} | {p['median']:.2f} s |")
    lines += [
        "",
        "![provisioning](tenancy-provisioning.png) ![migrate_schemas](tenancy-migrate.png)",
        "",
        "| schemas read by one backend | catalog cache | backend RSS |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {r['schemas']:,} | {r['cache_mb']:.1f} MB | {r['rss_mb']:.1f} MB |"
        for r in results["catalog_cache"]
    ]
    lines += [
        "",
        "![catalog cache](tenancy-catalog-cache.png)",
        "",
        f"Method: `bench/tenancy.py --tenants {n}` on this project's machine kind (2 cores shared"
        " with other work: compare rows of one run and read the load average beside each;"
        f" PostgreSQL {results['postgres']}, max_connections {results['max_connections']},"
        f" max_locks_per_transaction {results['max_locks']}, shared_buffers"
        f" {results.get('shared_buffers', '?')}, max_files_per_process"
        f" {results.get('max_files', '?')}). 10 tenants are provisioned for"
        f" real; the other {n - 10:,} are bare copies of the provisioning template (the"
        " product's copy SQL, tenants/template.py, no admin user or keys) with bulk-inserted"
        f" Tenant/Domain rows ({results['clone_s']:.0f} s for all of them, two connections),"
        " then the provisioning samples run at that size. Every migrate"
        " figure is one fresh `manage.py` process, start-up included; start-up plus one"
        f" up-to-date schema alone takes {results['startup_s']:.1f} s. The ledger query alone"
        f" (which schemas lack a migration, over all {n:,}) took {results['ledger_s'] * 1000:.0f}"
        " ms. The real migration is a temporary `oauth` migration (AddField with a default and"
        " `db_index=True` on `oauth_client`), rolled back with SQL between runs (in the"
        " provisioning template too, so every run also rebuilds the template, as a deploy"
        ' does) and never committed; "one plan" is tenants/migrations_batch.py.'
        ' "stock" rows are django-tenants\' executors (GET_EXECUTOR_FUNCTION unset);'
        " django-tenants' `subprocess` executor starts one `manage.py` per schema"
        f" ({results['startup_s']:.1f} s each here) and was not run at this size.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--per-schema",
        action="store_true",
        help="also run the real migration through Django's migrate per schema (slow)",
    )
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--system-postgres",
        action="store_true",
        help="the machine's PostgreSQL (or BENCH_TENANCY_DATABASE_URL) instead of the "
        "bench's own cluster (bench/pgcluster.py, in a temporary folder)",
    )
    args = parser.parse_args()
    if args.system_postgres or "BENCH_TENANCY_DATABASE_URL" in os.environ:
        run_tenancy(args, os.environ.get(
            "BENCH_TENANCY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gh_bench_tenancy"
        ))  # fmt: skip
        return
    import pgcluster

    folder = Path(tempfile.mkdtemp(prefix="gatehouse-tenancy-pg-"))
    try:
        with pgcluster.cluster(folder) as base:
            run_tenancy(args, base + "gh_bench_tenancy")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def run_tenancy(args, database_url: str) -> None:
    redis_url = os.environ.get("BENCH_TENANCY_REDIS_URL", "redis://127.0.0.1:6379/13")
    env = common.bench_env(database_url, redis_url)
    env["DATABASE_CONN_MAX_AGE"] = "0"
    common.ensure_database(database_url, recreate=True)
    print("migrating public ...", flush=True)
    common.manage(env, "migrate_schemas", "--shared", "-v0")
    common.setup_django(env)
    from django.db import connection

    from tenants.models import Tenant

    results: dict = {"tenants": args.tenants, "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    try:
        time_phases()
        provision(FIRST_TENANT)
        for i in range(1, 10):
            provision(f"real{i:02}")
        prov = {"10": provision_samples("early", args.samples)}
        print(f"provisioning at 10: median {statistics.median(prov['10']['samples']):.2f} s")
        existing = Tenant.objects.exclude(schema_name="public").count()
        results["clone_s"] = clone_tenants(database_url, existing, args.tenants)
        print(f"cloned to {args.tenants} in {results['clone_s']:.0f} s", flush=True)
        prov["n"] = provision_samples("late", args.samples)
        for p in prov.values():
            p["median"], p["p95"] = statistics.median(p["samples"]), p95(p["samples"])
        results["provisioning"] = prov
        print(f"provisioning at {args.tenants}: median {prov['n']['median']:.2f} s", flush=True)
        connection.close()

        schemas = list(
            Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True)
        )
        total = len(schemas)
        from tenants.migrations_executor import schemas_needing_migration

        started = time.perf_counter()
        assert schemas_needing_migration(schemas) == []
        results["ledger_s"] = time.perf_counter() - started
        connection.close()
        results["startup_s"], _ = migrate(env, "--schema", FIRST_TENANT)

        runs = []

        def run(label, target, *margs, stock=None, **extra):
            seconds, tail = migrate(env, "--tenant", *margs, stock=stock, **extra)
            runs.append(
                {"label": label, "seconds": seconds, "cpu": LAST_CPU[0], "target": target,
                 "load": load()}
            )  # fmt: skip
            print(f"{label}: {seconds:.1f} s, CPU {LAST_CPU[0]:.1f} s\n{tail}", flush=True)

        noop = f"no-op migrate_schemas, {total:,} tenants"
        run(f"{noop}: Gatehouse executor", "<= 30 s")
        run(f"{noop}: stock standard", "", stock="standard")
        run(f"{noop}: stock multiprocessing (2 processes)", "", stock="multiprocessing")

        write_temp_migration()
        try:
            real = f"one real migration, {total:,} tenants"
            variants = [
                (f"{real}: Gatehouse executor (one plan), {how}", "<= 60 s", None, processes)
                for processes, how in (
                    ("1", "1 process"),
                    ("2", "2 processes"),
                    ("4", "4 processes"),
                )
            ]
            if args.per_schema:
                variants.append(
                    (f"{real}: Django's migrate per schema, 2 processes", "", "multiprocessing",
                     "2")
                )  # fmt: skip
            for label, target, executor, processes in variants:
                extra = ("--executor", executor) if executor else ()
                run(label, target, *extra, TENANT_MULTIPROCESSING_MAX_PROCESSES=processes)
                applied = count_with_column(database_url)
                assert applied == total, f"{applied} of {total} schemas got the column"
                # The template too: each run rebuilds it, as a deploy's migrate_schemas does.
                roll_back_temp_migration(database_url, [*schemas, "_tenant_template"])
        finally:
            TEMP_MIGRATION.unlink(missing_ok=True)
        results["migrate"] = runs

        steps = [s for s in (1, 10, 100, 250, 500, 1000, 2000) if s <= total]
        results["catalog_cache"] = catalog_cache(database_url, schemas, steps)
        with psycopg.connect(database_url) as conn:
            results["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
            results["max_connections"] = conn.execute("SHOW max_connections").fetchone()[0]
            results["max_locks"] = conn.execute("SHOW max_locks_per_transaction").fetchone()[0]
            results["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
            results["max_files"] = conn.execute("SHOW max_files_per_process").fetchone()[0]
    finally:
        TEMP_MIGRATION.unlink(missing_ok=True)
        connection.close()
        if not args.keep:
            with psycopg.connect(
                database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True
            ) as c:
                c.execute(
                    f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)'
                )

    Path(tempfile.gettempdir(), "gatehouse-tenancy.json").write_text(
        json.dumps(results, indent=1, default=str)
    )
    if not args.no_doc:
        charts(results)
        common.write_section(DOC, START, END, report(results), heading="# Benchmarks\n")
    print(report(results))


if __name__ == "__main__":
    main()
