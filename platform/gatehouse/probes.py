"""Probes answered ahead of everything else (Kubernetes sends the pod IP as Host).

``/healthz`` is liveness: the process answers, nothing else is touched. ``/readyz`` checks
PostgreSQL and Redis and names what is down with a 503. ``/metrics`` is Prometheus text for
scrapers that address the pod by IP; on a named host (a tenant's or the public site) it does
not exist, so tenants' users never see it.
"""

import ipaddress
import json

from django.db import connection
from django.http import HttpResponse, HttpResponseNotFound

from gatehouse.metrics import render_metrics
from workers.reporting import redis_client


def _json(payload: dict, status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def check_postgresql() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the name says which
        connection.close_if_unusable_or_obsolete()
        return exc.__class__.__name__
    return None


def check_redis() -> str | None:
    try:
        redis_client().ping()
    except Exception as exc:
        return exc.__class__.__name__
    return None


def _raw_host(request) -> str:
    host = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path == "/healthz":
            return _json({"status": "ok"})
        if path == "/readyz":
            checks = {"postgresql": check_postgresql(), "redis": check_redis()}
            down = sorted(name for name, problem in checks.items() if problem)
            payload = {
                "status": "ok" if not down else "unavailable",
                "down": down,
                "checks": {k: ("ok" if v is None else f"down: {v}") for k, v in checks.items()},
            }
            response = _json(payload, 200 if not down else 503)
            if down:
                response["Retry-After"] = "5"
            return response
        if path == "/metrics":
            if not _is_ip_literal(_raw_host(request)):
                return HttpResponseNotFound("Not Found", content_type="text/plain")
            body, content_type = render_metrics()
            return HttpResponse(body, content_type=content_type)
        return self.get_response(request)
