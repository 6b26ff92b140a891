"""What the workers report for operators, kept in Redis: purge counts and the purge backlog.

Web pods never scan tenant tables for a scrape. Workers add rows deleted to a Redis hash
after every batch; a periodic task (``workers.backlog``) counts what is past ``purge_after``
in every tenant and stores one small, expiring JSON document. The composition layer's
``gatehouse.metrics`` reads both at scrape time (``read_reports``) and fails open.

``redis_client`` is the one Redis client with short timeouts, shared with the readiness
probe, so a dead Redis costs a scrape or a probe a quarter of a second, not a hang.
"""

from __future__ import annotations

import json
import logging
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

PURGED_ROWS_KEY = "gatehouse:metrics:purged_rows"
PURGE_BACKLOG_KEY = "gatehouse:metrics:purge_backlog"
#: The label of every tenant that has no series of its own.
OTHER = "other"

_redis_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """A Redis client for REDIS_URL with short timeouts: probes and metrics fail fast."""
    url = settings.REDIS_URL
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.5
        )
    return _redis_clients[url]


def record_purged_rows(deleted: dict[str, int]) -> None:
    """Add rows deleted per kind to the shared counter. Never fails the purge itself."""
    try:
        pipe = redis_client().pipeline(transaction=False)
        for kind, rows in deleted.items():
            if rows:
                pipe.hincrby(PURGED_ROWS_KEY, kind, rows)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        logger.warning("purge counter not recorded, Redis unavailable: %s", type(exc).__name__)


def store_purge_backlog(rows: list[tuple[str, str, int]], *, ttl_seconds: int) -> None:
    """Replace the stored backlog: (tenant label, kind, rows) series, already bounded.

    The document expires after ``ttl_seconds``, so a stopped backlog task shows as missing
    series rather than old numbers.
    """
    document = {"measured_at": time.time(), "rows": [list(row) for row in rows]}
    redis_client().set(PURGE_BACKLOG_KEY, json.dumps(document), ex=ttl_seconds)


def read_reports() -> tuple[dict[bytes, bytes], dict | None]:
    """Rows purged per kind and the latest backlog document (None if none is stored).
    Raises ``redis.RedisError`` / ``OSError`` when Redis is unavailable."""
    client = redis_client()
    purged = client.hgetall(PURGED_ROWS_KEY)
    backlog = client.get(PURGE_BACKLOG_KEY)
    return purged, (json.loads(backlog) if backlog is not None else None)


def top_tenant_series(
    backlog: dict[str, dict[str, int]], *, top: int
) -> list[tuple[str, str, int]]:
    """Bounded series from per-tenant backlogs: the ``top`` largest tenants, then "other".

    ``backlog`` maps a tenant label (slug, or "public") to rows per kind.
    """
    kinds = sorted({kind for per_kind in backlog.values() for kind in per_kind})
    ranked = sorted(backlog.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    named = [(label, per_kind) for label, per_kind in ranked[:top] if sum(per_kind.values())]
    named_labels = {label for label, _ in named}
    other = {kind: 0 for kind in kinds}
    for label, per_kind in backlog.items():
        if label not in named_labels:
            for kind, rows in per_kind.items():
                other[kind] += rows
    series = [(label, kind, per_kind.get(kind, 0)) for label, per_kind in named for kind in kinds]
    series += [(OTHER, kind, rows) for kind, rows in other.items()]
    return series
