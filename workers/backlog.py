"""The purge backlog for /metrics: measured by a worker, read from Redis at scrape time.

Web pods never count tenant tables for a scrape; one periodic task does, across all tenants,
and stores a bounded series (top tenants by backlog + "other") with an expiry of a few
intervals, so a stopped task shows as missing series, never as stale numbers.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from kernel.conf import setting
from tenants.selectors import active_tenants
from workers import reporting
from workers.purge import count_schema, purge_targets

# Counting is an index-only range scan; stop at this many rows per kind and tenant so one
# huge backlog cannot make the measurement itself slow. The gauge then reads "at least".
BACKLOG_COUNT_CAP = 1_000_000


def measure_purge_backlog() -> dict[str, dict[str, int]]:
    """Rows past their purge time, per tenant label (slug or "public") and kind."""
    now = timezone.now()
    connection.set_schema_to_public()
    return {
        label: count_schema(schema=schema, now=now, limit=BACKLOG_COUNT_CAP)
        for label, schema in purge_targets(active_tenants())
    }


def record_purge_backlog() -> int:
    """Measure the backlog and store it for /metrics; returns the total rows."""
    backlog = measure_purge_backlog()
    series = reporting.top_tenant_series(backlog, top=int(setting("METRICS_TOP_TENANTS")))
    interval = int(setting("PURGE_BACKLOG_INTERVAL_SECONDS"))
    reporting.store_purge_backlog(series, ttl_seconds=max(3 * interval, 60))
    return sum(rows for _, _, rows in series)
