"""Redis down slows and breaks nothing that does not need it; PostgreSQL down is a 503."""

import socket

import pytest
import requests

from tests.support.live import LiveServer, free_port


def _dead_port() -> int:
    port = free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.mark.django_db
def test_redis_down_readyz_names_it_and_pages_still_work(tenant_a, settings):
    from gatehouse import cache as cache_module

    dead = f"redis://127.0.0.1:{_dead_port()}/0"
    settings.REDIS_URL = dead
    # Django's setting_changed handler rebuilds the cache connections from this.
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    cache_module.FailOpenRedisCache._down_until = 0.0
    try:
        client = tenant_a.client()
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["down"] == ["redis"]
        assert ready["Retry-After"]

        from django.core.cache import cache

        assert cache.get("anything", "fallback") == "fallback"
        assert cache.set("k", "v") is None
        page = client.get("/")
        assert page.status_code == 200
    finally:
        cache_module.FailOpenRedisCache._down_until = 0.0


@pytest.mark.slow
def test_database_unreachable_is_503_with_retry_after(tmp_path, two_tenants):
    from django.conf import settings

    from tests.support import live

    live.map_test_hosts(settings.GATEHOUSE_BASE_DOMAIN)
    original = live.service_env

    def env_with_dead_db(db_name, **extra):
        env = original(db_name, **extra)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{_dead_port()}/nothing"
        env["DATABASE_CONNECT_TIMEOUT"] = "1"
        return env

    live.service_env = env_with_dead_db
    try:
        server = LiveServer("unused", tmp_path, workers=1)
    finally:
        live.service_env = original
    try:
        # Connect to loopback; only the Host header claims to be a pod IP.
        pod_ip = {"Host": "10.0.0.1:8000"}
        healthz = requests.get(server.url("127.0.0.1", "/healthz"), headers=pod_ip, timeout=10)
        assert healthz.status_code == 200
        ready = requests.get(server.url("127.0.0.1", "/readyz"), headers=pod_ip, timeout=10)
        assert ready.status_code == 503 and "postgresql" in ready.json()["down"]
        page = requests.get(server.url("alpha.gatehouse.test", "/"), timeout=10)
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "5"
        assert "Traceback" not in page.text and "try again" in page.text
        api = requests.post(server.url("alpha.gatehouse.test", "/oauth/token"), timeout=10)
        assert api.status_code == 503
        assert api.json()["error"] == "temporarily_unavailable"
    finally:
        server.stop()
