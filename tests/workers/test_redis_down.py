"""Redis stopped: the web keeps answering (pages, token issuance and introspection),
/readyz names Redis, /metrics fails open.

The shared Redis is never touched: this test starts a private ``redis-server`` on a free
port, points its own gunicorn at it (two workers, prometheus multiprocess mode) and kills
that Redis.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.celery import wait_until
from tests.support.live import REPO, free_port, service_env
from tests.support.secrets import remember_secret, watch_log_file

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def private_redis(tmp_path):
    port = free_port()
    log_path = tmp_path / "redis.log"
    process = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--logfile", str(log_path)),
        ],
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    wait_until(lambda: _pings(client), timeout=10, message="private redis did not start")
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()
        process.wait(5)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture
def web_on_private_redis(private_redis, two_tenants, live_server_db_name, tmp_path):
    """gunicorn (2 workers) on the test database, this Redis and a multiprocess metrics dir."""
    _, redis_url = private_redis
    port = free_port()
    metrics_dir = tmp_path / "prometheus"  # gatehouse.metrics creates it
    log_path = tmp_path / "gunicorn.log"
    env = service_env(
        live_server_db_name,
        REDIS_URL=redis_url,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        DJANGO_SETTINGS_MODULE="tests.workers.live_settings",
        AUTHLIB_INSECURE_TRANSPORT="1",
        GATEHOUSE_PUBLIC_SCHEME="http",
        GATEHOUSE_PUBLIC_PORT=str(port),
    )
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "gatehouse.wsgi"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "2"),
                *("--worker-tmp-dir", "/dev/shm", "--log-level", "warning"),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    watch_log_file(log_path)
    base = f"http://127.0.0.1:{port}"

    def healthy():
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text()[-2000:])
        try:
            return requests.get(f"{base}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(healthy, timeout=60, message="gunicorn did not start")
    yield port, metrics_dir
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def _scrape(port: int) -> dict[tuple[str, frozenset], float]:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _home_requests(samples) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "gatehouse_http_requests_total" and ("endpoint", "tenant-home") in labels
    )


def _token_client(tenant, commit):
    """A client_credentials client of ``tenant``, committed for the live server."""
    from oauth.client_metadata import ClientMetadata
    from oauth.services.clients import client_create

    with commit(tenant):
        client, secret = client_create(
            metadata=ClientMetadata(name="workers redis-down", grant_types=["client_credentials"])
        )
    remember_secret(secret)
    return client.client_id, secret


def test_web_keeps_serving_with_redis_down(private_redis, web_on_private_redis, tenant_a, commit):
    redis_process, _ = private_redis
    port, metrics_dir = web_on_private_redis
    home = f"http://{tenant_a.host}:{port}/"
    token_url = f"http://{tenant_a.host}:{port}/oauth/token"
    credentials = _token_client(tenant_a, commit)

    def issue_token():
        response = requests.post(
            token_url, data={"grant_type": "client_credentials"}, auth=credentials, timeout=5
        )
        assert response.status_code == 200, response.text
        return remember_secret(response.json()["access_token"])

    def introspect(token: str) -> dict:
        response = requests.post(
            f"http://{tenant_a.host}:{port}/oauth/introspect",
            data={"token": token},
            auth=credentials,
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()

    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    for _ in range(6):
        assert requests.get(home, timeout=5).status_code == 200
    assert introspect(issue_token())["active"] is True
    # Two gunicorn processes answered; every scrape, whichever process takes it, sums both.
    assert any(metrics_dir.glob("counter_*.db"))
    for _ in range(4):
        samples = _scrape(port)
        assert _home_requests(samples) == 6
        assert samples[("gatehouse_metrics_store_up", frozenset())] == 1
    labels = {("grant_type", "client_credentials"), ("tenant", "other")}
    assert samples[("gatehouse_tokens_issued_total", frozenset(labels))] == 1
    assert requests.get(f"http://{tenant_a.host}:{port}/metrics", timeout=5).status_code == 404

    redis_process.kill()
    redis_process.wait(5)

    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["down"] == ["redis"] and ready.json()["checks"]["postgresql"] == "ok"
    started = time.monotonic()
    for _ in range(4):
        page = requests.get(home, timeout=5)
        assert page.status_code == 200 and b"Alpha Corp" in page.content
    # Workers are not in the request path: issuance and introspection go on without Redis.
    assert introspect(issue_token())["active"] is True
    assert time.monotonic() - started < 4
    samples = _scrape(port)
    assert samples[("gatehouse_metrics_store_up", frozenset())] == 0
    assert _home_requests(samples) == 10
