"""The process's Host -> tenant cache (``kernel.ttlcache``), apart from the models so that
``TenantsConfig`` can wire its invalidation before the app registry is ready.

Every request resolves its Host; caching the answer (misses too, so a flood of unknown
hosts cannot turn into a flood of queries) keeps the Domain query off the hot path. Saving
or deleting a Tenant or Domain in this process clears it at once; other processes see the
change within ``GATEHOUSE["TENANT_CACHE_SECONDS"]``.
"""

from kernel.conf import setting
from kernel.ttlcache import TTLCache

host_cache = TTLCache(ttl=lambda: setting("TENANT_CACHE_SECONDS"))


def clear_tenant_host_cache(**signal_kwargs) -> None:
    host_cache.clear()
