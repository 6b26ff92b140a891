"""The one in-process TTL cache: expiry, cached misses, a bound, a live TTL setting."""

import time

from kernel.ttlcache import TTLCache


def test_values_expire_after_the_ttl():
    cache = TTLCache(ttl=lambda: 0.05)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    time.sleep(0.08)
    assert cache.get("k", "gone") == "gone"


def test_a_cached_miss_is_not_computed_again():
    calls = []
    cache = TTLCache(ttl=lambda: 60)

    def compute():
        calls.append(1)
        return None

    assert cache.get_or_set("unknown", compute) is None
    assert cache.get_or_set("unknown", compute) is None
    assert len(calls) == 1


def test_zero_ttl_caches_nothing():
    cache = TTLCache(ttl=lambda: 0)
    cache.set("k", "v")
    assert cache.get("k") is None


def test_bounded_and_cleared():
    cache = TTLCache(ttl=lambda: 60, max_entries=3)
    for key in range(3):
        cache.set(key, key)
    cache.set("fourth", 4)
    assert cache.get(0) is None and cache.get("fourth") == 4
    cache.clear()
    assert cache.get("fourth") is None
