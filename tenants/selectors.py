"""Reads of the tenant registry (public schema)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from kernel.conf import setting
from tenants.hosts import host_cache
from tenants.models import Domain, Plan, Tenant

_MISSING = object()


def _tenant_for_host_uncached(hostname: str) -> Tenant | None:
    domain = Domain.objects.select_related("tenant__plan").filter(domain=hostname).first()
    if domain is None:
        return None
    # The matched row's stored name, which the issuer is built from (never the raw Host).
    domain.tenant.domain_url = domain.domain
    return domain.tenant


#: ``host_cache``'s entry for the whole registry (a tuple: no hostname is one).
_REGISTRY = ("registry",)
#: Up to this many domains the registry is cached whole; past it, host by host.
REGISTRY_SNAPSHOT_MAX_DOMAINS = 5_000


def _registry_snapshot() -> dict[str, Tenant] | None:
    """Every domain -> its tenant (``domain_url`` set as ``_tenant_for_host_uncached`` sets
    it), in one query; None when there are more than ``REGISTRY_SNAPSHOT_MAX_DOMAINS``."""
    rows = list(
        Domain.objects.select_related("tenant__plan").order_by()[
            : REGISTRY_SNAPSHOT_MAX_DOMAINS + 1
        ]
    )
    if len(rows) > REGISTRY_SNAPSHOT_MAX_DOMAINS:
        return None
    for domain in rows:
        domain.tenant.domain_url = domain.domain
    return {domain.domain: domain.tenant for domain in rows}


def tenant_for_host(hostname: str) -> Tenant | None:
    """The tenant that ``hostname`` routes to, or None. Cached in process for
    ``GATEHOUSE["TENANT_CACHE_SECONDS"]`` (``tenants.hosts``), misses included.

    The cache holds the whole registry, read in one query per period, rather than one query
    per host and period: with 1,000 tenants hit at random, per-host entries of 5 s missed on
    most requests (each process read each host again every 5 s). A change is seen as soon
    as before (within the period; at once in the process that made it). A host missing from
    the registry as read is looked up on its own, its answer cached as before: a tenant
    made since is served at once, an unknown host costs one query per period. Past
    ``REGISTRY_SNAPSHOT_MAX_DOMAINS`` domains, or with the cache off (0 s), hosts are
    looked up one by one as before.
    """
    if setting("TENANT_CACHE_SECONDS") > 0:
        registry = host_cache.get(_REGISTRY, _MISSING)
        if registry is _MISSING:
            registry = _registry_snapshot()
            host_cache.set(_REGISTRY, registry)
        tenant = registry.get(hostname) if registry is not None else None
        if tenant is not None:
            return tenant
    # Not in the registry as read: a tenant made since (served at once, as before) or an
    # unknown host (its miss cached for the period, so a flood of them is no flood of
    # queries).
    return host_cache.get_or_set(hostname, lambda: _tenant_for_host_uncached(hostname))


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def active_tenants():
    return Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk")


def primary_domain(tenant: Tenant) -> str | None:
    domain = tenant.domains.filter(is_primary=True).first() or tenant.domains.first()
    return domain.domain if domain else None


#: The ``plan`` filter value for tenants on no plan (the platform's default quotas).
NO_PLAN = "-"


def plans() -> list[Plan]:
    return list(Plan.objects.order_by("name", "slug"))


def plan_by_slug(slug: str) -> Plan | None:
    return Plan.objects.filter(slug=slug).first()


#: Orders the operators' tenant list offers, by name shown in its URL.
TENANT_ORDERS = {
    "newest": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "slug": ("slug",),
}


def tenants_listed(
    *,
    search: str = "",
    status: str = "",
    order: str = "newest",
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    plan: str = "",
):
    """Tenants for the operators' list, their stored usage joined, domains prefetched.
    ``search`` matches part of the slug, the name or any of the tenant's domains (an
    ``EXISTS``, so no duplicate rows and no ``DISTINCT`` over the whole table); the
    ``created_*`` bounds are inclusive; ``plan`` is a plan's slug, or ``NO_PLAN``."""
    tenants = Tenant.objects.all()
    if search:
        on_domain = Domain.objects.filter(tenant=OuterRef("pk"), domain__icontains=search)
        tenants = tenants.filter(
            Q(slug__icontains=search) | Q(name__icontains=search) | Exists(on_domain)
        )
    if status:
        tenants = tenants.filter(status=status)
    if plan == NO_PLAN:
        tenants = tenants.filter(plan__isnull=True)
    elif plan:
        tenants = tenants.filter(plan__slug=plan)
    if created_since is not None:
        tenants = tenants.filter(created_at__gte=created_since)
    if created_until is not None:
        tenants = tenants.filter(created_at__lte=created_until)
    ordered = tenants.order_by(*TENANT_ORDERS.get(order, TENANT_ORDERS["newest"]))
    return ordered.select_related("usage", "plan").prefetch_related("domains")
