"""The PostgreSQL cost of many tenants on one backend, measured alone: the token INSERT
(as ``oauth.services.tokens.token_issue`` writes it, foreign-key checks included) in one
schema, in a random schema after a ``SET search_path``, and schema-qualified in a random
schema without one. Runs on a ``bench/run.py --seed-only`` database (100 tenants or more);
prints the backend's CPU per INSERT, from /proc (same machine).

    .venv/bin/python bench/schema_switch.py            # 2,000 INSERTs per mode
"""

import os
import secrets
import sys
from datetime import UTC, datetime, timedelta

import psycopg

CLK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def main(n: int = 2000) -> None:
    conn = psycopg.connect("postgres://postgres@127.0.0.1:5432/gatehouse_bench_gh", autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    schemas = [f"t{i:04d}" for i in range(1, 101)]
    client = {
        s: conn.execute(f'SELECT id FROM "{s}".oauth_client ORDER BY id LIMIT 1').fetchone()[0]
        for s in schemas
    }
    now = datetime.now(UTC)

    def insert(schema: str) -> None:
        conn.execute(
            f'INSERT INTO "{schema}".oauth_token (access_digest, scope, audience, issued_at, '
            "access_expires_at, purge_after, client_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [secrets.token_hex(32), "api", "", now, now + timedelta(hours=1),
             now + timedelta(days=2), client[schema]],
        )  # fmt: skip

    modes = (
        "random schema, qualified, search_path fixed (first touch of each schema)",
        "same schema, search_path set once",
        "random schema, SET search_path before each",
        "random schema, qualified, search_path fixed",
    )
    for mode in modes:
        conn.execute('SET search_path = "t0001", "public"')
        started = cpu(pid)
        for i in range(n):
            schema = "t0001" if mode.startswith("same") else schemas[(i * 37) % 100]
            if "SET search_path before" in mode:
                conn.execute(f'SET search_path = "{schema}", "public"')
            insert(schema)
        print(f"{mode}: {1000 * (cpu(pid) - started) / n:.2f} ms PostgreSQL CPU per INSERT")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
