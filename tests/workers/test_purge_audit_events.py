"""Audit events go after the retention their schema set, and only in that schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kernel.audit.models import AuditEvent
from kernel.audit.services import audit_record

pytestmark = pytest.mark.django_db


def _events(tag: str) -> tuple[int, int]:
    """An expired event and a kept one, both tagged, in the current schema: (expired, kept)."""
    expired = audit_record(action="test.expired", object_id=f"{tag}-old")
    AuditEvent.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(days=91),
        purge_after=timezone.now() - timedelta(days=1),
    )
    kept = audit_record(action="test.kept", object_id=f"{tag}-new")
    return expired.pk, kept.pk


def _present(*pks: int) -> list[int]:
    return sorted(AuditEvent.objects.filter(pk__in=pks).values_list("pk", flat=True))


def test_purge_deletes_only_expired_events_of_its_schema(tenant_a, tenant_b):
    from workers.purge import kinds_for_schema, purge_schema

    assert "audit_events" in [k.name for k in kinds_for_schema(tenant_a.schema)]
    with tenant_a.context():
        old_a, kept_a = _events("a")
    with tenant_b.context():
        old_b, kept_b = _events("b")
    connection.set_schema_to_public()
    old_public, kept_public = _events("p")

    with tenant_b.context():  # the purge names alpha's table itself, whatever the search_path
        assert purge_schema(schema=tenant_a.schema)["audit_events"] >= 1
    with tenant_a.context():
        assert _present(old_a, kept_a) == [kept_a]
    with tenant_b.context():
        assert _present(old_b, kept_b) == sorted([old_b, kept_b])
    connection.set_schema_to_public()
    assert _present(old_public, kept_public) == sorted([old_public, kept_public])

    assert purge_schema(schema="public")["audit_events"] >= 1
    assert _present(old_public, kept_public) == [kept_public]
    with tenant_b.context():
        assert _present(old_b, kept_b) == sorted([old_b, kept_b])


def test_retention_fixes_when_an_event_may_go(tenant_a):
    from kernel.audit.services import audit_settings_update

    with tenant_a.context():
        audit_settings_update(retention_days=7)
        event = audit_record(action="test.short")
        assert event.purge_after - event.created_at == timedelta(days=7)
