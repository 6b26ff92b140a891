"""bench/run.py's own mechanics: wrk output parsing, single-use pools never handing a token
out twice (across runs on one folder too), and its Lua script driving a real wrk."""

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/ is a folder of scripts, not a package)

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:1/oauth/token
  2 threads and 8 connections
  Latency Distribution
     50%   20.51ms
     75%   25.00ms
     90%   30.00ms
     99%    1.20s
  4321 requests in 10.01s, 1.2MB read
  Non-2xx or 3xx responses: 12
Requests/sec:    431.66
"""


def test_parse_wrk_and_units():
    r = run.common.parse_wrk(WRK_OUTPUT)
    assert (r["rps"], r["requests"], r["non_2xx"]) == (431.66, 4321, 12)
    assert run.to_ms(r["p50"]) == pytest.approx(20.51)
    assert run.to_ms(r["p99"]) == pytest.approx(1200)
    assert run.to_ms("850.00us") == pytest.approx(0.85)


def _scenario(**extra):
    return run.Scenario(
        "refresh", "t", "gatehouse", "1 tenant", "POST", "/oauth/token", {"Host": "h"},
        "grant_type=refresh_token&refresh_token={token}", pool="p", sequential=True, **extra,
    )  # fmt: skip


def _server(tmp_path, lines):
    (tmp_path / "p.txt").write_text("".join(f"h\ttok{i}\n" for i in range(lines)))
    server = run.gatehouse_server("redis://127.0.0.1:6379/8")
    server.pools = tmp_path
    return server


def _chunk(path: str) -> list[str]:
    return Path(path).read_text().split()


def test_single_use_pool_chunks_never_overlap_across_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MAX_RATE", 100)
    server, s = _server(tmp_path, 1000), _scenario()
    pools = run.Pools(1, 2, tmp_path)
    first = _chunk(pools.file_for(s, server, 2))
    pools.consumed(s, server, requests=30)  # 2 x 30 + 4 x 8 lines may have been taken
    second = _chunk(pools.file_for(s, server, 2))
    probe_1 = pools.probe_line(s, server)
    # A later run on the same folder continues where the first stopped.
    again = run.Pools(1, 2, tmp_path)
    third = _chunk(again.file_for(s, server, 2))
    probe_2 = again.probe_line(s, server)
    assert len(first) == len(second) == 200 * 2
    assert second[1] == "tok92" and third[1] == "tok292"
    used = set(first[1::2][:92]) | set(second[1::2]) | set(third[1::2])
    assert len(used) == 92 + 200 + 200
    assert {probe_1, probe_2} == {"h\ttok999", "h\ttok998"}
    assert probe_1.split("\t")[1] not in used and probe_2.split("\t")[1] not in used


def test_used_up_pool_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MAX_RATE", 100)
    server, s = _server(tmp_path, 150), _scenario()
    pools = run.Pools(1, 2, tmp_path)
    pools.file_for(s, server, 1)
    with pytest.raises(SystemExit, match="used up"):
        pools.file_for(s, server, 1)


def test_lua_script_sends_each_single_use_token_once(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MAX_RATE", 5000)
    bodies: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server, s = _server(tmp_path, 20000), _scenario()
    script = run.lua_script(s, run.Pools(1, 2, tmp_path).file_for(s, server, 1), tmp_path)
    try:
        subprocess.run(
            ["wrk", "-t2", "-c2", "-d1s", "-s", script,
             f"http://127.0.0.1:{httpd.server_address[1]}/oauth/token"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    finally:
        httpd.shutdown()
    sent = [b.removeprefix("grant_type=refresh_token&refresh_token=") for b in bodies]
    tokens = [t for t in sent if t != "pool-used-up"]
    assert len(tokens) > 10
    assert len(set(tokens)) == len(tokens)  # none twice
    assert set(tokens) <= {f"tok{i}" for i in range(20000)}
    # Past the end of its chunk (5,000 lines here) the script sends a token nobody has.
    assert len(tokens) <= 5000 and (len(sent) == len(tokens) or len(tokens) > 4990)


def _row(key, peer, rps, cpu_ms, db_cpu_ms=0.2, redis_cpu_ms=0.0):
    variant = peer.partition(" (")[2].rstrip(")")
    return {"key": key, "peer": peer, "variant": variant, "rps": rps, "cpu_ms": cpu_ms,
            "db_cpu_ms": db_cpu_ms, "redis_cpu_ms": redis_cpu_ms}  # fmt: skip


def test_the_rate_limits_floor_is_the_same_server_with_them_off():
    """The floor rows run the same code, database and seed, the limits switched off by the
    setting production reads; the report compares them with ours and the guide's, and they
    never stand in for ours in a target."""
    gatehouse = run.gatehouse_server("redis://127.0.0.1:6379/8")
    gatehouse.seed = {
        **{k: f"Basic {k}" for k in ("cc", "introspect", "jwt_rs256", "jwt_es256", "web")},
        "pkce": "Basic p", "refresh": "Basic r", "redirect_uri": "https://a/cb", "verifier": "v",
    }  # fmt: skip
    unlimited = run.gatehouse_unlimited(gatehouse)
    assert unlimited.name == run.UNLIMITED != gatehouse.name
    assert unlimited.env["GATEHOUSE_RATE_LIMITS_ENABLED"] == "false"
    assert "GATEHOUSE_RATE_LIMITS_ENABLED" not in gatehouse.env
    assert unlimited.database == gatehouse.database and unlimited.seed == gatehouse.seed
    plan = run.scenarios(
        {"gatehouse": gatehouse, run.UNLIMITED: unlimited, "guide": gatehouse,
         "dot": gatehouse, "dot-fast": gatehouse}, 1000,
    )  # fmt: skip
    off = [s for s in plan if s.server == run.UNLIMITED]
    assert {(s.key, s.peer) for s in off} == {
        (key, f"gatehouse ({tenancy}, rate limits off)")
        for key in ("cc", "introspect")
        for tenancy in ("1 tenant", "1,000 tenants")
    }

    one, many = "gatehouse (1 tenant)", "gatehouse (1,000 tenants)"
    results = [
        _row("cc", one, 500, 1.6, redis_cpu_ms=0.05),
        _row("cc", many, 440, 1.7, redis_cpu_ms=0.05),
        _row("cc", "gatehouse (1 tenant, rate limits off)", 650, 1.3),
        _row("cc", "gatehouse (1,000 tenants, rate limits off)", 560, 1.4),
        _row("cc", "guide", 500, 1.8),
    ]
    assert run.many_variant(results, "cc") == "1,000 tenants"
    text = " ".join(run.rate_limit_floor(results, "1,000 tenants"))
    assert "client_credentials, 1 tenant: 500 req/s with them (1.00x the guide), 650 " in text
    assert "without (1.30x, at or above 1.2x)" in text
    assert "560 without (1.12x, still under 1.2x)" in text
    # The targets compare ours, never the floor rows; Redis's CPU counts against us.
    targets = run.ratios(results)
    assert any("1,000 tenants: >= 1.2x guide | 440 / 500 req/s = 0.88x" in line for line in targets)
    assert run.cpu(results, "cc", one) == pytest.approx(1.85)


def test_redis_cpu_reads_the_servers_own_time():
    before = run.redis_cpu("redis://127.0.0.1:6379/8")
    assert before > 0
    assert run.redis_cpu("redis://127.0.0.1:6379/8") >= before
    assert run.redis_cpu(None) == 0.0
