"""Writes to the audit log. Call ``audit_record`` inside the transaction of the write it
records, so the event and the change commit (or roll back) together."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kernel.audit.context import Actor, current_actor
from kernel.audit.models import AuditEvent, AuditSettings

#: The retention a schema may set, in days: at least a day, at most ten years.
RETENTION_DAYS_MIN = 1
RETENTION_DAYS_MAX = 3650

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


class AuditSettingsError(ValueError):
    """A retention outside what the log allows; the message says what is allowed."""


@transaction.atomic
def audit_settings_update(*, retention_days: int) -> AuditSettings:
    """Set how long this schema keeps its audit events, for the events already logged too:
    each one's ``purge_after`` becomes its time plus the new retention, so shortening it
    lets the next purge take what is now too old. A change is itself an event."""
    if not RETENTION_DAYS_MIN <= retention_days <= RETENTION_DAYS_MAX:
        raise AuditSettingsError(
            f"Keep events between {RETENTION_DAYS_MIN} and {RETENTION_DAYS_MAX} days."
        )
    settings = AuditSettings.objects.select_for_update().filter(pk=AuditSettings.load().pk).get()
    before = {"retention days": settings.retention_days}
    if settings.retention_days == retention_days:
        return settings
    settings.retention_days = retention_days
    settings.save(update_fields=["retention_days"])
    AuditEvent.objects.update(purge_after=F("created_at") + timedelta(days=retention_days))
    audit_record(
        action="audit.retention_changed",
        object_type="audit settings",
        object_label="Audit log retention",
        changes=diff(before, {"retention days": retention_days}),
    )
    return settings
