"""One scenario of ``bench/run.py`` answered in this process, under cProfile: where the CPU
of one request goes, without gunicorn, wrk or the other servers on the cores.

Runs on a seed of ``bench/run.py --seed-only --work DIR`` (its database, pools and
credentials): requests go through Django's WSGI handler with the full middleware stack and
production settings (``gatehouse_bench.settings``), on one persistent connection.

    .venv/bin/python bench/hotpath.py --work DIR cc jwt introspect refresh pkce
    .venv/bin/python bench/hotpath.py --work DIR --sign     # RS256/ES256 signing alone

Prints CPU ms per request (``time.process_time``; PostgreSQL's and Redis's own CPU not
included) and the hottest functions (cumulative). Single-use pools (refresh, codes) are
taken from their end backwards (past ``HOTPATH_SKIP`` lines used by an earlier call), so
``bench/run.py --work DIR`` afterwards must not run out:
``--seed-only`` sizes them for a whole run, and this takes a few hundred lines.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import common

BENCH = Path(__file__).resolve().parent
REDIRECT_URI = "https://app.example/cb"


def wsgi_call(app, *, host: str, path: str, body: str, auth: str) -> int:
    data = body.encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": host,
        "SERVER_PORT": "443",
        "HTTP_HOST": host,
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_AUTHORIZATION": auth,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(data)),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    status = []
    result = app(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return int(status[0].split()[0])


def requests_for(key: str, work: Path, seed: dict, n: int):
    """(host, path, body, auth) for ``n`` requests of scenario ``key``."""
    pools = work / "gatehouse"
    h1 = "t0001.bench.test"

    def lines(name: str, backwards: bool = False) -> list[tuple[str, str]]:
        rows = [
            tuple(line.split("\t", 1))
            for line in (pools / f"{name}.txt").read_text().split("\n")
            if line
        ]
        skip = 10 + int(os.environ.get("HOTPATH_SKIP", "0"))  # past lines used before
        return rows[::-1][skip : skip + n] if backwards else rows

    if key == "cc":
        return [(h1, "/oauth/token", "grant_type=client_credentials", seed["cc"])] * n
    if key == "cc-n":
        hosts = lines("gh_hosts_n")
        return [
            (hosts[i % len(hosts)][0], "/oauth/token", "grant_type=client_credentials", seed["cc"])
            for i in range(n)
        ]
    if key == "jwt":
        return [(h1, "/oauth/token", "grant_type=client_credentials", seed["jwt_rs256"])] * n
    if key == "introspect":
        tokens = lines("gh_tokens_1")
        return [
            (h1, "/oauth/introspect", "token=" + tokens[i % len(tokens)][1], seed["introspect"])
            for i in range(n)
        ]
    if key == "introspect-n":
        tokens = lines("gh_tokens_n")
        return [
            (t[0], "/oauth/introspect", "token=" + t[1], seed["introspect"])
            for t in (tokens[i % len(tokens)] for i in range(n))
        ]
    if key == "refresh":
        return [
            (h1, "/oauth/token", "grant_type=refresh_token&refresh_token=" + t, seed["web"])
            for _, t in lines("gh_refresh", True)
        ]
    if key == "pkce":
        import seed_gatehouse

        body = "grant_type=authorization_code&" + urlencode(
            {"redirect_uri": seed_gatehouse.REDIRECT_URI, "code_verifier": seed_gatehouse.VERIFIER}
        )
        return [
            (h1, "/oauth/token", f"{body}&code={t}", seed["web"])
            for _, t in lines("gh_codes", True)
        ]
    raise SystemExit(f"unknown scenario {key}")


def run(key: str, work: Path, seed: dict, n: int, top: int) -> None:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    todo = requests_for(key, work, seed, n + 20)
    for host, path, body, auth in todo[:20]:  # warm-up: caches, prepared statements
        status = wsgi_call(app, host=host, path=path, body=body, auth=auth)
        assert status == 200, (key, status)
    todo = todo[20:]
    profiler = cProfile.Profile()
    started = time.process_time()
    profiler.enable()
    for host, path, body, auth in todo:
        wsgi_call(app, host=host, path=path, body=body, auth=auth)
    profiler.disable()
    took = time.process_time() - started
    # Once more without the profiler: its overhead inflates the figure above.
    todo = (
        requests_for(key, work, seed, 2 * n + 40)[n + 40 :] if key in ("refresh", "pkce") else todo
    )
    backend = _backend_pid()
    db0 = _cpu_seconds(backend)
    started = time.process_time()
    for host, path, body, auth in todo:
        wsgi_call(app, host=host, path=path, body=body, auth=auth)
    plain = time.process_time() - started
    db = _cpu_seconds(backend) - db0
    print(
        f"\n== {key}: {len(todo)} requests, {1000 * plain / len(todo):.2f} ms CPU each "
        f"({1000 * took / len(todo):.2f} under cProfile), PostgreSQL backend "
        f"{1000 * db / len(todo):.2f} ms each"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process on this machine (the PostgreSQL backend), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign_alone(n: int) -> None:
    """RS256 and ES256 signing of an RFC 9068 claims set alone, the key already loaded."""
    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    claims = {"iss": "https://t0001.bench.test", "exp": 2_000_000_000, "aud": "https://api",
              "sub": "x" * 22, "client_id": "x" * 22, "iat": 1_700_000_000, "jti": "y" * 32,
              "scope": "api read"}  # fmt: skip
    for alg, key in (("RS256", RSAKey.generate_key(2048)), ("ES256", ECKey.generate_key("P-256"))):
        header = {"alg": alg, "kid": "k", "typ": "at+jwt"}
        jwt.encode(header, dict(claims), key)
        started = time.process_time()
        for _ in range(n):
            jwt.encode(header, dict(claims), key)
        print(f"{alg}: {1000 * (time.process_time() - started) / n:.3f} ms CPU per JWT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="a bench/run.py --seed-only folder")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sign", action="store_true")
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    work = Path(args.work)
    redis_url = os.environ.get(
        "BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '8')}"
    )
    with ExitStack() as stack:
        if (work / "postgres" / "pgdata").exists():  # seeded on the bench's own cluster
            import pgcluster

            PG[0] = stack.enter_context(pgcluster.cluster(work / "postgres"))
        env = common.bench_env(common_pg("gatehouse_bench_gh"), redis_url)
        env["DJANGO_SETTINGS_MODULE"] = "gatehouse_bench.settings"
        sys.path.insert(0, str(BENCH))
        common.setup_django(env)
        if args.sign:
            sign_alone(args.n)
        seed = json.loads((work / "seeded.json").read_text())["seeds"]["gatehouse"]
        for key in args.scenarios:
            run(key, work, seed, args.n, args.top)


def common_pg(database: str) -> str:
    return PG[0] + database


#: The seed's PostgreSQL: the bench's own cluster when the working folder has one.
PG = ["postgres://postgres@127.0.0.1:5432/"]


if __name__ == "__main__":
    main()
