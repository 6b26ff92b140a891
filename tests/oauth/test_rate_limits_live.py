"""Noisy neighbours on a live server: a flood on tenant A, with wrong and valid credentials,
leaves tenant B's p50 token latency within 2x of its idle p50 (a ratio, not a speed)."""

import json
import statistics
import subprocess
import sys
import time

import pytest
import requests

from oauth.models import IssuerSettings
from tests.support.factories import basic_auth, make_client
from tests.support.live import REPO, LiveServer
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

FLOOD_SECONDS = 4
FLOOD_MAX_PER_THREAD = 1500
#: Per flooding thread: 4 threads make 100 requests/s, twice or more the tokens per second
#: this server issues on a shared 2-core machine (without limits the flood is all real work).
FLOOD_RATE = 25
SAMPLES = 30
SERVER_ENV = {}


def _latencies(session, url: str, headers: dict, n: int) -> list[float]:
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        response = session.post(url, data="grant_type=client_credentials", headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        remember_secret(response.json()["access_token"])
    return timings


@pytest.fixture
def limited_tenant_a(tenant_a, commit):
    """Tenant A with a small per-client quota, set before its server starts (so no process
    holds A's old policy); put back afterwards."""
    with commit(tenant_a):
        row = IssuerSettings.load()
        row.rate_limit_client_requests = 25
        row.save()
    yield tenant_a
    with commit(tenant_a):
        row = IssuerSettings.load()
        row.rate_limit_client_requests = None
        row.save()


#: Trials before the ratio counts as failed: other processes on a shared 2-core machine
#: only ever slow the flooded measurement down, so one quiet trial within 2x is the answer.
TRIALS = 2


def _start_of_a_window(seconds_needed: float, window: int = 60) -> None:
    """Wait for a new rate-limit window when fewer than ``seconds_needed`` seconds are left of
    this one: a fixed window lets a client spend up to twice its quota across a boundary
    (``kernel.ratelimit``), so a flood that straddled one could get 2x its 25 tokens."""
    left = window - time.time() % window
    if left < seconds_needed:
        time.sleep(left + 0.05)


def _trial(server, tenant_a, tenant_b, commit, session, url_b, headers_b):
    """One idle measurement of B, then one under a flood on A with fresh clients (fresh
    per-client counters): B's idle and flooded p50 and what the flood got."""
    _start_of_a_window(FLOOD_SECONDS + 12)
    with commit(tenant_a):
        victim = make_client(tenant_a, name="Flooded")
        greedy = make_client(tenant_a, name="Greedy but valid")
    _latencies(session, url_b, headers_b, 5)  # warm-up: connections, caches
    idle = statistics.median(_latencies(session, url_b, headers_b, SAMPLES))

    wrong = basic_auth(victim.client_id, "wrong-secret")["HTTP_AUTHORIZATION"]
    made_up = basic_auth("no-such-client", "guess")["HTTP_AUTHORIZATION"]
    valid = basic_auth(greedy.client_id, greedy.secret)["HTTP_AUTHORIZATION"]
    # Attackers from 127.0.0.2; the greedy valid client from 127.0.0.3.
    jobs = [f"127.0.0.2,{wrong}"] * 2 + [f"127.0.0.2,{made_up}", f"127.0.0.3,{valid}"]
    flood = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "support" / "flood.py"),
            str(server.port),
            tenant_a.host,
            str(FLOOD_SECONDS),
            str(FLOOD_MAX_PER_THREAD),
            str(FLOOD_RATE),
            *jobs,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)  # the flood is under way
        loaded = statistics.median(_latencies(session, url_b, headers_b, SAMPLES))
        assert flood.poll() is None, "the flood ended before B was measured under it"
        out, _ = flood.communicate(timeout=FLOOD_SECONDS + 15)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    return idle, loaded, json.loads(out)


def test_flood_on_one_tenant_leaves_another_tenants_p50_within_2x(
    limited_tenant_a, tenant_b, commit, live_server_db_name, tmp_path
):
    tenant_a = limited_tenant_a
    with commit(tenant_b):
        neighbour = make_client(tenant_b, name="Neighbour")
    server = LiveServer(live_server_db_name, tmp_path, name="noisy", env=SERVER_ENV)
    trials = []
    try:
        url_b = server.url(tenant_b.host, "/oauth/token")
        headers_b = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic_auth(neighbour.client_id, neighbour.secret)[
                "HTTP_AUTHORIZATION"
            ],
        }
        session = requests.Session()
        for _ in range(TRIALS):
            idle, loaded, counts = _trial(
                server, tenant_a, tenant_b, commit, session, url_b, headers_b
            )
            ratio = loaded / idle
            trials.append((round(ratio, 2), counts))
            print(f"B p50 idle {idle * 1e3:.1f} ms, flooded {loaded * 1e3:.1f} ms, {ratio:.2f}x")
            print(f"flood on A: {counts}")
            # The limits engaged: most of the flood was refused, and the valid client got
            # at most its quota of tokens.
            assert counts.get("429", 0) > counts.get("401", 0) > 0, counts
            assert 0 < counts.get("200", 0) <= 25, counts
            assert "500" not in counts and "error" not in counts, counts
            if ratio <= 2.0:
                break
    finally:
        server.stop()
    assert min(ratio for ratio, _ in trials) <= 2.0, trials
