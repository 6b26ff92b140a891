"""Benchmark: purging 1,000,000 expired tokens spread over 100 tenants (not a test).

Measures, on a bench database of its own (kept between runs: provisioning 100 tenants takes
a minute or two the first time):

  1. ``--sweep``: the batch size. One tenant, 100,000 purgeable rows behind 10,000 live ones,
     purged to the end at each batch size; ms per batch (how long row locks are held) and
     rows/s. Plus the same batch as ``DELETE ... WHERE id IN (...)`` instead of by ctid.
  2. The idle purge rate of the real thing: ``celery -A workers worker`` (prefork, 2 and 4
     processes), one ``purge_all_tenants`` fan-out, timed until every purgeable row is gone
     (read from the purged-rows counter the workers keep in Redis).
  3. Table bloat: heap and index sizes and dead tuples of the token tables before the purge,
     after it, after VACUUM, and after refilling the same number of rows (is the space
     reused?). Whether autovacuum is on here is recorded too.
  4. If the token endpoint answers: client_credentials issuance (gunicorn, 2 workers, wrk)
     without a purge and during one, interleaved over a few rounds.

    .venv/bin/python bench/purge.py [--sweep] [--tenants 100] [--rows 1000000] [--no-doc]

Environment: BENCH_PURGE_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/gh_bench_purge), BENCH_PURGE_REDIS_URL (default
redis://127.0.0.1:6379/12). Figures go to docs/benchmarks-purge.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform as host_platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import common  # this folder is on sys.path: the benchmarks run as scripts
import redis

DOC = common.REPO / "docs" / "benchmarks-purge.md"
SLUG_PREFIX = "purge"
LIVE_PER_TENANT = 1_000
SWEEP_SIZES = (500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
SWEEP_ROWS = 100_000
FAMILY_SWEEP_SIZES = (1_000, 2_000, 5_000)
FAMILY_SWEEP_ROWS = 50_000
SWEEP_REPEATS = 3
DATABASE_URL = os.environ.get(
    "BENCH_PURGE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gh_bench_purge"
)
ENV = common.bench_env(
    DATABASE_URL, os.environ.get("BENCH_PURGE_REDIS_URL", "redis://127.0.0.1:6379/12")
)

# This script measures the product code in its own process, so Django has to be set up for the
# bench database before Django or the product code can be imported: here, at import time
# (it connects to nothing; main() creates the database). Hence the imports below the code.
common.setup_django(ENV)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from oauth.models import IssuerSettings  # noqa: E402
from oauth.services.issuer import issuer_settings_update  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_provision  # noqa: E402
from workers.purge import PURGE_KINDS, PurgeKind, count_schema, purge_batch, purge_schema  # noqa: E402
from workers.reporting import PURGED_ROWS_KEY  # noqa: E402
from workers.tasks import purge_all_tenants  # noqa: E402

# --- processes ------------------------------------------------------------------------------


class Worker:
    started = 0

    def __init__(self, env: dict[str, str], concurrency: int, log_dir: Path) -> None:
        # A log of its own: "ready." in an earlier worker's log must not count as this one's.
        Worker.started += 1
        self.log = log_dir / f"worker-{Worker.started:02d}-c{concurrency}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--hostname", f"bench-{concurrency}@%h"],
            cwd=common.REPO, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while " ready." not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start: {self.log.read_text()[-1500:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def errors(self) -> int:
        text = self.log.read_text(errors="replace")
        return text.count("Traceback") + text.count("ERROR/")


# --- data -----------------------------------------------------------------------------------


def ensure_tenants(count: int) -> list[str]:
    """Schemas of ``count`` bench tenants, provisioned the normal way when missing."""
    slugs = [f"{SLUG_PREFIX}-{i:03d}" for i in range(1, count + 1)]
    have = set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    missing = [s for s in slugs if s not in have]
    started = time.monotonic()
    for i, slug in enumerate(missing, 1):
        result = tenant_provision(
            slug=slug, name=slug, admin_email=f"admin@{slug}.test", admin_password="bench-Pw-42!x"
        )
        with schema_context(result.schema):  # the API scopes the load client asks for
            allowed = IssuerSettings.load().scopes_supported
            issuer_settings_update(scopes_supported=[*allowed, *common.BENCH_SCOPES])
        print(f"\r  provisioned {i}/{len(missing)}", end="", flush=True)
    if missing:
        print(f" in {time.monotonic() - started:.0f} s")
    connection.set_schema_to_public()
    return list(
        Tenant.objects.filter(slug__in=slugs).order_by("slug").values_list("schema_name", flat=True)
    )


def bench_client(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{schema}".oauth_client WHERE client_id = %s', ["bench"])
        row = cursor.fetchone()
        if row:
            return row[0]
        cursor.execute(
            f"""INSERT INTO "{schema}".oauth_client (client_id, name, client_type,
                token_endpoint_auth_method, secret_digest, previous_secret_digest,
                grant_types, response_types, redirect_uris, post_logout_redirect_uris, scopes,
                default_scopes, resources, cors_origins, access_token_format,
                id_token_signed_response_alg, can_introspect, disabled, created_at)
            VALUES ('bench', 'bench', 'confidential', 'client_secret_basic', '', '',
                '{{client_credentials}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}',
                'opaque', 'RS256', false, false, now()) RETURNING id"""
        )
        return cursor.fetchone()[0]


def insert_tokens(schema: str, *, purgeable: int, live: int, salt: str) -> None:
    """Expired tokens (purge_after spread over the past day) and some live ones."""
    client = bench_client(schema)
    sql = f"""
        INSERT INTO "{schema}".oauth_token (client_id, access_digest, scope, audience,
            issued_at, access_expires_at, purge_after)
        SELECT %s, md5(%s || g::text) || md5(g::text || %s), 'api', '',
            now() - interval '40 days', now() - interval '39 days', {{purge_after}}
        FROM generate_series(1, %s) AS g"""
    with connection.cursor() as cursor:
        past = "now() - interval '1 hour' - g * interval '80 ms'"
        cursor.execute(sql.format(purge_after=past), [client, salt, salt, purgeable])
        if live:
            future = "now() + interval '30 days' + g * interval '1 s'"
            cursor.execute(sql.format(purge_after=future), [client, salt + "L", salt, live])


def delete_all_tokens(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'TRUNCATE "{schema}".oauth_token')


def vacuum(schemas: list[str], *, analyze: bool = True) -> float:
    started = time.monotonic()
    with connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(f'VACUUM {"(ANALYZE) " if analyze else ""}"{schema}".oauth_token')
    return time.monotonic() - started


def table_stats(schemas: list[str]) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            """SELECT coalesce(sum(pg_relation_size(c.oid)), 0),
                      coalesce(sum(pg_indexes_size(c.oid)), 0),
                      coalesce(sum(s.n_live_tup), 0), coalesce(sum(s.n_dead_tup), 0)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_stat_user_tables s ON s.relid = c.oid
               WHERE c.relname = 'oauth_token' AND n.nspname = ANY(%s)""",
            [schemas],
        )
        heap, indexes, _, dead = cursor.fetchone()
        live = 0
        for schema in schemas:
            cursor.execute(f'SELECT count(*) FROM "{schema}".oauth_token')
            live += cursor.fetchone()[0]
    return {"heap_mb": heap / 2**20, "index_mb": indexes / 2**20, "live": live, "dead": dead}


def seed_all(schemas: list[str], rows: int, salt: str, *, live: int = 0) -> float:
    per_tenant = rows // len(schemas)
    started = time.monotonic()
    for i, schema in enumerate(schemas, 1):
        insert_tokens(schema, purgeable=per_tenant, live=live, salt=f"{salt}{schema}")
        print(f"\r  seeded {i}/{len(schemas)} tenants", end="", flush=True)
    print()
    return time.monotonic() - started


def purgeable_total(schemas: list[str]) -> int:
    return sum(count_schema(schema=s)["tokens"] for s in schemas)


# --- measurements ---------------------------------------------------------------------------


def _purge_to_the_end(kind, schema: str) -> tuple[int, float, list[float]]:
    timings, deleted = [], 0
    now = timezone.now()
    started = time.monotonic()
    while True:
        t0 = time.monotonic()
        n = purge_batch(kind, schema=schema, now=now)
        timings.append(time.monotonic() - t0)
        deleted += n
        if n < kind.batch_size:
            break
    # The last, short batch only confirms there is nothing left.
    return deleted, time.monotonic() - started, timings[:-1] or timings


def _summary(runs: list[tuple[int, float, list[float]]]) -> dict:
    batches = sorted(t for _, _, timings in runs for t in timings)
    return {
        "rows": runs[0][0],
        "rate": statistics.median(rows / seconds for rows, seconds, _ in runs),
        "rates": [rows / seconds for rows, seconds, _ in runs],
        "ms_median": statistics.median(batches) * 1000,
        "ms_p95": batches[max(0, int(len(batches) * 0.95) - 1)] * 1000,
        "ms_max": batches[-1] * 1000,
    }


def sweep(schema: str) -> list[dict]:
    """Purge SWEEP_ROWS tokens to the end at each batch size, in one process.

    The sizes are interleaved and repeated SWEEP_REPEATS times (medians reported): the
    machine is shared, and one pass per size is at the mercy of whatever else runs.
    """
    tokens = next(k for k in PURGE_KINDS if k.name == "tokens")
    variants = [(size, "ctid") for size in SWEEP_SIZES] + [(10_000, "id IN")]
    runs: dict[tuple[int, str], list] = {v: [] for v in variants}
    for repeat in range(SWEEP_REPEATS):
        for size, variant in variants:
            delete_all_tokens(schema)
            insert_tokens(
                schema, purgeable=SWEEP_ROWS, live=10_000, salt=f"sw{repeat}{size}{variant}"
            )
            vacuum([schema])
            cls = IdInKind if variant == "id IN" else PurgeKind
            kind = cls(tokens.name, tokens.model, tokens.field, size)
            runs[(size, variant)].append(_purge_to_the_end(kind, schema))
            rows, seconds, _ = runs[(size, variant)][-1]
            print(f"  {variant:5} {size:>6}: {rows / seconds:>9,.0f} rows/s")
    delete_all_tokens(schema)
    vacuum([schema])
    return [{"size": size, "variant": variant, **_summary(runs[(size, variant)])}
            for size, variant in variants]  # fmt: skip


def sweep_families(schema: str) -> list[dict]:
    """Grant families: each deleted row has its two referencing foreign keys checked."""
    families = next(k for k in PURGE_KINDS if k.name == "grant_families")
    client = bench_client(schema)
    runs: dict[int, list] = {size: [] for size in FAMILY_SWEEP_SIZES}
    for _ in range(SWEEP_REPEATS):
        for size in FAMILY_SWEEP_SIZES:
            with connection.cursor() as cursor:
                cursor.execute(f'DELETE FROM "{schema}".oauth_grantfamily')
                cursor.execute(
                    f"""INSERT INTO "{schema}".oauth_grantfamily (client_id, scope, resource,
                        nonce, created_at, purge_after)
                    SELECT %s, '', '', '', now(), now() - interval '1 hour' - g * interval '10 ms'
                    FROM generate_series(1, %s) AS g""",
                    [client, FAMILY_SWEEP_ROWS],
                )
                cursor.execute(f'VACUUM ANALYZE "{schema}".oauth_grantfamily')
            kind = PurgeKind(
                families.name, families.model, families.field, size,
                families.keep_while_referenced_by,
            )  # fmt: skip
            runs[size].append(_purge_to_the_end(kind, schema))
            rows, seconds, _ = runs[size][-1]
            print(f"  families {size:>6}: {rows / seconds:>9,.0f} rows/s")
    return [{"size": size, **_summary(runs[size])} for size in FAMILY_SWEEP_SIZES]


class IdInKind(PurgeKind):
    """The same batch written as ``DELETE ... WHERE id IN (SELECT ... SKIP LOCKED)``."""

    def delete_sql(self, schema):
        qn = connection.ops.quote_name
        table = self._table(schema, self.model_class)
        where, now_params = self.where_sql(schema)
        return (
            f"DELETE FROM {table} WHERE id IN (SELECT p.id FROM {table} p WHERE {where} "
            f"ORDER BY p.{qn('purge_after')} LIMIT %s FOR UPDATE OF p SKIP LOCKED)",
            now_params,
        )


def purge_with_celery(env: dict, concurrency: int, expected: int, log_dir: Path) -> dict:
    broker = redis.Redis.from_url(env["REDIS_URL"])
    broker.delete("celery", "unacked", "unacked_index")
    worker = Worker(env, concurrency, log_dir)
    try:
        before = int(broker.hget(PURGED_ROWS_KEY, "tokens") or 0)
        started = time.monotonic()
        purge_all_tenants.delay()
        deadline = started + 600
        while int(broker.hget(PURGED_ROWS_KEY, "tokens") or 0) - before < expected:
            if time.monotonic() > deadline:
                raise SystemExit("purge did not finish in 10 minutes")
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        while broker.llen("celery") or broker.hlen("unacked"):
            time.sleep(0.05)
        drained = time.monotonic() - started
        tasks = worker.log.read_text(errors="replace").count("purge_expired_rows[") // 2
    finally:
        worker.stop()
    return {
        "concurrency": concurrency,
        "rows": expected,
        "seconds": elapsed,
        "rate": expected / elapsed,
        "drained_seconds": drained,
        "tasks": tasks,
        "errors": worker.errors(),
    }


def purge_in_process(schemas: list[str], expected: int) -> dict:
    """The operator command's loop (``purge_schema`` per tenant), one process."""
    started = time.monotonic()
    deleted = sum(purge_schema(schema=s)["tokens"] for s in schemas)
    elapsed = time.monotonic() - started
    assert deleted == expected, (deleted, expected)
    return {"rows": deleted, "seconds": elapsed, "rate": deleted / elapsed}


# --- issuance under purge -------------------------------------------------------------------


def run_wrk(url: str, headers: dict, body: str, seconds: float, conns: int = 16) -> dict:
    return wrk_result(common.Wrk(url, "POST", headers, body, seconds, conns))


def wrk_result(wrk: common.Wrk) -> dict:
    """What the report uses of a wrk run: requests/s, non-2xx responses and p99."""
    result = wrk.result()
    return {key: result[key] for key in ("rps", "non_2xx", "p99")}


def issuance_under_purge(env, schemas, rows, log_dir, seconds, rounds) -> dict | None:
    """client_credentials issuance alone vs while the workers purge ``rows`` rows.

    The machine is shared (other processes come and go), so short measurements are
    interleaved ``rounds`` times and medians compared. wrk starts 0.5 s after the fan-out and runs
    ``seconds``; each round records whether the purge was still running when wrk stopped.
    """
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    tenant = f"{SLUG_PREFIX}-001"
    try:
        client = common.register_client(
            env, tenant, "bench-load", "--grant-type", "client_credentials", "--scope", "api"
        )
    except SystemExit as exc:
        return {"skipped": f"register_client failed ({exc})"}
    headers = common.token_headers(f"{tenant}.{common.BASE_DOMAIN}", common.basic_auth(client))
    body = common.TOKEN_BODY
    broker = redis.Redis.from_url(env["REDIS_URL"])
    with contextlib.ExitStack() as stack:
        try:
            port = stack.enter_context(common.gunicorn(env, log_dir / "gunicorn.log"))
        except common.ServerDidNotStart:
            return {"skipped": f"gunicorn did not start (see {log_dir}/gunicorn.log)"}
        url = f"http://127.0.0.1:{port}/oauth/token"
        status, answer = common.token_request(port, headers)
        if status != 200:
            return {"skipped": f"token endpoint did not answer 200 ({status} {answer})"}
        # The same workers with the purge's yielding turned off, for comparison.
        (log_dir / "bench_no_yield_settings.py").write_text(
            "from gatehouse.settings.production import *  # noqa\n"
            "GATEHOUSE = {**GATEHOUSE, 'PURGE_BUSY_ROWS_PER_SECOND': 0, 'WORKER_NICENESS': 0}"
            "  # noqa\n"
        )
        no_yield_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench_no_yield_settings",
            "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], str(log_dir)]),
        }
        run_wrk(url, headers, body, 3)  # warm-up

        def fresh_backlog(round_no: int) -> None:
            seed_all(schemas, rows, salt=f"load{round_no}{time.time_ns()}")
            vacuum(schemas)
            with connection.cursor() as cursor:
                cursor.execute("CHECKPOINT")  # the fill's writes must not land in a measurement

        def during_purge(worker_env: dict) -> dict:
            broker.delete("celery", "unacked", "unacked_index")
            worker = Worker(worker_env, 2, log_dir)
            try:
                before = int(broker.hget(PURGED_ROWS_KEY, "tokens") or 0)

                def purged() -> int:
                    return int(broker.hget(PURGED_ROWS_KEY, "tokens") or 0) - before

                started = time.monotonic()
                purge_all_tenants.delay()
                time.sleep(0.5)
                wrk = common.Wrk(url, "POST", headers, body, seconds, 16)
                window_start, at_start = time.monotonic(), purged()
                finished = window_end = at_end = None
                while finished is None or window_end is None:
                    now, done = time.monotonic(), purged()
                    if window_end is None and not wrk.running():
                        window_end, at_end = now, done
                    if finished is None and done >= rows:
                        finished = now
                    if now - started > 600:
                        raise SystemExit("purge under load did not finish in 10 minutes")
                    time.sleep(0.02)
                result = wrk_result(wrk)
                while broker.llen("celery") or broker.hlen("unacked"):
                    time.sleep(0.05)  # the chains' last (empty) steps, before stopping
            finally:
                worker.stop()
            return {
                **result,
                "purge_seconds": finished - started,
                # Rows the workers deleted while wrk ran, per second.
                "purge_rate": (at_end - at_start) / (window_end - window_start),
                "purge_outlasted_wrk": finished >= window_end,
            }

        alone, during, unyielding = [], [], []
        for round_no in range(rounds):
            # Alternate the order, so neither variant always follows the other. "Alone" runs
            # with the same fresh backlog in place, just before the first purge of a round.
            order = [("yield", env), ("no yield", no_yield_env)]
            for i, (name, worker_env) in enumerate(order[:: 1 if round_no % 2 == 0 else -1]):
                fresh_backlog(round_no)
                if i == 0:
                    alone.append(run_wrk(url, headers, body, seconds))
                result = during_purge(worker_env)
                (during if name == "yield" else unyielding).append(result)
            print(
                f"  round {round_no + 1}: alone {alone[-1]['rps']:.0f} req/s, during "
                f"{during[-1]['rps']:.0f} req/s (purge {during[-1]['purge_rate']:,.0f} rows/s), "
                f"without yielding {unyielding[-1]['rps']:.0f} req/s "
                f"(purge {unyielding[-1]['purge_rate']:,.0f} rows/s)"
            )
        return {
            "alone": alone,
            "during": during,
            "unyielding": unyielding,
            "seconds": seconds,
            "rows": rows,
        }


# --- report ---------------------------------------------------------------------------------


def report(results: dict) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    n, rows = results["tenants"], results["rows"]
    lines = [
        f"## Token purge: {rows:,} expired tokens over {n} tenants ({when})",
        "",
        f"Machine: {os.cpu_count()} cores, Python {host_platform.python_version()}, "
        f"PostgreSQL {results['pg_version']} on the same machine (autovacuum "
        f"{results['autovacuum']}, synchronous_commit {results['synchronous_commit']}).",
        "",
    ]
    if results.get("sweep"):
        lines += [
            "### Batch size (one tenant, 100,000 purgeable rows behind 10,000 live ones)",
            "",
            f"Each size purged to the end {SWEEP_REPEATS} times, sizes interleaved; rows/s is "
            "the median run, the batch times are over every batch of every run.",
            "",
            "| DELETE by | batch | rows/s (median) | runs, rows/s | ms per batch (median) "
            "| p95 | max |",
            "|---|---:|---:|---|---:|---:|---:|",
        ]
        for r in results["sweep"]:
            each = ", ".join(f"{x / 1000:.0f}k" for x in r["rates"])
            lines.append(
                f"| {r['variant']} | {r['size']:,} | {r['rate']:,.0f} | {each} "
                f"| {r['ms_median']:.1f} | {r['ms_p95']:.1f} | {r['ms_max']:.1f} |"
            )
        lines += [
            "",
            f"Grant families ({FAMILY_SWEEP_ROWS:,} purgeable, none referenced):",
            "",
            "| batch | rows/s (median) | ms per batch (median) | p95 | max |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in results.get("sweep_families", []):
            lines.append(
                f"| {r['size']:,} | {r['rate']:,.0f} | {r['ms_median']:.1f} | {r['ms_p95']:.1f} "
                f"| {r['ms_max']:.1f} |"
            )
        lines.append("")
    lines += [
        "### Idle purge rate",
        "",
        "| how | rows | seconds | rows/s | tasks | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results["celery"]:
        lines.append(
            f"| `celery -A workers worker --concurrency {r['concurrency']}`, one fan-out "
            f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['tasks']} "
            f"| {r['errors']} |"
        )
    r = results["in_process"]
    lines.append(
        f"| `purge_schema` loop in one process (what `manage.py purge_tokens` runs) "
        f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} | - | - |"
    )
    b = results["bloat"]
    lines += [
        "",
        "### Table bloat (all tenants' `oauth_token`)",
        "",
        "| moment | heap MB | indexes MB | rows | dead tuples (pg_stat) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("seeded and vacuumed, before the purge", "before"),
        ("right after the purge", "after_purge"),
        (f"after VACUUM ({b['vacuum_seconds']:.1f} s for {n} tables)", "after_vacuum"),
        ("after refilling the same number of rows (fill 3 below)", "after_refill"),
    ):
        s = b[key]
        lines.append(
            f"| {label} | {s['heap_mb']:.0f} | {s['index_mb']:.0f} | {s['live']:,} "
            f"| {s['dead']:,} |"
        )
    lines += [
        "",
        f"Size after each fill of {rows:,} purgeable rows (each fill follows a purge and a "
        "VACUUM; the 100,000 live rows stay throughout):",
        "",
        "| fill | heap MB | indexes MB | rows |",
        "|---:|---:|---:|---:|",
    ]
    for i, s in enumerate(b["fills"], 1):
        lines.append(f"| {i} | {s['heap_mb']:.0f} | {s['index_mb']:.0f} | {s['live']:,} |")
    load = results.get("load")
    lines += ["", "### Issuance during a purge", ""]
    if not load or "skipped" in load:
        lines.append(f"Not measured: {load['skipped'] if load else 'not run'}.")
    else:
        alone = statistics.median(r["rps"] for r in load["alone"])
        during = statistics.median(r["rps"] for r in load["during"])
        unyielding = statistics.median(r["rps"] for r in load["unyielding"])
        lines += [
            "| round | issuance alone, req/s | during a purge | purge rows/s meanwhile "
            "| during a purge that never yields | its rows/s meanwhile |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        rows_ = zip(load["alone"], load["during"], load["unyielding"], strict=True)
        for i, (a, d, u) in enumerate(rows_, 1):
            lines.append(
                f"| {i} | {a['rps']:.0f} (p99 {a['p99']}) | {d['rps']:.0f} (p99 {d['p99']}) "
                f"| {d['purge_rate']:,.0f} | {u['rps']:.0f} (p99 {u['p99']}) "
                f"| {u['purge_rate']:,.0f} |"
            )
        outlasted = all(r["purge_outlasted_wrk"] for r in load["during"] + load["unyielding"])
        errors = sum(r["non_2xx"] for r in load["during"] + load["unyielding"])
        lines += [
            "",
            f"Each purge: {load['rows']:,} rows over {n} tenants. "
            f"Medians: issuance alone {alone:.0f} req/s; during a purge {during:.0f} req/s "
            f"({during / alone:.0%}); during a purge that never yields "
            f"{unyielding:.0f} req/s ({unyielding / alone:.0%}). "
            f"Non-2xx responses during purges: {errors}. "
            + (
                "Every purge outlasted its wrk run. "
                if outlasted
                else "Some purges ended before their wrk run did (see raw results). "
            )
            + f"wrk ran {load['seconds']} s per measurement with 16 connections against "
            "gunicorn (2 sync workers); `celery -A workers worker --concurrency 2`, "
            "PostgreSQL, Redis and wrk share the same two cores.",
        ]
    return "\n".join(lines) + "\n"


START, END = "<!-- purge:start -->", "<!-- purge:end -->"


METHOD = """### Method

`bench/purge.py` on its own database (`gh_bench_purge`, kept between runs). Tenants are
provisioned the normal way (`tenant_provision`); tokens are inserted per schema with one
`INSERT ... SELECT generate_series` each (64-hex-character digests, `purge_after` spread over
the past day), plus 1,000 live tokens per tenant whose `purge_after` is 30 days ahead, then
`VACUUM (ANALYZE)` so the table looks like an old, settled one. Settings are production's
(`DATABASE_CONN_MAX_AGE=600`); broker and purge counters in Redis on the same machine.

- Batch size: `workers.purge.purge_batch` called in a loop in one process until a batch
  comes back short, for each size on a freshly filled and vacuumed table, sizes interleaved
  and repeated; "ms per batch" is the whole transaction (BEGIN, `SET LOCAL` timeouts, the
  DELETE, COMMIT), i.e. how long the batch's row locks are held. The `id IN` row is the
  same batch written as `DELETE ... WHERE id IN (SELECT id ... FOR UPDATE SKIP LOCKED)`.
- Idle purge rate: a fresh `celery -A workers worker` (prefork), then one
  `workers.tasks.purge_all_tenants` sent from public; the clock stops when the workers'
  purged-rows counter in Redis has grown by the number of rows seeded (each batch adds its
  count after it commits). Each per-tenant task deletes one batch per kind and re-queues
  itself while a batch comes back full.
- Bloat: `pg_relation_size` / `pg_indexes_size` and `pg_stat_user_tables` summed over every
  tenant's `oauth_token`. A DELETE only marks tuples dead; VACUUM makes their space
  reusable, and the refills show whether new rows land in it rather than growing the files.
  Autovacuum is off on this server, so the bench runs the VACUUM autovacuum would.
- Issuance during a purge: gunicorn (2 sync workers, production settings) and one
  client_credentials client in the first tenant; wrk (16 connections) runs 0.5 s after the
  fan-out is sent, for the stated seconds; the backlog is filled (then VACUUM, CHECKPOINT, so
  the fill's writes stay out of the measurements) before "alone" and before each purge.
  "During a purge" uses the workers as shipped (`WORKER_NICENESS` 10,
  `PURGE_BUSY_ROWS_PER_SECOND` 10,000); "never yields" starts the same workers with both set
  to 0. The variants alternate order from round to round; medians are compared because
  other jobs share this machine.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sweep", action="store_true", help="measure batch sizes first")
    parser.add_argument("--load-seconds", type=int, default=3, help="per wrk measurement")
    parser.add_argument("--load-rounds", type=int, default=5)
    parser.add_argument(
        "--load-rows", type=int, default=600_000, help="backlog per purge under load"
    )
    parser.add_argument("--recreate", action="store_true", help="drop the bench database first")
    parser.add_argument("--load-only", action="store_true", help="only issuance during a purge")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()

    if common.ensure_database(DATABASE_URL, recreate=args.recreate):
        print("migrating the public schema ...", flush=True)
        common.manage(ENV, "migrate_schemas", "--shared", "-v", "0")

    print(f"tenants: ensuring {args.tenants} ...", flush=True)
    schemas = ensure_tenants(args.tenants)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('autovacuum'),"
                       " current_setting('synchronous_commit')")  # fmt: skip
        pg_version, autovacuum, sync_commit = cursor.fetchone()
    results = {
        "tenants": len(schemas),
        "rows": args.rows,
        "pg_version": pg_version,
        "autovacuum": autovacuum,
        "synchronous_commit": sync_commit,
    }
    log_dir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-purge-"))
    for schema in schemas:
        delete_all_tokens(schema)

    if args.sweep:
        print("batch size sweep ...", flush=True)
        results["sweep"] = sweep(schemas[0])
        results["sweep_families"] = sweep_families(schemas[0])

    results["celery"] = []
    bloat: dict = {"fills": []}
    for round_no, concurrency in enumerate(() if args.load_only else (2, 4)):
        print(f"seeding {args.rows:,} purgeable tokens ...", flush=True)
        live = LIVE_PER_TENANT if round_no == 0 else 0  # the same live rows throughout
        seed_all(schemas, args.rows, salt=f"r{round_no}{time.time_ns()}", live=live)
        vacuum(schemas)
        bloat["fills"].append(table_stats(schemas))
        expected = purgeable_total(schemas)
        print(f"purging with celery, concurrency {concurrency} ...", flush=True)
        result = purge_with_celery(ENV, concurrency, expected, log_dir)
        print(f"  {result['rate']:,.0f} rows/s ({result['seconds']:.1f} s)")
        results["celery"].append(result)
        if round_no == 0:
            time.sleep(1.5)  # let the workers' table statistics reach the stats system
            bloat["before"] = bloat["fills"][0]
            bloat["after_purge"] = table_stats(schemas)
            bloat["vacuum_seconds"] = vacuum(schemas, analyze=False)
            bloat["after_vacuum"] = table_stats(schemas)
        else:
            vacuum(schemas, analyze=False)

    if args.load_only:
        results["load"] = issuance_under_purge(
            ENV, schemas, args.load_rows, log_dir, args.load_seconds, args.load_rounds
        )
        print(json.dumps(results["load"], indent=1))
        return
    print("refilling and purging in one process ...", flush=True)
    seed_all(schemas, args.rows, salt=f"ip{time.time_ns()}")
    vacuum(schemas)
    bloat["fills"].append(table_stats(schemas))
    bloat["after_refill"] = bloat["fills"][-1]
    results["in_process"] = purge_in_process(schemas, purgeable_total(schemas))
    print(f"  {results['in_process']['rate']:,.0f} rows/s")
    vacuum(schemas, analyze=False)
    for _ in range(2):  # two more fill / purge / vacuum cycles: does the size settle?
        seed_all(schemas, args.rows, salt=f"cy{time.time_ns()}")
        vacuum(schemas)
        bloat["fills"].append(table_stats(schemas))
        purge_in_process(schemas, purgeable_total(schemas))
        vacuum(schemas, analyze=False)
    results["bloat"] = bloat

    print("issuance during a purge ...", flush=True)
    results["load"] = issuance_under_purge(
        ENV, schemas, args.load_rows, log_dir, args.load_seconds, args.load_rounds
    )
    for schema in schemas:
        delete_all_tokens(schema)

    text = report(results)
    print(text)
    (log_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if not args.no_doc:
        common.write_section(DOC, START, END, f"{text}\n{METHOD}")
        print(f"written to {DOC.relative_to(common.REPO)}; raw results in {log_dir}/results.json")


if __name__ == "__main__":
    main()
