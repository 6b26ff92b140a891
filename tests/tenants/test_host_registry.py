"""The Host -> tenant cache holds the whole registry (``tenants.selectors.tenant_for_host``):
one query per period for every host, each host its own tenant, a change made elsewhere (no
signal: a ``QuerySet.update``) seen within the period, per-host lookups past the size bound
or with the cache off."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import selectors
from tenants.hosts import clear_tenant_host_cache
from tenants.models import Domain, Tenant

pytestmark = pytest.mark.django_db


def domain_queries(queries) -> int:
    return sum("tenants_domain" in q["sql"] for q in queries)


def test_every_host_is_its_own_tenant_from_one_query(tenant_a, tenant_b):
    clear_tenant_host_cache()
    unknown_host = f"nobody-{time.time_ns()}.example"
    with CaptureQueriesContext(connection) as queries:
        a = selectors.tenant_for_host(tenant_a.host)
        b = selectors.tenant_for_host(tenant_b.host)
        unknown = selectors.tenant_for_host(unknown_host)
        again = selectors.tenant_for_host(tenant_a.host)
    # The registry, then the unknown host on its own (cached as a miss from then on).
    assert domain_queries(queries.captured_queries) == 2
    with CaptureQueriesContext(connection) as queries:
        assert selectors.tenant_for_host(unknown_host) is None
        assert selectors.tenant_for_host(tenant_b.host).slug == tenant_b.slug
    assert domain_queries(queries.captured_queries) == 0
    assert (a.slug, a.domain_url) == (tenant_a.slug, tenant_a.host)
    assert (b.slug, b.domain_url) == (tenant_b.slug, tenant_b.host)
    assert a.schema_name != b.schema_name
    assert unknown is None
    assert again is a


def test_a_change_without_signals_is_seen_within_the_period(tenant_a, settings, commit):
    """As another process's change would be: no signal clears this process's cache."""
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TENANT_CACHE_SECONDS": 1}
    clear_tenant_host_cache()
    assert selectors.tenant_for_host(tenant_a.host).is_active
    with commit():
        Tenant.objects.filter(slug=tenant_a.slug).update(status=Tenant.Status.SUSPENDED)
    try:
        assert selectors.tenant_for_host(tenant_a.host).is_active  # still cached
        time.sleep(1.1)
        assert not selectors.tenant_for_host(tenant_a.host).is_active
    finally:
        with commit():
            Tenant.objects.filter(slug=tenant_a.slug).update(status=Tenant.Status.ACTIVE)
        clear_tenant_host_cache()


def test_past_the_bound_hosts_are_looked_up_one_by_one(tenant_a, tenant_b, monkeypatch):
    monkeypatch.setattr(selectors, "REGISTRY_SNAPSHOT_MAX_DOMAINS", 1)
    assert Domain.objects.count() > 1
    clear_tenant_host_cache()
    try:
        with CaptureQueriesContext(connection) as queries:
            assert selectors.tenant_for_host(tenant_a.host).slug == tenant_a.slug
            assert selectors.tenant_for_host(tenant_b.host).slug == tenant_b.slug
            assert selectors.tenant_for_host(tenant_a.host).slug == tenant_a.slug  # cached
        # The registry query that found too many, then one per host.
        assert domain_queries(queries.captured_queries) == 3
    finally:
        clear_tenant_host_cache()


def test_with_the_cache_off_every_lookup_queries(tenant_a, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TENANT_CACHE_SECONDS": 0}
    clear_tenant_host_cache()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert selectors.tenant_for_host(tenant_a.host).slug == tenant_a.slug
    assert domain_queries(queries.captured_queries) == 3


def test_a_domain_added_after_the_registry_was_read_is_served_at_once(tenant_a, tenant_b):
    """As a tenant provisioned by another process would be: no signal, yet no wait."""
    clear_tenant_host_cache()
    assert selectors.tenant_for_host(tenant_a.host).slug == tenant_a.slug  # registry read
    host = f"new-{time.time_ns()}.example"
    tenant = Tenant.objects.get(slug=tenant_b.slug)
    Domain.objects.bulk_create([Domain(domain=host, tenant=tenant, is_primary=False)])
    try:
        found = selectors.tenant_for_host(host)
        assert (found.slug, found.domain_url) == (tenant_b.slug, host)
    finally:
        Domain.objects.filter(domain=host).delete()
        clear_tenant_host_cache()
