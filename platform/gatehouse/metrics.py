"""Prometheus exposition for operators (scraped by pod IP; see ProbeMiddleware)."""

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


def render_metrics() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
