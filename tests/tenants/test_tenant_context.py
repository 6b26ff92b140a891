"""Cache entries and log lines carry the tenant whose request made them."""

import logging

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


def test_cache_entries_never_cross_tenants(tenant_a, tenant_b):
    with tenant_a.context():
        cache.set("greeting", "from alpha", 30)
        assert cache.get("greeting") == "from alpha"
    with tenant_b.context():
        assert cache.get("greeting") is None
        cache.set("greeting", "from bravo", 30)
    with tenant_a.context():
        assert cache.get("greeting") == "from alpha"
        cache.delete("greeting")
    with tenant_b.context():
        cache.delete("greeting")


def test_log_lines_name_the_tenant_of_the_request(tenant_a, tenant_b, no_secrets_in_logs):
    from gatehouse.logging import TenantFilter

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    handler.addFilter(TenantFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        tenant_a.client().get("/no-such-page")
        tenant_b.client().get("/no-such-page")
    finally:
        logger.removeHandler(handler)
    tenants = [r.tenant for r in records if "no-such-page" in r.getMessage()]
    assert tenants == [tenant_a.schema, tenant_b.schema]
