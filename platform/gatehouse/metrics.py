"""Prometheus exposition for operators (scraped by pod IP; see ProbeMiddleware).

What is counted where:

- Requests and latency, by URL route name (never the raw path) and status class:
  ``RequestMetricsMiddleware``, in each web process.
- Tokens issued, by grant type: a receiver of ``oauth.signals.token_issued``.
- Purge rate and backlog: computed by the Celery workers and kept in Redis
  (``workers.reporting``), because the web pods never scan tenant tables for a scrape.
  ``render_metrics`` reads both and fails open: with Redis down the rest is still served
  and ``gatehouse_metrics_store_up`` is 0.

Label sets stay bounded: per-tenant series exist only for the tenants an operator opts in
(``GATEHOUSE["METRICS_TENANTS"]``, slugs) and, for the purge backlog, the top
``GATEHOUSE["METRICS_TOP_TENANTS"]`` tenants by backlog; every other tenant is ``other``.

gunicorn runs several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to a writable
directory of its own (in Kubernetes on the ``/tmp`` emptyDir, e.g. ``/tmp/prometheus``; it is
created if missing) in the environment the processes start with, and every scrape sums all
processes' values (prometheus-client's multiprocess mode). Without it, each process serves
only its own values. Counters of processes that exited stay in the sum, as counters should.

Every web pod serves the same worker-computed values (they come from the one Redis):
aggregate those with ``max``, not ``sum``, across pods.
"""

from __future__ import annotations

import logging
import os
import time

import redis
from django.db import connection
from django_tenants.utils import get_public_schema_name
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kernel.conf import setting
from oauth.grant_types import GRANT_TYPES
from workers import reporting

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before any metric value exists: each one opens a file in this directory.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

OTHER = reporting.OTHER
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_GRANT_TYPES = frozenset(GRANT_TYPES)

REQUESTS = Counter(
    "gatehouse_http_requests",
    "HTTP requests answered, by URL route name, method, status class and opted-in tenant.",
    ["endpoint", "method", "status", "tenant"],
)
LATENCY = Histogram(
    "gatehouse_http_request_duration_seconds",
    "Time from the request reaching Gatehouse's middleware to the response, by route.",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TOKENS_ISSUED = Counter(
    "gatehouse_tokens_issued",
    "Token responses issued, by grant type and opted-in tenant.",
    ["grant_type", "tenant"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def tenant_label(schema_name: str | None, slug: str | None) -> str:
    """The ``tenant`` label value: the slug if opted in, ``public``, or ``other``."""
    if not schema_name or schema_name == get_public_schema_name():
        return "public"
    if slug and slug in setting("METRICS_TENANTS"):
        return slug
    return OTHER


def _current_tenant_label() -> str:
    tenant = getattr(connection, "tenant", None)
    return tenant_label(getattr(connection, "schema_name", None), getattr(tenant, "slug", None))


# --- requests ------------------------------------------------------------------------------


class RequestMetricsMiddleware:
    """Counts and times every request that reaches the app (probes and /metrics never do).

    Place it right after ``ProbeMiddleware``. The endpoint label is the matched URL's route
    name (``view_name``); anything that matched no route (unknown hosts, 404s) is
    ``unmatched``, so a scanner cannot grow the label set.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        endpoint = (match.view_name or match.route or "unnamed") if match else "unmatched"
        status = f"{response.status_code // 100}xx"
        method = request.method if request.method in _METHODS else "other"
        tenant = getattr(request, "tenant", None)
        label = tenant_label(getattr(tenant, "schema_name", None), getattr(tenant, "slug", None))
        REQUESTS.labels(endpoint, method, status, label).inc()
        LATENCY.labels(endpoint, status).observe(elapsed)
        return response


# --- tokens issued ---------------------------------------------------------------------------


def count_token_issued(sender=None, grant_type: str | None = None, **kwargs) -> None:
    """Receiver of ``oauth.signals.token_issued`` (connected in ``GatehouseConfig.ready``)."""
    grant = grant_type if grant_type in _GRANT_TYPES else OTHER
    TOKENS_ISSUED.labels(grant, _current_tenant_label()).inc()


# --- values computed by workers, kept in Redis (workers.reporting) ---------------------------


class StoredMetricsCollector:
    """Yields the worker-computed metrics from Redis at scrape time."""

    def describe(self):
        return []

    def collect(self):
        up = GaugeMetricFamily(
            "gatehouse_metrics_store_up",
            "1 if the worker-computed metrics could be read from Redis for this scrape.",
        )
        try:
            purged, document = reporting.read_reports()
        except (redis.RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        deleted = CounterMetricFamily(
            "gatehouse_purge_rows_deleted",
            "Rows deleted by purges (workers and the purge_tokens command), by kind.",
            labels=["kind"],
        )
        for kind, rows in sorted(purged.items()):
            deleted.add_metric([kind.decode()], int(rows))
        yield deleted

        if document is None:
            return
        gauge = GaugeMetricFamily(
            "gatehouse_purge_backlog_rows",
            "Rows past their purge time, by kind, for the top tenants by backlog and 'other'.",
            labels=["tenant", "kind"],
        )
        for tenant, kind, rows in document["rows"]:
            gauge.add_metric([tenant, kind], rows)
        yield gauge
        measured = GaugeMetricFamily(
            "gatehouse_purge_backlog_measured_timestamp_seconds",
            "When the purge backlog was last measured (Unix time).",
        )
        measured.add_metric([], document["measured_at"])
        yield measured


_stored_registry = CollectorRegistry(auto_describe=False)
_stored_registry.register(StoredMetricsCollector())


def render_metrics() -> tuple[bytes, str]:
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_stored_registry), CONTENT_TYPE_LATEST
