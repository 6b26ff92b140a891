"""Benchmark: client_credentials token requests next to a no-op view, in one run.

Creates (drops and re-creates) a bench database, provisions one tenant and one client
through the operator CLI, starts gunicorn (2 sync workers, production settings, persistent
database connections) on a loopback port and measures requests per second of

  1. GET /healthz               (no-op: answered by the first middleware), then
  2. POST /oauth/token          (client_credentials, client_secret_basic)

with wrk when installed (``apt-get install wrk``), otherwise a bounded threaded Python load
generator. Every load loop is bounded in time; traffic goes to 127.0.0.1 only. Results and
method are written to docs/benchmarks.md (the section between the client_credentials
markers).

    .venv/bin/python bench/client_credentials.py [--seconds 10] [--connections 16]

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/gatehouse_bench),
REDIS_URL (default redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform as host_platform
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import common  # this folder is on sys.path: the benchmarks run as scripts

DOC = common.REPO / "docs" / "benchmarks.md"
START, END = "<!-- client_credentials:start -->", "<!-- client_credentials:end -->"
SLUG = "acme"
HOST = f"{SLUG}.{common.BASE_DOMAIN}"


def run_wrk(url: str, method: str, headers: dict, body: str, seconds: int, conns: int) -> dict:
    return common.Wrk(url, method, headers, body, seconds, conns).result()


def run_python(url: str, method: str, headers: dict, body: str, seconds: int, conns: int) -> dict:
    """Fallback load generator: ``conns`` threads, keep-alive, bounded by ``seconds``."""
    parts = urlsplit(url)
    counts = {"ok": 0, "bad": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        ok = bad = 0
        while time.monotonic() < deadline:
            conn.request(method, parts.path, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read()
            if 200 <= response.status < 400:
                ok += 1
            else:
                bad += 1
        with lock:
            counts["ok"] += ok
            counts["bad"] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = counts["ok"] + counts["bad"]
    return {
        "rps": total / elapsed,
        "requests": total,
        "non_2xx": counts["bad"],
        "socket_errors": "none",
        "p50": "n/a",
        "p99": "n/a",
    }


def row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['rps']:.0f} | {r['requests']} | {r['non_2xx']} | {r['p50']} | {r['p99']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per scenario (max 60)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()
    seconds = max(1, min(args.seconds, 60))

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse_bench"
    )
    env = common.bench_env(database_url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    print("creating the bench database and tenant ...", flush=True)
    common.ensure_database(database_url, recreate=True)
    common.manage(env, "migrate_schemas", "--shared", "-v", "0")
    common.provision_tenant(env, SLUG, "Acme", "bench-Admin-pw-42!")
    client = common.register_client(env, SLUG, "bench", "--scope", "api")
    token_headers = common.token_headers(HOST, common.basic_auth(client))

    log = Path(tempfile.mkdtemp(prefix="gatehouse-bench-")) / "gunicorn.log"
    with common.gunicorn(env, log) as port:
        status, body = common.token_request(port, token_headers)
        if status != 200 or body.get("token_type") != "Bearer":
            raise SystemExit(f"token endpoint is not answering 200: {status} {body}")
        tool = "wrk" if shutil.which("wrk") else "python threads"
        run = run_wrk if tool == "wrk" else run_python
        base = f"http://127.0.0.1:{port}"
        plain = {"Host": HOST, "X-Forwarded-Proto": "https"}
        # Warm both paths (connections, caches) before measuring.
        run(f"{base}/healthz", "GET", plain, "", 2, args.connections)
        run(f"{base}/oauth/token", "POST", token_headers, common.TOKEN_BODY, 2, args.connections)
        noop = run(f"{base}/healthz", "GET", plain, "", seconds, args.connections)
        token = run(
            f"{base}/oauth/token",
            "POST",
            token_headers,
            common.TOKEN_BODY,
            seconds,
            args.connections,
        )

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    ratio = token["rps"] / noop["rps"] if noop["rps"] else 0
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    section = f"""
## client_credentials token endpoint ({when})

| scenario | req/s | requests | non-2xx | p50 | p99 |
|---|---:|---:|---:|---:|---:|
{row("`GET /healthz` (no-op, first middleware)", noop)}
{row("`POST /oauth/token` client_credentials, Basic", token)}

The token endpoint runs at {ratio:.0%} of the no-op view.

Method: `bench/client_credentials.py` on this project's machine kind ({os.cpu_count()} cores,
Python {host_platform.python_version()}); gunicorn `--workers 2 --worker-class sync`,
production settings (`DATABASE_CONN_MAX_AGE=600`, `X-Forwarded-Proto: https`, Host
`{HOST}` routed by django-tenants), PostgreSQL and Redis on the same machine; load from
{tool} with {args.connections} concurrent connections (gunicorn's sync workers close each
after one response) for {seconds} s per scenario after a
2 s warm-up, both scenarios in one run against the same server. Each token request is a
client lookup by client_id, a SHA-256 digest check of the secret and one INSERT of the
token's digest (the tenant's issuer policy is cached in the process for 5 s). The load
generator, gunicorn and PostgreSQL share the machine's cores, so absolute figures are
lower than on a dedicated host; compare rows of one run. Load average at the end of the
run: {load} (anything above ~1 means other processes competed for the 2 cores).
"""
    print(section)
    if not args.no_doc:
        common.write_section(DOC, START, END, section.strip() + "\n", heading="# Benchmarks\n")
        print(f"written to {DOC.relative_to(common.REPO)}")


if __name__ == "__main__":
    main()
