"""Through a real Celery worker: the usage fan-out stores every active tenant's counts."""

from __future__ import annotations

import pytest
from django.db import connection

from kernel.accounts.models import User
from tenants.models import TenantUsage
from tests.support.celery import assert_worker_log_clean, queue_idle, wait_until
from workers.tasks import measure_all_tenants_usage

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_the_fan_out_counts_each_tenants_users(celery_worker, two_tenants, commit):
    alpha, bravo = two_tenants
    with commit():
        connection.set_schema_to_public()
        TenantUsage.objects.all().delete()
    expected = {}
    for tenant in (alpha, bravo):
        with commit(tenant):
            expected[tenant.slug] = User.objects.count()
    since = celery_worker.log_size()

    measure_all_tenants_usage.delay()

    def measured() -> dict[str, int]:
        with commit():
            connection.set_schema_to_public()
            return dict(TenantUsage.objects.values_list("tenant__slug", "users"))

    wait_until(lambda: len(measured()) >= 2, message="usage never stored")
    wait_until(queue_idle, message="tasks still queued")
    stored = measured()
    assert {slug: stored[slug] for slug in expected} == expected
    assert celery_worker.log(since).count("measure_tenant_usage[") >= 2
    assert_worker_log_clean(celery_worker, since)
