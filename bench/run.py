"""``make bench``: Gatehouse and its peers in one run, scenario by scenario, rounds interleaved.

Peers (``bench/peers/``, each a small Django project from pinned requirements in its own
venv under ``bench/.venvs/``):

- ``gatehouse``: our platform, production settings plus a no-op view (``bench/gatehouse_bench``);
- ``guide``: a single-tenant Authlib server written as Authlib's Django guide writes it;
- ``dot``: django-oauth-toolkit, its default PBKDF2 client secrets;
- ``dot-fast``: the same with a one-round salted SHA-256 client-secret hasher.

Every server is gunicorn with the same flags (2 sync workers, ``--worker-tmp-dir /dev/shm``)
on loopback, on its own database of the same PostgreSQL (the bench's own cluster,
``bench/pgcluster.py``, set up for 1,000 tenants; ``--system-postgres``: the machine's),
persistent connections (CONN_MAX_AGE 600), DEBUG off. All run at once; idle ones cost
nothing. Load comes from wrk (``-t2 -c8 --latency``, a separate process) with a Lua script
per scenario (a random line of a pool, or lines in order for single-use tokens). The
many-tenant scenarios first send
``TENANT_WARMUP`` seconds of requests to every tenant in turn (a warm server's caches; the
rate of that pass from cold is reported too). Every scenario gets one 2 s warm-up, then
rounds run A B C ... A B C ... (each round every scenario of every peer). For each run:
req/s, p50/p99, CPU of the server's processes (utime+stime from /proc of gunicorn's master
and workers) and of its PostgreSQL backends, per request; the load average.

    make bench                               # full: 10 s per run, 2 rounds, 1,000 tenants
    make bench BENCH_ARGS=--quick            # 3 s per run, 2 rounds, 100 tenants: to try it

Durations on this 2-core shared machine: full ~25 min (seeding ~14 min, most of it the 999
schema clones, then ~11 min of runs); --quick ~6 min (350 s, seeding 69 s). To seed once and
measure twice: ``--seed-only --work DIR``, then ``--work DIR`` (and ``--reseed-peers`` for a
second run), then ``--report-only DIR1/results.json DIR2/results.json`` to pool the rounds.

Writes the section between the ``bench:start`` / ``bench:end`` markers of
docs/benchmarks.md and the charts docs/bench-*.png (matplotlib, in bench/.venvs/charts).
Databases: gatehouse_bench_gh, _guide, _dot, _dotfast (dropped and re-created); Redis db
``BENCH_REDIS_DB`` (default 8).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as host_platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import common  # this folder is on sys.path: the benchmarks run as scripts
import pgcluster
import psycopg
import redis
import seed_gatehouse as seed_gatehouse_module

BENCH = common.REPO / "bench"
PEERS_DIR = BENCH / "peers"
VENVS = BENCH / ".venvs"
DOC = common.REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
#: The PostgreSQL every server runs on: the bench's own cluster (bench/pgcluster.py, started
#: by main()), or with --system-postgres the machine's server.
PG = "postgres://postgres@127.0.0.1:5432/"
CLK = os.sysconf("SC_CLK_TCK")
CONNS, THREADS = 8, 2
WARMUP = 2
#: Many-tenant scenarios first send this many seconds of requests to every tenant in turn
#: (the pool's lines in order, round and round), so that their rounds measure a server whose
#: per-process caches and PostgreSQL backends have met every tenant, as a server that has run
#: for a while has; the rate of that warm-up, from cold, is reported beside the rounds.
TENANT_WARMUP = 15
#: Before each run, every server must be idle: a server still answering the requests a run
#: left in its sockets (django-oauth-toolkit's PBKDF2 takes ~1 s a request, and a sync
#: worker answers each accepted one even after wrk has gone) would take the cores from the
#: next run's server. Idle: all servers together used under this share of one core over a
#: quarter second; waited for at most SETTLE_MAX seconds.
SETTLE_SHARE, SETTLE_MAX = 0.1, 20.0
#: Gatehouse with its rate limits off (``gatehouse_unlimited``), and its rows' label.
UNLIMITED, RATE_LIMITS_OFF = "gatehouse-unlimited", "rate limits off"
#: Upper bound of any server's rate here, to size the pools of single-use tokens.
MAX_RATE = 700


# --- venvs ----------------------------------------------------------------------------------


def ensure_venv(name: str, requirements: Path) -> Path:
    """``bench/.venvs/NAME`` with ``requirements`` installed (uv, our own Python, nothing
    downloaded but the pinned packages); its python."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    uv = common.REPO / ".venv" / "bin" / "uv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    print(f"building {venv.relative_to(common.REPO)} from {requirements.name} ...", flush=True)
    subprocess.run(
        [uv, "venv", "-q", "--clear", "--python", common.REPO / ".venv/bin/python", venv],
        check=True,
        env=env,
    )
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, "-r", requirements], check=True, env=env
    )
    stamp.write_text(wanted)
    return python


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    label: str
    python: Path
    cwd: Path
    app: str
    env: dict
    database: str
    health: str
    port: int = 0
    pid: int = 0
    seed: dict = field(default_factory=dict)
    pools: Path = Path()


def gunicorn_cmd(server: Server, port: int) -> list:
    return [
        server.python, "-m", "gunicorn", server.app, "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--worker-class", "sync", "--worker-tmp-dir", "/dev/shm",
        "--log-level", "warning",
    ]  # fmt: skip


@contextmanager
def serve(server: Server, log: Path):
    port = common.free_port()
    proc = subprocess.Popen(
        gunicorn_cmd(server, port),
        cwd=server.cwd,
        env=server.env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{server.health}",
                    headers={"Host": "t0001.bench.test", "X-Forwarded-Proto": "https"},
                )
                urllib.request.urlopen(request, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"{server.name} did not start: {log.read_text()[-1500:]}"
                    ) from None
                time.sleep(0.3)
        server.port, server.pid = port, proc.pid
        yield server
    finally:
        proc.terminate()
        proc.wait(15)


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime+stime seconds) of ``pid`` from /proc, None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and its children (gunicorn's master and workers)."""
    total = (_stat(root) or (0, 0.0))[1]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[0] == root:
                total += st[1]
    return total


def backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (same machine)."""
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = "
            "'client backend'", [database])]  # fmt: skip
    return {p: st[1] for p in pids if (st := _stat(p))}


def backends_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends spent in between (a backend gone by then is not counted)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str  # e.g. "cc"
    title: str
    server: str  # a Server.name
    variant: str  # the column label: "1 tenant", "1,000 tenants", "", "PBKDF2"
    method: str
    path: str
    headers: dict
    body: str = ""
    pool: str = ""  # file in the server's pool folder: "host<TAB>token" lines
    sequential: bool = False  # single-use tokens: each line once, in order
    cycle: bool = False  # every line in order, round and round (the many-tenant warm-up)
    host_from_pool: bool = False
    expect: int = 200
    note: str = ""
    shown: str = ""  # the server's name in the report, when not ``server``

    @property
    def peer(self) -> str:
        name = self.shown or self.server
        return f"{name} ({self.variant})" if self.variant else name


LUA = r"""
wrk.method = "{method}"
local headers = {{}}
{headers}
local prefix, suffix = "{prefix}", "{suffix}"
local file, sequential, host_from_pool = "{file}", {sequential}, {host_from_pool}
local cycle = {cycle}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local lines, n, i = {{}}, 0, 0
function init(args)
  if file ~= "" then
    for line in io.lines(file) do n = n + 1; lines[n] = line end
  end
  i = tid + 1 - {threads}
end
function request()
  if n == 0 then
    return wrk.format(nil, "{path}", headers, prefix)
  end
  local line
  if sequential then
    i = i + {threads}
    -- A used-up chunk never repeats a token: it sends one the server refuses (non-2xx).
    line = lines[i] or "x\tpool-used-up"
  elseif cycle then
    i = i + {threads}
    if i > n then i = (i - 1) % n + 1 end
    line = lines[i]
  else
    line = lines[math.random(n)]
  end
  local host, token = line:match("^([^\t]*)\t(.*)$")
  if host_from_pool then headers["Host"] = host end
  return wrk.format(nil, "{path}", headers, prefix .. token .. suffix)
end
"""


def lua_script(s: Scenario, pool_file: str, folder: Path) -> Path:
    prefix, _, suffix = s.body.partition("{token}")
    script = LUA.format(
        method=s.method,
        headers="\n".join(f'headers["{k}"] = "{v}"' for k, v in s.headers.items()),
        prefix=prefix,
        suffix=suffix,
        file=pool_file,
        sequential="true" if s.sequential else "false",
        cycle="true" if s.cycle else "false",
        host_from_pool="true" if s.host_from_pool else "false",
        threads=THREADS,
        path=s.path,
    )
    name = f"{s.server}-{s.key}-{s.variant or 'x'}" + ("-cycle" if s.cycle else "")
    path = folder / f"{name}.lua".replace(" ", "_").replace(",", "")
    path.write_text(script)
    return path


class Pools:
    """Single-use pools cut into one chunk per run (warm-up, round 1, round 2, ...) and the
    last line kept for the probe; random pools used whole."""

    def __init__(self, seconds: int, rounds: int, folder: Path) -> None:
        self.seconds, self.rounds, self.folder = seconds, rounds, folder
        # How far each pool has been used, kept across runs on one --work folder.
        self.ledger = folder / "pools-used.json"
        self.used: dict[str, int] = (
            json.loads(self.ledger.read_text()) if self.ledger.exists() else {}
        )
        self.last: dict[str, tuple[int, int]] = {}

    def sizes(self) -> int:
        return MAX_RATE * (WARMUP + self.seconds * self.rounds) + 10

    def lines(self, path: Path) -> list[str]:
        return path.read_text().splitlines()

    def consumed(self, s: Scenario, server: Server, requests: int) -> None:
        """Give back the unused end of the last chunk: the two wrk threads take alternate
        lines, so at most 2 x requests (+ those in flight) were taken."""
        key = f"{server.name}/{s.pool}"
        if s.sequential and key in self.last:
            start, size = self.last.pop(key)
            self.used[key] = start + min(size, 2 * requests + 4 * CONNS)
            self.ledger.write_text(json.dumps(self.used))

    def probe_line(self, s: Scenario, server: Server) -> str:
        """A line for the probe: single-use pools give theirs from the end (one per run)."""
        lines = self.lines(server.pools / f"{s.pool}.txt")
        if not s.sequential:
            return lines[-1]
        key = f"{server.name}/{s.pool}#probes"
        self.used[key] = self.used.get(key, 0) + 1
        self.ledger.write_text(json.dumps(self.used))
        return lines[-self.used[key]]

    def file_for(self, s: Scenario, server: Server, seconds: int) -> str:
        source = server.pools / f"{s.pool}.txt"
        if not s.sequential:
            return str(source)
        lines = self.lines(source)[:-10]  # the end: the probes' lines
        key = f"{server.name}/{s.pool}"
        start = self.used.get(key, 0)
        chunk = lines[start : start + MAX_RATE * seconds]
        if len(chunk) < 100:
            raise SystemExit(f"the pool {key} is used up: seed again (--seed-only)")
        self.used[key] = start + len(chunk)
        self.last[key] = (start, len(chunk))
        self.ledger.write_text(json.dumps(self.used))
        out = self.folder / f"{server.name}-{s.pool}-{start}.txt"
        out.write_text("\n".join(chunk) + "\n")
        return str(out)


def probe(s: Scenario, server: Server, line: str) -> tuple[int, str]:
    """One request as the Lua script would send it: (status, start of the body)."""
    headers = dict(s.headers)
    body = s.body
    if s.pool:
        host, _, token = line.partition("\t")
        body = body.replace("{token}", token)
        if s.host_from_pool:
            headers["Host"] = host
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{s.path}",
        data=body.encode() if s.method == "POST" else None,
        headers=headers,
        method=s.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(300).decode(errors="replace")


def settle(servers) -> float:
    """Wait until every server is idle (``SETTLE_SHARE``); the seconds waited."""
    began = time.monotonic()
    last = sum(tree_cpu(s.pid) for s in servers)
    while time.monotonic() - began < SETTLE_MAX:
        time.sleep(0.25)
        now = sum(tree_cpu(s.pid) for s in servers)
        if now - last < SETTLE_SHARE * 0.25:
            break
        last = now
    return time.monotonic() - began


def redis_cpu(url: str | None) -> float:
    """Redis's own CPU seconds so far (``INFO cpu``: the server's user + system time); only
    Gatehouse uses Redis here (its rate limits and cache), so a run's delta is its share."""
    if not url:
        return 0.0
    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(s: Scenario, server: Server, pools: Pools, seconds: int, folder: Path) -> dict:
    script = lua_script(s, pools.file_for(s, server, seconds) if s.pool else "", folder)
    redis_url = server.env.get("REDIS_URL")
    redis0 = redis_cpu(redis_url)
    cpu0, db0 = tree_cpu(server.pid), backends_cpu(server.database)
    proc = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNS}", f"-d{seconds}s", "--latency", "-s", script,
         f"http://127.0.0.1:{server.port}{s.path}"],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    cpu1, db1 = tree_cpu(server.pid), backends_cpu(server.database)
    redis1 = redis_cpu(redis_url)
    result = common.parse_wrk(proc.stdout)
    pools.consumed(s, server, result["requests"])
    n = max(result["requests"], 1)
    result.update(
        cpu_ms=(cpu1 - cpu0) * 1000 / n,
        db_cpu_ms=backends_delta(db0, db1) * 1000 / n,
        redis_cpu_ms=(redis1 - redis0) * 1000 / n,
        load=os.getloadavg()[0],
    )
    return result


# --- set-up -------------------------------------------------------------------------------


def peer_server(name: str, label: str, project: str, app: str, settings: str, **extra) -> Server:
    python = ensure_venv(project, PEERS_DIR / project / "requirements.txt")
    database = f"gatehouse_bench_{name.replace('-', '')}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": PG + database,
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": os.pathsep.join([str(PEERS_DIR / project), str(PEERS_DIR)]),
        **extra,
    }
    return Server(name, label, python, PEERS_DIR / project, app, env, database, "/noop")


def seed_peer(server: Server, out: Path, *, tokens: int, single_use: int) -> None:
    common.ensure_database(PG + server.database, recreate=True)
    run = [server.python, "manage.py"]
    subprocess.run([*run, "migrate", "-v0"], cwd=server.cwd, env=server.env, check=True)
    subprocess.run(
        [*run, "bench_seed", "--out", out, "--tokens", str(tokens),
         "--refresh", str(single_use), "--codes", str(single_use)],
        cwd=server.cwd, env=server.env, check=True,
    )  # fmt: skip
    # "host<TAB>token" lines, as the Lua scripts read them (peers have one host).
    for name in ("tokens", "refresh", "codes"):
        path = out / f"{name}.txt"
        path.write_text("".join(f"x\t{t}\n" for t in path.read_text().split()))
    server.seed = json.loads((out / "seed.json").read_text())
    server.pools = out


def gatehouse_server(redis_url: str) -> Server:
    database = "gatehouse_bench_gh"
    env = common.bench_env(PG + database, redis_url)
    env["DJANGO_SETTINGS_MODULE"] = "gatehouse_bench.settings"
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(BENCH)])
    return Server(
        "gatehouse", "Gatehouse", Path(sys.executable), common.REPO, "gatehouse.wsgi", env,
        database, "/bench/noop",
    )  # fmt: skip


def gatehouse_unlimited(gatehouse: Server) -> Server:
    """The same server with its rate limits off (``GATEHOUSE_RATE_LIMITS_ENABLED=false``),
    on the same database, seed and pools: a measured floor for the report (what the limits,
    one Redis script per request, cost against the peers, which have none), never a target's
    row."""
    env = {**gatehouse.env, "GATEHOUSE_RATE_LIMITS_ENABLED": "false"}
    return replace(gatehouse, name=UNLIMITED, env=env)


def seed_gatehouse(server: Server, out: Path, *, tenants: int, tokens: int, single_use: int):
    """Returns timings of the seeding steps."""
    common.ensure_database(PG + server.database, recreate=True)
    timings = {}
    started = time.monotonic()
    common.manage(server.env, "migrate_schemas", "--shared", "-v", "0")
    server.seed = seed_gatehouse_module.provision(server.env)
    timings["provision t0001 + 5 clients (CLI)"] = time.monotonic() - started
    common.setup_django(server.env)
    timings[f"clone {tenants - 1} tenants + 1 suspended"] = seed_gatehouse_module.clone_tenants(
        PG + server.database, tenants
    )
    started = time.monotonic()
    seed_gatehouse_module.pools(
        out, tenants=tenants, tokens=tokens, refresh=single_use, codes=single_use
    )
    timings["pools (tokens, refresh, codes)"] = time.monotonic() - started
    server.pools = out
    return timings


# --- scenarios ------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
ES256_NOTE = (
    "Gatehouse signs every JWT access token RS256 (oauth.oidc.tokens); a client's ES256 is its "
    "id_token alg, so this row is the same code path as RS256"
)


def without_limits(ours: list[Scenario]) -> list[Scenario]:
    """``ours`` again on the server with its rate limits off (``gatehouse_unlimited``): the
    floor they set (report, "Floors"), labelled apart from ours and in no target."""
    return [
        replace(s, title="", server=UNLIMITED, shown=s.server,
                variant=f"{s.variant}, {RATE_LIMITS_OFF}")
        for s in ours
    ]  # fmt: skip


def scenarios(servers: dict[str, Server], tenants: int) -> list[Scenario]:
    gh, out = servers["gatehouse"], []
    many = f"{tenants:,} tenants"
    h1 = {"Host": "t0001.bench.test", "X-Forwarded-Proto": "https"}

    def post(auth: str, host: dict | None = None) -> dict:
        return {**(host or h1), "Authorization": auth, "Content-Type": FORM}

    cc_body = "grant_type=client_credentials"
    refresh_body = "grant_type=refresh_token&refresh_token={token}"

    def pkce_body(seed_redirect: str, verifier: str) -> str:
        return (
            "grant_type=authorization_code&code={token}&redirect_uri="
            + urllib.request.quote(seed_redirect, safe="")
            + "&code_verifier="
            + verifier
        )

    # The ceiling: a no-op view through each project's full middleware.
    out.append(Scenario("noop", "No-op view (full middleware)", "gatehouse", "1 tenant",
                        "GET", "/bench/noop", h1))  # fmt: skip
    out.append(Scenario("noop", "", "gatehouse", many, "GET", "/bench/noop",
                        {"X-Forwarded-Proto": "https"}, pool="gh_hosts_n",
                        host_from_pool=True))  # fmt: skip
    for name in ("guide", "dot"):
        out.append(Scenario("noop", "", name, "", "GET", "/noop", {}))
    # client_credentials, opaque.
    out.append(Scenario("cc", "client_credentials, opaque token", "gatehouse", "1 tenant",
                        "POST", "/oauth/token", post(gh.seed["cc"]), cc_body))  # fmt: skip
    out.append(Scenario("cc", "", "gatehouse", many, "POST", "/oauth/token",
                        post(gh.seed["cc"], {"X-Forwarded-Proto": "https"}), cc_body,
                        pool="gh_hosts_n", host_from_pool=True))  # fmt: skip
    out += without_limits(out[-2:])
    paths = {"guide": "/oauth/", "dot": "/o/", "dot-fast": "/o/"}
    slash = {"guide": "", "dot": "/", "dot-fast": "/"}

    def peer_path(name: str, what: str) -> str:
        return paths[name] + what + slash[name]

    for name in ("guide", "dot", "dot-fast"):
        s = servers[name]
        out.append(Scenario("cc", "", name, "", "POST", peer_path(name, "token"),
                            {"Authorization": s.seed["cc"], "Content-Type": FORM},
                            cc_body))  # fmt: skip
    # JWT access tokens (RFC 9068), ours only.
    out.append(Scenario("jwt", "client_credentials, JWT access token (RFC 9068)", "gatehouse",
                        "RS256, 1 tenant", "POST", "/oauth/token", post(gh.seed["jwt_rs256"]),
                        cc_body))  # fmt: skip
    out.append(Scenario("jwt", "", "gatehouse", f"RS256, {many}", "POST", "/oauth/token",
                        post(gh.seed["jwt_rs256"], {"X-Forwarded-Proto": "https"}), cc_body,
                        pool="gh_hosts_n", host_from_pool=True))  # fmt: skip
    out.append(Scenario("jwt", "", "gatehouse", "ES256 id_token alg, 1 tenant", "POST",
                        "/oauth/token", post(gh.seed["jwt_es256"]), cc_body,
                        note=ES256_NOTE))  # fmt: skip
    # Introspection over many distinct tokens, a random one per request.
    out.append(Scenario("introspect", "Introspection (RFC 7662), random token of 10,000",
                        "gatehouse", "1 tenant", "POST", "/oauth/introspect",
                        post(gh.seed["introspect"]), "token={token}",
                        pool="gh_tokens_1"))  # fmt: skip
    out.append(Scenario("introspect", "", "gatehouse", many, "POST", "/oauth/introspect",
                        post(gh.seed["introspect"], {"X-Forwarded-Proto": "https"}),
                        "token={token}", pool="gh_tokens_n", host_from_pool=True))  # fmt: skip
    out += without_limits(out[-2:])
    for name in ("guide", "dot", "dot-fast"):
        s = servers[name]
        out.append(Scenario("introspect", "", name, "", "POST", peer_path(name, "introspect"),
                            {"Authorization": s.seed["introspect"], "Content-Type": FORM},
                            "token={token}", pool="tokens"))  # fmt: skip
    # Refresh rotation: each refresh token used once.
    out.append(Scenario("refresh", "Refresh token rotation (each token used once)",
                        "gatehouse", "1 tenant", "POST", "/oauth/token", post(gh.seed["web"]),
                        refresh_body, pool="gh_refresh", sequential=True))  # fmt: skip
    for name in ("guide", "dot", "dot-fast"):
        s = servers[name]
        out.append(Scenario("refresh", "", name, "", "POST", peer_path(name, "token"),
                            {"Authorization": s.seed["refresh"], "Content-Type": FORM},
                            refresh_body, pool="refresh", sequential=True))  # fmt: skip
    # The token step of authorization_code + PKCE (pre-created codes).
    out.append(Scenario("pkce", "Authorization code + PKCE, token step (pre-created codes)",
                        "gatehouse", "1 tenant", "POST", "/oauth/token", post(gh.seed["web"]),
                        pkce_body(seed_gatehouse_module.REDIRECT_URI,
                                  seed_gatehouse_module.VERIFIER),
                        pool="gh_codes", sequential=True))  # fmt: skip
    for name in ("guide", "dot", "dot-fast"):
        s = servers[name]
        out.append(Scenario("pkce", "", name, "", "POST", peer_path(name, "token"),
                            {"Authorization": s.seed["pkce"], "Content-Type": FORM},
                            pkce_body(s.seed["redirect_uri"], s.seed["verifier"]),
                            pool="codes", sequential=True))  # fmt: skip
    # Requests that must be refused.
    out.append(Scenario("refused", "Refused before any OAuth work", "gatehouse",
                        "unknown host", "POST", "/oauth/token",
                        post(gh.seed["cc"], {"Host": "nope.bench.test",
                                             "X-Forwarded-Proto": "https"}),
                        cc_body, expect=404))  # fmt: skip
    out.append(Scenario("refused", "", "gatehouse", "suspended tenant", "POST", "/oauth/token",
                        post(gh.seed["cc"], {"Host": "suspended.bench.test",
                                             "X-Forwarded-Proto": "https"}),
                        cc_body, expect=0))  # fmt: skip
    return out


# --- report ---------------------------------------------------------------------------------


def settled_text(results: list[dict]) -> str:
    waits = [r["settled_s"] for r in results if "settled_s" in r]
    if not waits:
        return "not measured by this run's version of the bench"
    return (
        f"median {statistics.median(waits):.1f} s, longest {max(waits):.1f} s, "
        f"bounded at {SETTLE_MAX:.0f} s"
    )


def report(results: list[dict], context: dict) -> str:
    by_key: dict[str, list[dict]] = {}
    for r in results:
        by_key.setdefault(r["key"], []).append(r)

    def median(rows: list[dict], name: str) -> float:
        return statistics.median(r[name] for r in rows)

    lines = [f"## Gatehouse and its peers, same run ({context['when']})", ""]
    lines += [
        f"`{context['command']}`: {context['seconds']} s per run, {context['rounds']} rounds "
        f"interleaved (every scenario of every server, then again), after one {WARMUP} s "
        f"warm-up each, each run started once every server was idle (none still answering "
        f"an earlier run's requests; waited {settled_text(results)}); the whole run took "
        f"{context['duration']:.0f} s"
        + (
            " after seeding (done ahead by `--seed-only --work DIR`, then `--work DIR`; "
            f"seeding took {sum(context['seeding'].values()):.0f} s)"
            if context.get("seeded_ahead")
            else f", seeding included ({sum(context['seeding'].values()):.0f} s)"
        )
        + f". wrk `-t{THREADS} "
        f"-c{CONNS} --latency` from its own process; gunicorn `--workers 2 --worker-class "
        f"sync` for every server, all on loopback and one PostgreSQL "
        f"({context['pg']}"
        + (
            ", the bench's own cluster (`bench/pgcluster.py`: "
            + ", ".join(f"`{k}={v}`" for k, v in context["pg_settings"].items())
            + ", the rest PostgreSQL's defaults)"
            if context.get("pg_own")
            else ", the machine's server"
        )
        + "), persistent connections (CONN_MAX_AGE 600), DEBUG off.",
        "",
        "Reproduce: `make bench` (seeds and runs in one go: ~25 min on this machine, ~14 of "
        "them seeding 1,000 tenants); `make bench BENCH_ARGS=--quick` to try it (3 s per run, "
        "100 tenants, ~6 min). The many-tenant rows use 1,000 tenants in the full profile and "
        f"100 in the quick one; this run: **{context['tenants']:,} tenants**"
        + (" (the quick profile)" if "--quick" in context["command"] else "")
        + ".",
        "",
        f"Machine: {context['cores']} cores ({context['cpu']}), Python {context['python']}; "
        f"load average {context['load_start']} at the start, {context['load_end']} at the end "
        "(the machine is shared: above ~2 other processes competed for the cores, so compare "
        "rows of one run, not runs).",
        "",
        *(
            [
                f"Rounds pooled from {len(context['runs'])} runs "
                "(`bench/run.py --report-only A/results.json B/results.json`): "
                + "; ".join(
                    f"`{r['command']}` at {r['when']}, {r['duration']:.0f} s, load "
                    f"{r['load_start']} -> {r['load_end']}"
                    for r in context["runs"]
                )
                + ".",
                "",
            ]
            if context.get("runs")
            else []
        ),
        "req/s is the median over the rounds (each round in brackets); p50/p99 from wrk's "
        "latency distribution (median over rounds); CPU/req: utime+stime of gunicorn's master "
        "and workers from /proc, and of the server's PostgreSQL backends, divided by requests.",
        "",
        *(
            [
                f"The many-tenant rows are a warm server's: before its warm-up, each of those "
                f"scenarios sent {TENANT_WARMUP} s of requests to every tenant in turn (the "
                "pool's lines in order, round and round), so that each worker's caches (the "
                "client cache, the issuer policy, the parsed signing keys) and each PostgreSQL "
                "backend's catalog cache had met every tenant, as on a server that has run for "
                "a while. That pass started cold, and ran at "
                + "; ".join(
                    f"{w['rps']:.0f} req/s ({w['key']}, {w['peer']})"
                    for w in context["tenant_warmups"]
                )  # fmt: skip
                + ". The rounds then pick a random tenant per request, as before.",
                "",
            ]
            if context.get("tenant_warmups")
            else []
        ),
        "Servers: **gatehouse** (this repository, `gatehouse.settings.production` plus a "
        "no-op view at `/bench/noop` from `bench/gatehouse_bench`; rate limits raised so they "
        "run but never refuse); **guide** (`bench/peers/guide`: a single-tenant Authlib "
        "1.9.10 server written as Authlib's Django guide writes it: `OAuth2Client` / "
        "`OAuth2Token` models, plain-text secret compare, client_credentials, code + PKCE, "
        "rotating refresh, RFC 7662 introspection as its docs show); **dot** "
        "(`bench/peers/dot`: django-oauth-toolkit 3.4.1, its default PBKDF2-hashed client "
        "secrets) and **dot-fast** (the same project and code with `BENCH_DOT_HASHER=sha256`: "
        "one salted SHA-256). All on Django 6.1.3, psycopg 3.3.9, gunicorn 27.0.1 from pinned "
        "requirements; the peers run startproject's default middleware, ours its own stack.",
        "",
        "![throughput per scenario and server](bench-throughput.png)",
        "",
        "![server CPU per request, per scenario and server](bench-cpu.png)",
        "",
    ]
    for rows in by_key.values():
        title = next(r["title"] for r in rows if r["title"])
        lines += [f"### {title}", ""]
        lines += [
            "| server | req/s | rounds | p50 | p99 | server CPU ms/req | PostgreSQL CPU ms/req "
            "| answer | non-2xx |",
            "|---|---:|---|---:|---:|---:|---:|---|---:|",
        ]
        peers: dict[str, list[dict]] = {}
        for r in rows:
            peers.setdefault(r["peer"], []).append(r)
        for peer, runs in peers.items():
            rounds = ", ".join(f"{r['rps']:.0f}" for r in runs)
            non2xx = sum(r["non_2xx"] for r in runs)
            lines.append(
                f"| {peer} | **{median(runs, 'rps'):.0f}** | {rounds} | "
                f"{statistics.median(r['p50_ms'] for r in runs):.1f} ms | "
                f"{statistics.median(r['p99_ms'] for r in runs):.1f} ms | "
                f"{median(runs, 'cpu_ms'):.2f} | {median(runs, 'db_cpu_ms'):.2f} | "
                f"{runs[0]['probe']} | {non2xx} |"
            )
        notes = {r["note"] for r in rows if r["note"]}
        lines += [""] + [f"Note: {n}." for n in sorted(notes)] + ([""] if notes else [])
    lines += ratios(results)
    lines += floors(results, context)
    return "\n".join(lines) + "\n"


def rps(results: list[dict], key: str, peer: str) -> float | None:
    values = [r["rps"] for r in results if r["key"] == key and r["peer"] == peer]
    return statistics.median(values) if values else None


def cpu(results: list[dict], key: str, peer: str) -> float | None:
    """Median server + PostgreSQL + Redis CPU ms per request (only Gatehouse uses Redis)."""
    values = [r["cpu_ms"] + r["db_cpu_ms"] + r["redis_cpu_ms"] for r in results
              if r["key"] == key and r["peer"] == peer]  # fmt: skip
    return statistics.median(values) if values else None


def ratios(results: list[dict]) -> list[str]:
    lines = ["### Ratios and the targets of issue 14", ""]
    lines += [
        "Throughput decides the targets; the CPU ratio (the peer's server + PostgreSQL CPU per "
        "request over ours, Redis's included for ours; above 1: we spend less) is steadier on "
        "a shared machine.",
        "",
        "| target | measured (this run) | met? | CPU ratio |",
        "|---|---|---|---:|",
    ]
    for key, name in (("cc", "opaque client_credentials"), ("introspect", "introspection")):
        for variant in ("1 tenant", many_variant(results, key)):
            ours = rps(results, key, f"gatehouse ({variant})")
            for peer, target in (("guide", 1.2), ("dot-fast", 1.5), ("dot", None)):
                theirs = rps(results, key, peer)
                if ours is None or not theirs:
                    continue
                ratio = ours / theirs
                goal = f">= {target}x" if target else "(no target)"
                met = ("met" if ratio >= target else "**missed**") if target else "-"
                mine, other = cpu(results, key, f"gatehouse ({variant})"), cpu(results, key, peer)
                lines.append(
                    f"| {name}, {variant}: {goal} {peer} | {ours:.0f} / {theirs:.0f} req/s "
                    f"= {ratio:.2f}x | {met} | {other / mine:.2f}x |"
                )
    noop = rps(results, "noop", "gatehouse (1 tenant)")
    for variant in ("RS256, 1 tenant", "ES256 id_token alg, 1 tenant"):
        jwt = rps(results, "jwt", f"gatehouse ({variant})")
        if jwt and noop:
            ratio = jwt / noop
            mine = cpu(results, "jwt", f"gatehouse ({variant})")
            ceiling = cpu(results, "noop", "gatehouse (1 tenant)")
            lines.append(
                f"| JWT client_credentials ({variant}): >= 0.30x our no-op ceiling | "
                f"{jwt:.0f} / {noop:.0f} req/s = {ratio:.2f}x | "
                f"{'met' if ratio >= 0.30 else '**missed**'} | {ceiling / mine:.2f}x |"
            )
    lines.append("")
    # Every ratio of ours to each peer, scenario by scenario.
    lines += ["Ratio of Gatehouse (1 tenant) to each peer, median req/s:", ""]
    lines += ["| scenario | guide | dot (PBKDF2) | dot-fast (SHA-256) |", "|---|---:|---:|---:|"]
    for key in ("noop", "cc", "introspect", "refresh", "pkce"):
        ours = rps(results, key, "gatehouse (1 tenant)")
        cells = []
        for peer in ("guide", "dot", "dot-fast"):
            theirs = rps(results, key, peer)
            cells.append(f"{ours / theirs:.2f}x" if ours and theirs else "-")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def many_variant(results: list[dict], key: str) -> str:
    """The many-tenant variant of ``key`` ("1,000 tenants"), rate limits on."""
    return next(
        (r["variant"] for r in results if r["key"] == key and "tenants" in r["variant"]
         and RATE_LIMITS_OFF not in r["variant"]),
        "",
    )  # fmt: skip


def signing_cost(n: int = 300) -> dict[str, float]:
    """CPU ms per JWT of RS256 (RSA 2048) and ES256 (P-256) signing alone, in this process:
    joserfc over an RFC 9068 claims set, the key already loaded, as ``oauth.signing.jws``
    signs (the floor under the JWT scenario)."""
    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    claims = {"iss": "https://t0001.bench.test", "exp": 2_000_000_000, "aud": "https://api",
              "sub": "x" * 22, "client_id": "x" * 22, "iat": 1_700_000_000, "jti": "y" * 32,
              "scope": "api read"}  # fmt: skip
    out = {}
    for alg, key in (("RS256", RSAKey.generate_key(2048)), ("ES256", ECKey.generate_key("P-256"))):
        header = {"alg": alg, "kid": "k", "typ": "at+jwt"}
        jwt.encode(header, dict(claims), key)
        started = time.process_time()
        for _ in range(n):
            jwt.encode(header, dict(claims), key)
        out[alg] = 1000 * (time.process_time() - started) / n
    return out


def rate_limit_floor(results: list[dict], many: str) -> list[str]:
    """What the rate limits cost, measured in the same run: the rows of the same server with
    them off (``gatehouse_unlimited``) beside ours and the guide's."""
    parts = []
    for key, name in (("cc", "client_credentials"), ("introspect", "introspection")):
        guide = rps(results, key, "guide")
        for tenancy in ("1 tenant", many):
            on, off = f"gatehouse ({tenancy})", f"gatehouse ({tenancy}, {RATE_LIMITS_OFF})"
            rate_on, rate_off = rps(results, key, on), rps(results, key, off)
            cpu_on, cpu_off = cpu(results, key, on), cpu(results, key, off)
            if not (tenancy and guide and rate_on and rate_off and cpu_on and cpu_off):
                continue
            verdict = "at or above 1.2x" if rate_off / guide >= 1.2 else "still under 1.2x"
            parts.append(
                f"{name}, {tenancy}: {rate_on:.0f} req/s with them ({rate_on / guide:.2f}x the "
                f"guide), {rate_off:.0f} without ({rate_off / guide:.2f}x, {verdict}); "
                f"{cpu_on:.2f} against {cpu_off:.2f} ms of CPU per request, Redis's included"
            )
    if not parts:
        return []
    return [
        "**What the rate limits cost.** The same Gatehouse with "
        "`GATEHOUSE_RATE_LIMITS_ENABLED=false` (the rows marked rate limits off: same "
        "database, seed, code and settings otherwise; in no target) measures the floor the "
        "limits set: " + "; ".join(parts) + ". The guide server and django-oauth-toolkit have "
        "no limits at all. Ours (per client, per tenant, per IP, and the auth-failure "
        "counters; one atomic Redis script per request, so they cannot be raced: "
        "`oauth.ratelimits`, `kernel.ratelimit`) stay on in production and in every other "
        "row: where a target is met without them and missed with them, the gap is what the "
        "product owes its users (a client or tenant that cannot flood its neighbours), not "
        "work left to cut.",
        "",
    ]


def floors(results: list[dict], context: dict) -> list[str]:
    """Where the CPU of a request goes, ours beside the guide server's, and the bound each
    missed target meets: the figures a floor is argued from (issue 14: "where a floor is
    real, show it with numbers")."""

    def part(key: str, peer: str, name: str) -> float | None:
        values = [r[name] for r in results if r["key"] == key and r["peer"] == peer]
        return statistics.median(values) if values else None

    lines = ["### Floors: where the CPU of a request goes", ""]
    lines += [
        "Median CPU ms per request of this run, split into the server's no-op (gunicorn, "
        "Django's handler and the project's middleware: the same for every request of that "
        "server), the server's work above it, PostgreSQL's backends and Redis (`INFO cpu` "
        "over the run: our rate limits, one script per request; the peers use no Redis).",
        "",
        "| scenario | server | no-op | above no-op | PostgreSQL | Redis | total | req/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    variant = many_variant(results, "cc")
    many = f"gatehouse ({variant})" if variant else ""
    one = "gatehouse (1 tenant)"
    tenancies = [("1 tenant", one)] + ([(variant, many)] if many else [])
    rows = []
    for key in ("cc", "introspect"):
        # Ours, then the same server with its rate limits off (the floor they set; its no-op
        # is the same view), then the peers.
        rows += [(key, f"gatehouse ({t})", noop) for t, noop in tenancies]
        rows += [(key, f"gatehouse ({t}, {RATE_LIMITS_OFF})", noop) for t, noop in tenancies]
        rows += [(key, "guide", "guide")] + ([(key, "dot-fast", "dot")] if key == "cc" else [])
    rows += [
        ("jwt", "gatehouse (RS256, 1 tenant)", one),
        ("refresh", one, one),
        ("refresh", "guide", "guide"),
        ("pkce", one, one),
        ("pkce", "guide", "guide"),
    ]
    totals: dict[tuple[str, str], float] = {}
    for key, peer, noop_peer in rows:
        server, db = part(key, peer, "cpu_ms"), part(key, peer, "db_cpu_ms")
        kv, noop = part(key, peer, "redis_cpu_ms"), part("noop", noop_peer, "cpu_ms")
        if server is None or db is None or noop is None:
            continue
        totals[(key, peer)] = server + db + kv
        lines.append(
            f"| {key} | {peer} | {noop:.2f} | {server - noop:.2f} | {db:.2f} | {kv:.2f} | "
            f"{server + db + kv:.2f} | {rps(results, key, peer):.0f} |"
        )
    lines.append("")
    lines += rate_limit_floor(results, variant)
    sign = context.get("signing_ms") or {}
    noop_ours = part("noop", "gatehouse (1 tenant)", "cpu_ms")
    cc_ours = totals.get(("cc", "gatehouse (1 tenant)"))
    jwt_ours = totals.get(("jwt", "gatehouse (RS256, 1 tenant)"))
    cc_rps = rps(results, "cc", "gatehouse (1 tenant)")
    noop_rps = rps(results, "noop", "gatehouse (1 tenant)")
    jwt_rps = rps(results, "jwt", "gatehouse (RS256, 1 tenant)")
    if sign and jwt_rps and noop_ours and cc_ours and jwt_ours and cc_rps and noop_rps:
        lines += [
            f"**JWT >= 0.30x the no-op ceiling.** Signing alone (joserfc, key loaded, this "
            f"machine, this run): RS256 (RSA 2048) **{sign['RS256']:.2f} ms** CPU per token, "
            f"ES256 {sign['ES256']:.2f} ms. A JWT token request is an opaque one plus the "
            f"signing and one statement (the key and the lifetimes, `oauth/signing/context.py`)"
            f": here {jwt_ours:.2f} ms against {cc_ours:.2f} ms (server, PostgreSQL, Redis). The "
            f"opaque request alone already answers at {cc_rps / noop_rps:.2f}x the no-op "
            f"({cc_rps:.0f} / {noop_rps:.0f} req/s), below 0.30x: the no-op costs "
            f"{noop_ours:.2f} ms, and one token costs a client authentication, a Redis round "
            f"trip and an INSERT on top, so no JWT path (the opaque path plus "
            f"{sign['RS256']:.2f} ms of RSA) can reach 0.30x of it on this stack. At best, "
            f"with nothing but the signing added to the opaque path, the JWT rate would be "
            f"the opaque one times {cc_ours:.2f} / ({cc_ours:.2f} + {sign['RS256']:.2f}) = "
            f"{cc_rps * cc_ours / (cc_ours + sign['RS256']) / noop_rps:.2f}x the no-op: that "
            f"bound, under 0.30x, is the floor that keeps the target out of reach; measured "
            f"{jwt_rps / noop_rps:.2f}x (the rounds are in the JWT table: on a loaded machine "
            "the rate of one round can fall far below the other's).",
            "",
        ]
    guide_cc = totals.get(("cc", "guide"))
    if cc_ours and guide_cc:
        lines += [
            f"**Opaque client_credentials and introspection >= 1.2x the guide server.** Per "
            f"request we spend {cc_ours:.2f} ms (server, PostgreSQL, Redis) on "
            f"client_credentials against the guide's {guide_cc:.2f} ms (CPU ratio "
            f"{guide_cc / cc_ours:.2f}x). Our "
            f"no-op costs {noop_ours:.2f} ms to the guide's "
            f"{part('noop', 'guide', 'cpu_ms'):.2f} (the platform's middleware: probes, "
            "metrics, security headers, static files, tenant routing, which every request "
            "pays). Throughput on two shared cores follows the wall time of each worker's "
            "request, not its CPU alone: ours waits on two round trips (the rate limits' "
            "Redis script, now overlapped with the request's own work, and the INSERT that "
            "confirms the client), the guide's on two (its client SELECT and its INSERT), "
            "and both wait for the PostgreSQL backend to be scheduled on cores shared with "
            "wrk and the other servers. Where the req/s ratio is under 1.2x while the CPU "
            "ratio is at or above it, the floor is that scheduling, not work left to cut. "
            "A request for another tenant than the connection's last sends no `SET "
            "search_path`: the hot path's statements name the tenant's schema "
            "(`oauth.rowsql.in_schema`, run on the backend's `schema_qualified_cursor`).",
            "",
        ]
    cc_many = totals.get(("cc", many)) if many else None
    if cc_ours and cc_many:
        lines += [
            f"**Many tenants.** client_credentials over {many.split('(')[1].rstrip(')')} at "
            f"random costs {cc_many:.2f} ms per request against {cc_ours:.2f} ms for one "
            "tenant. What is per tenant on the request path: PostgreSQL working on that "
            "tenant's own relations, whose files, catalog entries and hot pages one backend "
            "keeps for every tenant it serves (persistent connections: each backend serves "
            "them all; at PostgreSQL's defaults a backend serving 1,000 tenants closed and "
            "reopened about thirty files per request, hence the bench's own cluster with "
            "`max_files_per_process` and `shared_buffers` raised, `bench/pgcluster.py`); the "
            "first statement on each tenant's tables in each backend (relation and catalog "
            "cache entries, the foreign-key check's plan), which the warm-up pays; and the "
            "per-tenant caches of each process (the issuer policy and the clients, kept "
            "600 s and confirmed unchanged by the statement that uses them, so a change "
            "anywhere applies to the next answer: `selectors.confirmed_issuer_policy`, "
            "`tests/oauth/test_policy_cache.py`). And the statements' text is per tenant "
            "(they name the tenant's schema), so PostgreSQL's prepared statements, which "
            "skip parsing and planning on one tenant's hot path (prepared after 2 runs on a "
            "connection, 200 kept per connection: `DATABASE_PREPARE_THRESHOLD`, "
            "`DATABASE_PREPARED_MAX`), are mostly not yet or no longer prepared when 1,000 "
            "tenants come at random: keeping every tenant's would cost each backend ~80 KiB "
            "of plan memory per statement, ~240 MB for 1,000 tenants' three hot statements. "
            "Nor does psycopg convert their `%s` placeholders per tenant (its conversion "
            "cache keeps 128 texts: 70 us for the token INSERT on each miss): they go out "
            "with PostgreSQL's `$n`, numbered once per statement (`oauth.rowsql.numbered`, "
            "psycopg's `RawCursor`). "
            "No `SET search_path` is sent (the statements name their schema). Measured alone "
            "(`bench/schema_switch.py 600`, one backend, the token INSERT, 600 per mode over "
            "100 schemas, after the 2026-12-02 run): 0.18 ms PostgreSQL CPU per INSERT in one "
            "schema, 0.33 ms with a `SET search_path` before each in a random schema, 0.22 ms "
            "schema-qualified without one, and 0.63 ms for the first 600 (each schema's first "
            "touches by that backend). The "
            "Host -> tenant lookup, which missed on most requests at 1,000 tenants (one query "
            "per host and 5 s per process), is now one query for the whole registry per 5 s.",
            "",
        ]
    return lines


def to_ms(value: str) -> float:
    number = float(value.rstrip("usm"))
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    if value.endswith("s"):
        return number * 1000
    return number


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per run: to try it")
    parser.add_argument("--seconds", type=int, help="per run (default 10, --quick 3)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tenants", type=int, help="default 1000, --quick 100")
    parser.add_argument("--only", help="comma-separated scenario keys (noop,cc,jwt,...)")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument("--work", help="working folder (pools, logs); reused if seeded")
    parser.add_argument("--seed-only", action="store_true", help="seed into --work and stop")
    parser.add_argument(
        "--report-only",
        nargs="+",
        metavar="RESULTS_JSON",
        help="no run: the report and charts of earlier runs' results.json, their rounds "
        "pooled (e.g. two runs on one seed)",
    )
    parser.add_argument(
        "--reseed-peers", action="store_true", help="with --work: new pools for the peers"
    )
    parser.add_argument(
        "--system-postgres",
        action="store_true",
        help="run on the machine's PostgreSQL (127.0.0.1:5432) instead of the bench's own "
        "cluster (bench/pgcluster.py: its data in the working folder)",
    )
    parser.add_argument(
        "--profile",
        help="comma-separated scenario keys: py-spy one Gatehouse worker under load instead "
        "of the rounds (prints the hottest frames; writes nothing to docs)",
    )
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = max(2, args.rounds)
    args.tenants = args.tenants or (100 if args.quick else 1000)
    if args.report_only:
        write_report(args, *pooled(args.report_only))
        return
    begun = time.monotonic()
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does)")
    work = (
        Path(args.work).resolve()
        if args.work
        else Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    )
    work.mkdir(parents=True, exist_ok=True)
    print(f"working folder {work}", flush=True)
    global PG
    outer = ExitStack()
    if not args.system_postgres:
        PG = outer.enter_context(pgcluster.cluster(work / "postgres"))
        print(f"the bench's own PostgreSQL: {PG} ({work / 'postgres'})", flush=True)
    with outer:
        run_all(args, work, seconds, rounds, begun, load_start)


def run_all(args, work: Path, seconds: int, rounds: int, begun: float, load_start: str) -> None:
    pools = Pools(seconds, rounds, work)
    single_use = pools.sizes()
    redis_url = os.environ.get(
        "BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '8')}"
    )

    servers = {
        "gatehouse": gatehouse_server(redis_url),
        "guide": peer_server("guide", "Authlib guide", "guide", "guide.wsgi", "guide.settings"),
        "dot": peer_server(
            "dot", "DOT", "dot", "dotpeer.wsgi", "dotpeer.settings", BENCH_DOT_HASHER="pbkdf2"
        ),  # fmt: skip
        "dot-fast": peer_server(
            "dot-fast",
            "DOT fast",
            "dot",
            "dotpeer.wsgi",
            "dotpeer.settings",
            BENCH_DOT_HASHER="sha256",
        ),  # fmt: skip
    }
    ensure_venv("charts", BENCH / "charts-requirements.txt")  # before the run, not after
    seeded = work / "seeded.json"
    if seeded.exists() and not args.seed_only:
        # Seeded earlier by --seed-only with the same --seconds/--rounds/--tenants; no pool
        # line has been used since (the probes use the last line, the runs the others).
        saved = json.loads(seeded.read_text())
        if saved.get("postgres", "system") != ("system" if args.system_postgres else "own"):
            raise SystemExit(
                f"{work} was seeded on the other PostgreSQL (--system-postgres or not): "
                "use another --work folder"
            )
        timings = saved["timings"]
        for name, server in servers.items():
            server.seed, server.pools = saved["seeds"][name], Path(saved["pools"][name])
        common.setup_django(servers["gatehouse"].env)
        print(f"reusing the seed of {seeded}", flush=True)
        seeded_ahead = True
        if args.reseed_peers:
            for name in ("guide", "dot", "dot-fast"):
                seed_peer(servers[name], work / name, tokens=10000, single_use=single_use)
                for key in [k for k in pools.used if k.startswith(f"{name}/")]:
                    del pools.used[key]
            pools.ledger.write_text(json.dumps(pools.used))
    else:
        print(f"seeding (single-use pools of {single_use:,}) ...", flush=True)
        seeded_ahead = False
        timings = seed_gatehouse(
            servers["gatehouse"], work / "gatehouse", tenants=args.tenants, tokens=10000,
            single_use=single_use,
        )  # fmt: skip
        for name in ("guide", "dot", "dot-fast"):
            started = time.monotonic()
            seed_peer(servers[name], work / name, tokens=10000, single_use=single_use)
            timings[f"{name}: migrate + seed"] = time.monotonic() - started
        for step, took in timings.items():
            print(f"  {step}: {took:.1f} s", flush=True)
        seeded.write_text(json.dumps({
            "timings": timings,
            "seeds": {name: server.seed for name, server in servers.items()},
            "pools": {name: str(server.pools) for name, server in servers.items()},
            "postgres": "system" if args.system_postgres else "own",
        }))  # fmt: skip
        if args.seed_only:
            print(f"seeded: run again with --work {work} (same --seconds, --rounds, --tenants)")
            return

    servers[UNLIMITED] = gatehouse_unlimited(servers["gatehouse"])
    plan = scenarios(servers, args.tenants)
    if args.only:
        keys = set(args.only.split(","))
        plan = [s for s in plan if s.key in keys]
    if args.profile:
        # Not the single-use pools: a later run with --work starts them from the top.
        keys = set(args.profile.split(","))
        plan = [s for s in plan if s.key in keys and s.server == "gatehouse" and not s.sequential]
    results: list[dict] = []
    probes: dict[int, str] = {}
    warmups: list[dict] = []
    with ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(serve(server, work / f"{server.name}.log"))
        for i, s in enumerate(plan):
            server = servers[s.server]
            line = pools.probe_line(s, server) if s.pool else ""
            status, body = probe(s, server, line)
            ok = status == s.expect or (s.expect == 0 and status >= 400)
            probes[i] = f"{status}" + ("" if ok else " (unexpected)")
            print(f"probe {s.peer} {s.key}: {status} {body[:120]!r}", flush=True)
        if args.profile:
            for s in plan:
                profile(s, servers["gatehouse"], pools, seconds, work)
            return
        for s in plan:  # warm-up
            if s.host_from_pool and not s.sequential:
                r = measure(replace(s, cycle=True), servers[s.server], pools, TENANT_WARMUP, work)
                warmups.append({"key": s.key, "peer": s.peer, "rps": r["rps"]})
                print(f"tenant warm-up {s.key:10} {s.peer:32} {r['rps']:8.0f} req/s", flush=True)
            measure(s, servers[s.server], pools, WARMUP, work)
        for round_ in range(1, rounds + 1):
            for i, s in enumerate(plan):
                settled = settle(servers.values())
                r = measure(s, servers[s.server], pools, seconds, work)
                r.update(
                    settled_s=settled,
                    round=round_, key=s.key, title=s.title, peer=s.peer, variant=s.variant,
                    note=s.note, probe=probes[i], p50_ms=to_ms(r["p50"]), p99_ms=to_ms(r["p99"]),
                )  # fmt: skip
                results.append(r)
                print(
                    f"round {round_} {s.key:10} {s.peer:32} {r['rps']:8.0f} req/s "
                    f"p50 {r['p50']:>8} p99 {r['p99']:>8} cpu {r['cpu_ms']:.2f} ms "
                    f"db {r['db_cpu_ms']:.2f} ms non2xx {r['non_2xx']} load {r['load']:.1f} "
                    f"settled {settled:.1f} s",
                    flush=True,
                )
    with psycopg.connect(PG + "postgres") as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        pg_settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("shared_buffers", "max_files_per_process")
        }
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), host_platform.machine(),
    )  # fmt: skip
    context = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "seconds": seconds,
        "rounds": rounds,
        "duration": time.monotonic() - begun,
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": host_platform.python_version(),
        "pg": f"PostgreSQL {pg_version}",
        "pg_own": not args.system_postgres,
        "pg_settings": pg_settings,
        "load_start": load_start,
        "load_end": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        "seeding": {k: round(v, 1) for k, v in timings.items()},
        "tenants": args.tenants,
        "seeded_ahead": seeded_ahead,
        "tenant_warmups": warmups,
    }
    context["signing_ms"] = signing_cost()
    data = work / "results.json"
    data.write_text(json.dumps({"context": context, "results": results}, indent=1))
    print(f"raw results: {data}")
    write_report(args, context, results, data)


def pooled(paths: list[str]) -> tuple[dict, list[dict], Path]:
    """The results of several runs as one: rounds renumbered, the context of the last with
    the load averages and durations of all."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    results, offset = [], 0
    for run in runs:
        rounds = max(r["round"] for r in run["results"])
        # (An earlier version could count a backend that closed mid-run negative.)
        results += [
            {
                **r,
                "round": r["round"] + offset,
                "db_cpu_ms": max(0.0, r["db_cpu_ms"]),
                "redis_cpu_ms": r.get("redis_cpu_ms", 0.0),
            }  # (not measured before 2026-12-04)
            for r in run["results"]
        ]
        offset += rounds
    context = dict(runs[-1]["context"])
    context["rounds"] = offset
    context["runs"] = [
        {k: run["context"][k] for k in ("when", "command", "duration", "load_start", "load_end")}
        for run in runs
    ]
    merged = Path(paths[-1]).with_name("results-pooled.json")
    merged.write_text(json.dumps({"context": context, "results": results}, indent=1))
    return context, results, merged


def write_report(args, context: dict, results: list[dict], data: Path) -> None:
    section = report(results, context) + seeding_note(context)
    print(section)
    if not args.no_doc:
        charts_python = ensure_venv("charts", BENCH / "charts-requirements.txt")
        subprocess.run([charts_python, BENCH / "charts.py", data, common.REPO / "docs"], check=True)
        common.write_section(DOC, START, END, section, heading="# Benchmarks\n")
        print(f"written to {DOC.relative_to(common.REPO)} and docs/bench-*.png")


def profile(s: Scenario, server: Server, pools: Pools, seconds: int, work: Path) -> None:
    """py-spy on one worker of ``server`` while wrk runs ``s``; the hottest frames."""
    spy = ensure_venv("profile", BENCH / "profile-requirements.txt").parent / "py-spy"
    workers = [int(e) for e in os.listdir("/proc") if e.isdigit()
               and (_stat(int(e)) or (0, 0))[0] == server.pid]  # fmt: skip
    out = work / f"profile-{s.key}-{s.variant}.txt".replace(" ", "_").replace(",", "")
    recorder = subprocess.Popen(
        [spy, "record", "-p", str(workers[0]), "-d", str(seconds), "-r", "200", "-f", "raw",
         "-o", out, "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    r = measure(s, server, pools, seconds, work)
    recorder.wait(seconds + 60)
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
    print(f"\n== {s.peer} {s.key}: {r['rps']:.0f} req/s, {total} samples, {out}")
    print("-- inclusive (ours and Django/Authlib/psycopg frames):")
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:45]:
        print(f"{100 * count / total:5.1f}%  {frame}")
    print("-- self:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:20]:
        print(f"{100 * count / total:5.1f}%  {frame}")


def seeding_note(context: dict) -> str:
    steps = "; ".join(f"{k}: {v} s" for k, v in context["seeding"].items())
    return f"""
Seeding ({steps}). Gatehouse: `t0001` provisioned and its clients registered through the
CLI (`provision_tenant`, `register_client`); the other {context["tenants"] - 1:,} tenants
(and `suspended`) are SQL clones of `t0001`'s schema with their tenant and domain rows
(`bench/seed_gatehouse.py`): provisioning them one by one would take longer than the whole
run. The "1 tenant" rows hit `t0001` of the same {context["tenants"]:,}-tenant database; the
"{context["tenants"]:,} tenants" rows pick a random tenant host per request (introspection:
a random one of 10 tokens in each tenant). Pools of single-use tokens (refresh, codes) are
cut into one chunk per run, so no token is presented twice; codes are created with
`authorization_code_create` after raising the tenant's code lifetime to an hour (peers:
their code expiry pushed past the run the same way). The peers' pools are bulk-inserted
rows of their own models.
"""


if __name__ == "__main__":
    main()
