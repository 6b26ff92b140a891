"""Prometheus metrics: served on the pod-IP path only, and counting what they claim to."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live import free_port
from tests.support.tenants import https_client
from tests.workers import seeding

pytestmark = pytest.mark.django_db

MIDDLEWARE = "gatehouse.metrics.RequestMetricsMiddleware"


def with_request_metrics(middleware: list[str]) -> list[str]:
    """MIDDLEWARE with the request metrics right after the probes (until settings have it)."""
    if MIDDLEWARE in middleware:
        return list(middleware)
    probes = middleware.index("gatehouse.probes.ProbeMiddleware")
    return [*middleware[: probes + 1], MIDDLEWARE, *middleware[probes + 1 :]]


@pytest.fixture
def request_metrics(settings):
    settings.MIDDLEWARE = with_request_metrics(settings.MIDDLEWARE)


def scrape(host: str = "10.0.0.7:8000") -> dict[tuple[str, frozenset], float]:
    response = https_client(host).get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.parametrize("host", ["alpha.gatehouse.test", "gatehouse.test", "evil.example.com"])
def test_metrics_are_not_served_on_named_hosts(host, tenant_a, request_metrics):
    response = https_client(host).get("/metrics")
    assert response.status_code == 404
    assert b"gatehouse_" not in response.content


@pytest.mark.parametrize("host", ["10.0.0.7:8000", "[fd00::7]:8000"])
def test_metrics_are_served_to_the_pod_ip(host):
    samples = scrape(host)
    assert ("gatehouse_metrics_store_up", frozenset()) in samples


def test_requests_are_counted_by_route_name_and_status_class(tenant_a, request_metrics):
    labels = {"endpoint": "tenant-home", "method": "GET", "status": "2xx", "tenant": "other"}
    before = scrape()
    for _ in range(3):
        assert tenant_a.client().get("/").status_code == 200
    assert tenant_a.client().get("/no/such/page/123").status_code == 404
    after = scrape()
    assert value(after, "gatehouse_http_requests_total", **labels) == (
        value(before, "gatehouse_http_requests_total", **labels) + 3
    )
    unmatched = {"endpoint": "unmatched", "method": "GET", "status": "4xx", "tenant": "other"}
    assert value(after, "gatehouse_http_requests_total", **unmatched) == (
        value(before, "gatehouse_http_requests_total", **unmatched) + 1
    )
    timed = {"endpoint": "tenant-home", "status": "2xx"}
    assert value(after, "gatehouse_http_request_duration_seconds_count", **timed) == (
        value(before, "gatehouse_http_request_duration_seconds_count", **timed) + 3
    )
    # The raw path never becomes a label value; scrapes (answered by the probes) are not
    # requests to the app.
    assert not any("/no/such" in str(key) for key in after)
    counted = {k: v for k, v in after.items() if k[0] == "gatehouse_http_requests_total"}
    assert {k: v for k, v in scrape().items() if k[0] == "gatehouse_http_requests_total"} == (
        counted
    )


def test_opted_in_tenant_gets_its_own_label(tenant_a, tenant_b, request_metrics, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "METRICS_TENANTS": ["alpha"]}
    before = scrape()
    tenant_a.client().get("/")
    tenant_b.client().get("/")
    after = scrape()
    labels = {"endpoint": "tenant-home", "method": "GET", "status": "2xx"}
    assert value(after, "gatehouse_http_requests_total", tenant="alpha", **labels) == (
        value(before, "gatehouse_http_requests_total", tenant="alpha", **labels) + 1
    )
    assert not any(("tenant", "bravo") in key[1] for key in after)


def test_tokens_issued_are_counted_by_grant_type(tenant_a, settings):
    from django.db import connection

    from oauth.signals import token_issued
    from tenants.models import Tenant

    settings.GATEHOUSE = {**settings.GATEHOUSE, "METRICS_TENANTS": ["alpha"]}
    before = scrape()
    connection.set_tenant(Tenant.objects.get(slug=tenant_a.slug))
    token_issued.send(sender=None, grant_type="client_credentials", client_id="c1")
    token_issued.send(sender=None, grant_type="refresh_token", client_id="c1")
    token_issued.send(sender=None, grant_type="made-up-grant-" + "x" * 50, client_id="c1")
    connection.set_schema_to_public()
    after = scrape()
    for grant in ("client_credentials", "refresh_token", "other"):
        name, labels = "gatehouse_tokens_issued_total", {"grant_type": grant, "tenant": "alpha"}
        assert value(after, name, **labels) == value(before, name, **labels) + 1


def test_purge_backlog_and_rate_come_from_the_store(tenant_a, tenant_b):
    from workers.backlog import record_purge_backlog
    from workers.purge import purge_schema

    with tenant_a.context():
        seeded = seeding.seed(tenant_a, bulk_tokens=25)
    record_purge_backlog()
    samples = scrape()
    backlog = value(samples, "gatehouse_purge_backlog_rows", tenant="alpha", kind="tokens")
    assert backlog >= 27
    assert value(samples, "gatehouse_purge_backlog_rows", tenant="alpha", kind="grant_families")
    assert value(samples, "gatehouse_purge_backlog_measured_timestamp_seconds") > 0
    assert value(samples, "gatehouse_metrics_store_up") == 1

    purge_schema(schema=tenant_a.schema)
    after = scrape()
    deleted = "gatehouse_purge_rows_deleted_total"
    assert value(after, deleted, kind="tokens") - value(samples, deleted, kind="tokens") >= 27
    with tenant_a.context():
        assert seeding.present(seeded, "purgeable")["tokens"] == 0


def test_backlog_series_are_bounded_to_top_tenants_and_other():
    from workers.reporting import top_tenant_series

    backlog = {f"t{i:02d}": {"tokens": i * 10, "sessions": 1} for i in range(15)}
    series = top_tenant_series(backlog, top=3)
    tenants = {tenant for tenant, _, _ in series}
    assert tenants == {"t14", "t13", "t12", "other"}
    assert sum(rows for _, _, rows in series) == sum(sum(v.values()) for v in backlog.values())
    assert top_tenant_series({"a": {"tokens": 0}}, top=3) == [("other", "tokens", 0)]


def test_metrics_fail_open_without_redis(settings, tenant_a, request_metrics, caplog):
    from workers.purge import purge_schema

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    tenant_a.client().get("/")
    samples = scrape()
    assert value(samples, "gatehouse_metrics_store_up") == 0
    assert value(
        samples,
        "gatehouse_http_requests_total",
        endpoint="tenant-home",
        method="GET",
        status="2xx",
        tenant="other",
    )
    # A purge does not fail because its counter cannot be recorded.
    with tenant_a.context():
        seeded = seeding.seed(tenant_a)
    purge_schema(schema=tenant_a.schema)
    with tenant_a.context():
        assert seeding.present(seeded, "purgeable")["tokens"] == 0
    assert "purge counter not recorded" in caplog.text
