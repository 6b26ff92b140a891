"""Writes to the audit log. Call ``audit_record`` inside the transaction of the write it
records, so the event and the change commit (or roll back) together."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.utils import timezone

from kernel.audit.context import Actor, current_actor
from kernel.audit.models import AuditEvent, AuditSettings

#: Field names whose values never reach an audit row, whatever the caller passes.
_SECRET_NAME = re.compile(r"secret|password|token|digest|private|credential|code", re.I)
REDACTED = "[redacted]"


def redact(value: Any, name: str = "") -> Any:
    """``value`` with every member whose name looks secret replaced by ``[redacted]``."""
    if name and _SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, dict):
        return {key: redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for every field whose value changed."""
    return {
        name: {"old": before.get(name), "new": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def audit_record(
    *,
    action: str,
    object_type: str = "",
    object_id: str = "",
    object_label: str = "",
    changes: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEvent:
    """Record ``action`` (e.g. ``client.created``) by the current actor in this schema."""
    actor = actor or current_actor()
    now = timezone.now()
    retention = AuditSettings.load().retention_days
    return AuditEvent.objects.create(
        created_at=now,
        action=action[:64],
        actor_id=actor.id[:64],
        actor_label=actor.label[:200],
        ip=actor.ip[:64],
        object_type=object_type[:64],
        object_id=str(object_id)[:128],
        object_label=str(object_label)[:200],
        changes=redact(changes or {}),
        purge_after=now + timedelta(days=retention),
    )
