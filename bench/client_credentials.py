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
import base64
import json
import os
import platform as host_platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- client_credentials:start -->", "<!-- client_credentials:end -->"
HOST = "acme.bench.test"
SLUG = "acme"


def bench_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gatehouse.settings.production",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        SECRET_KEY="bench-only-" + "k3y" * 20,
        GATEHOUSE_BASE_DOMAIN="bench.test",
        GATEHOUSE_KEY_ENCRYPTION_KEY=base64.urlsafe_b64encode(
            b"bench-only-key-0123456789abcdef!"
        ).decode(),
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "platform")]),
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "gatehouse.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--worker-tmp-dir",
            "/dev/shm",
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"gunicorn did not start: {log.read_text()[-1000:]}")


def token_request(port: int, auth: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/oauth/token",
        data=b"grant_type=client_credentials",
        headers={
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "Authorization": auth,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


LUA = """
wrk.method = "{method}"
wrk.body = "{body}"
{headers}
"""


def run_wrk(url: str, method: str, headers: dict, body: str, seconds: int, conns: int) -> dict:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(method=method, body=body, headers=lines))
    try:
        proc = subprocess.run(
            ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    out = proc.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
    }


def run_python(url: str, method: str, headers: dict, body: str, seconds: int, conns: int) -> dict:
    """Fallback load generator: ``conns`` threads, keep-alive, bounded by ``seconds``."""
    import http.client

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


def write_doc(section: str) -> None:
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{START}\n{section.strip()}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


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
    env = bench_env(database_url)
    print("creating the bench database and tenant ...", flush=True)
    recreate_database(database_url)
    manage(env, "migrate_schemas", "--shared", "-v", "0")
    manage(
        env, "provision_tenant", "--slug", SLUG, "--name", "Acme",
        "--admin-email", "admin@acme.test", "--admin-password", "bench-Admin-pw-42!",
        "--json",
    )  # fmt: skip
    client = json.loads(
        manage(env, "register_client", "--tenant", SLUG, "--name", "bench", "--scope", "api",
               "--json")
    )  # fmt: skip
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    auth = f"Basic {basic}"

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="gatehouse-bench-")) / "gunicorn.log"
    server = start_gunicorn(env, port, log)
    try:
        status, body = token_request(port, auth)
        if status != 200 or body.get("token_type") != "Bearer":
            raise SystemExit(f"token endpoint is not answering 200: {status} {body}")
        tool = "wrk" if shutil.which("wrk") else "python threads"
        run = run_wrk if tool == "wrk" else run_python
        base = f"http://127.0.0.1:{port}"
        common = {"Host": HOST, "X-Forwarded-Proto": "https"}
        # Warm both paths (connections, caches) before measuring.
        run(f"{base}/healthz", "GET", common, "", 2, args.connections)
        run(f"{base}/oauth/token", "POST", {**common, "Authorization": auth,
            "Content-Type": "application/x-www-form-urlencoded"},
            "grant_type=client_credentials", 2, args.connections)  # fmt: skip
        noop = run(f"{base}/healthz", "GET", common, "", seconds, args.connections)
        token = run(
            f"{base}/oauth/token",
            "POST",
            {**common, "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
            "grant_type=client_credentials",
            seconds,
            args.connections,
        )
    finally:
        server.terminate()
        server.wait(10)

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
        write_doc(section)
        print(f"written to {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
