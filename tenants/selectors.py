"""Reads of the tenant registry (public schema)."""

from __future__ import annotations

import threading
import time

from gatehouse.conf import gatehouse_setting
from tenants.models import Domain, Tenant

_host_cache: dict[str, tuple[float, Tenant | None]] = {}
_host_cache_lock = threading.Lock()


def clear_tenant_host_cache() -> None:
    with _host_cache_lock:
        _host_cache.clear()


def tenant_for_host(hostname: str) -> Tenant | None:
    """The tenant that ``hostname`` routes to, or None. Cached in process for a few seconds.

    Every request resolves its Host; caching the answer (misses too, so a flood of unknown
    hosts cannot turn into a flood of queries) keeps the Domain query off the hot path.
    """
    ttl = gatehouse_setting("TENANT_CACHE_SECONDS")
    now = time.monotonic()
    cached = _host_cache.get(hostname)
    if cached is not None and cached[0] > now:
        return cached[1]
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    tenant = domain.tenant if domain else None
    if ttl:
        with _host_cache_lock:
            if len(_host_cache) > 10_000:
                _host_cache.clear()
            _host_cache[hostname] = (now + ttl, tenant)
    return tenant


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def active_tenants():
    return Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk")


def primary_domain(tenant: Tenant) -> str | None:
    domain = tenant.domains.filter(is_primary=True).first() or tenant.domains.first()
    return domain.domain if domain else None
