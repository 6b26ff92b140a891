"""The one rate limiter: atomic under concurrency, per tenant, failing open."""

import threading
import time

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from gatehouse import cache as cache_module
from kernel.ratelimit import FixedWindow, reset_availability, tally
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


def test_tally_counts_several_windows_in_one_round_trip(limit):
    other = FixedWindow("test:other", limit=3, window=300)
    try:
        assert tally([(limit, "k", 1), (other, "k", 1), (other, "k", 0)]) == [1, 1, 1]
        assert tally([(limit, "k", 1), (other, "k", -1)]) == [2, 0]
        # The same keys the single-window API reads.
        assert limit.count("k") == 2 and other.count("k") == 0
    finally:
        other.reset("k")


def test_tally_is_atomic_under_concurrency(limit, two_tenants):
    """Twenty concurrent tallies of one counter see twenty distinct counts."""
    seen = []
    barrier = threading.Barrier(20)

    def attempt():
        barrier.wait()
        seen.extend(tally([(limit, "k", 1)]))
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(seen) == list(range(1, 21))


def test_tally_takes_back_in_the_window_it_counted_in(limit):
    at = time.time() - 120  # two windows ago
    assert tally([(limit, "k", 1)], at=at) == [1]
    assert limit.count("k") == 0  # not this window's
    assert tally([(limit, "k", -1)], at=at) == [0]


def test_tally_is_per_tenant(limit, two_tenants):
    alpha, bravo = two_tenants
    with schema_context(alpha.schema):
        assert tally([(limit, "k", 1), (limit, "k", 1)]) == [1, 2]
    with schema_context(bravo.schema):
        assert tally([(limit, "k", 0)]) == [0]


def test_tally_fails_open_and_cools_down_when_redis_is_down(limit, settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    reset_availability()
    try:
        assert tally([(limit, "k", 1), (limit, "j", 1)]) == [0, 0]
        started = time.monotonic()
        assert tally([(limit, "k", 1)]) == [0]  # skipped: no connect attempt
        assert time.monotonic() - started < 0.05
    finally:
        reset_availability()
