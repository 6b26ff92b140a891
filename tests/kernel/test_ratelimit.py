"""The one rate limiter: atomic under concurrency, per tenant, failing open."""

import threading

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from gatehouse import cache as cache_module
from kernel.ratelimit import FixedWindow
from tests.support.live import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit():
    window = FixedWindow("test:limit", limit=5, window=60)
    yield window
    for schema in ("public", "alpha", "bravo"):
        with schema_context(schema):
            window.reset("k")


def test_concurrent_hits_never_slip_past_the_limit(limit, two_tenants):
    """Twenty requests at once: exactly five are allowed (one atomic INCR each)."""
    allowed = []
    barrier = threading.Barrier(20)

    def attempt():
        barrier.wait()
        allowed.append(limit.allow("k"))
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(allowed) == [False] * 15 + [True] * 5
    assert limit.exceeded("k") and 1 <= limit.retry_after() <= 60


def test_counters_are_per_tenant(limit, two_tenants):
    alpha, bravo = two_tenants
    with schema_context(alpha.schema):
        for _ in range(5):
            assert limit.allow("k")
        assert not limit.allow("k")
    with schema_context(bravo.schema):
        assert not limit.exceeded("k")
        assert limit.allow("k")


def test_reset_clears_one_key_only(limit):
    for _ in range(5):
        limit.hit("k")
        limit.hit("other")
    limit.reset("k")
    assert not limit.exceeded("k")
    assert limit.exceeded("other")
    limit.reset("other")


def test_fails_open_when_redis_is_down(limit, settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    cache_module.FailOpenRedisCache._down_until = 0.0
    try:
        assert all(limit.allow("k") for _ in range(10))
        assert not limit.exceeded("k")
    finally:
        cache_module.FailOpenRedisCache._down_until = 0.0
