"""Reads of the audit log: one schema's events, filtered, newest first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Q, QuerySet

from kernel.audit.models import AuditEvent

#: Rows fetched per round trip when reading a whole filtered log (exports).
BATCH_SIZE = 1_000


def audit_events(
    *,
    action: str = "",
    actor: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """This schema's events, newest first. ``action`` matches a whole name
    (``client.created``) or a family of them (``client``); ``actor`` a part of the actor's
    name or their exact id; ``since`` and ``until`` are inclusive."""
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if actor:
        events = events.filter(Q(actor_label__icontains=actor) | Q(actor_id=actor))
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lte=until)
    return events.order_by("-created_at", "-pk")


def in_batches(events: QuerySet[AuditEvent], size: int = BATCH_SIZE) -> Iterator[AuditEvent]:
    """Every event of ``events`` (ordered as ``audit_events`` orders them), ``size`` at a
    time by keyset: an export of any length holds one batch in memory and needs no
    server-side cursor, which a transaction-mode pooler would not keep between batches."""
    last = None
    while True:
        batch = events
        if last is not None:
            batch = batch.filter(
                Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, pk__lt=last.pk)
            )
        rows = list(batch[:size])
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1]


def _shown(value) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def changes_for_display(changes) -> list[dict]:
    """Each member of an event's ``changes`` for a page: a changed field (``old`` -> ``new``,
    ``diff`` true) or a detail (``value``). Both consoles' audit pages show them alike."""
    if not isinstance(changes, dict):
        return [{"name": "details", "diff": False, "value": _shown(changes)}]
    shown = []
    for name, value in sorted(changes.items()):
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            old, new = _shown(value["old"]), _shown(value["new"])
            shown.append({"name": name, "diff": True, "old": old, "new": new})
        else:
            shown.append({"name": name, "diff": False, "value": _shown(value)})
    return shown
