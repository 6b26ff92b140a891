"""Audit events, one table per schema (a tenant's in its schema, the operators' in public)."""

from django.db import models


class AuditEvent(models.Model):
    """One admin write or security event (``services.audit_record`` writes them).

    ``actor_id`` is the acting user's id in this schema ("" for the system or an operator
    command), ``actor_label`` what to show for them. ``changes`` maps a field name to
    ``{"old": ..., "new": ...}`` (or holds the event's details), already redacted.
    ``purge_after`` is fixed at insert from the schema's retention (``AuditSettings``).
    """

    created_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    actor_label = models.CharField(max_length=200, blank=True, default="")
    ip = models.CharField(max_length=64, blank=True, default="")
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    object_label = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    purge_after = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_label}"


class AuditSettings(models.Model):
    """How long this schema keeps its audit events (one row per schema, ``load()``)."""

    retention_days = models.PositiveIntegerField(default=90)

    class Meta:
        verbose_name = "audit settings"
        verbose_name_plural = "audit settings"

    @classmethod
    def load(cls) -> "AuditSettings":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
        return obj
