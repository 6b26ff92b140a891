"""Reads of the tenant registry (public schema)."""

from __future__ import annotations

from tenants.hosts import host_cache
from tenants.models import Domain, Tenant


def _tenant_for_host_uncached(hostname: str) -> Tenant | None:
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    if domain is None:
        return None
    # The matched row's stored name, which the issuer is built from (never the raw Host).
    domain.tenant.domain_url = domain.domain
    return domain.tenant


def tenant_for_host(hostname: str) -> Tenant | None:
    """The tenant that ``hostname`` routes to, or None. Cached in process for a few seconds
    (``tenants.hosts``), misses included."""
    return host_cache.get_or_set(hostname, lambda: _tenant_for_host_uncached(hostname))


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def active_tenants():
    return Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk")


def primary_domain(tenant: Tenant) -> str | None:
    domain = tenant.domains.filter(is_primary=True).first() or tenant.domains.first()
    return domain.domain if domain else None
