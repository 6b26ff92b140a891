"""The audit log's core: redaction by name, diffs, the acting user, one log per schema."""

import pytest
from django_tenants.utils import schema_context

from kernel.audit.context import Actor, acting_as
from kernel.audit.models import AuditEvent
from kernel.audit.services import REDACTED, audit_record, diff, redact

pytestmark = pytest.mark.django_db


def test_secret_looking_members_are_redacted_at_any_depth():
    value = {
        "name": "Billing",
        "client_secret": "s3cr3t",
        "nested": {"refresh_token": "r", "scopes": ["api"], "password": "pw"},
        "secret_digest": "abc",
    }
    assert redact(value) == {
        "name": "Billing",
        "client_secret": REDACTED,
        "nested": {"refresh_token": REDACTED, "scopes": ["api"], "password": REDACTED},
        "secret_digest": REDACTED,
    }


def test_diff_lists_only_what_changed():
    before = {"name": "A", "scopes": ["api"], "disabled": False}
    after = {"name": "B", "scopes": ["api"], "disabled": False, "new": 1}
    assert diff(before, after) == {
        "name": {"old": "A", "new": "B"},
        "new": {"old": None, "new": 1},
    }


def test_events_carry_the_actor_and_stay_in_their_schema(two_tenants):
    alpha, bravo = two_tenants
    actor = Actor(id="u-1", label="admin@alpha.test", ip="203.0.113.9")
    with schema_context(alpha.schema), acting_as(actor):
        event = audit_record(
            action="client.updated",
            object_type="client",
            object_id="abc",
            object_label="Billing",
            changes={"client_secret": {"old": "x", "new": "y"}},
        )
        assert (event.actor_id, event.actor_label, event.ip) == ("u-1", actor.label, actor.ip)
        assert event.changes == {"client_secret": REDACTED}
        assert event.purge_after > event.created_at
        assert AuditEvent.objects.filter(object_id="abc").count() == 1
    with schema_context(bravo.schema):
        assert not AuditEvent.objects.filter(object_id="abc").exists()
    with schema_context(alpha.schema):
        assert audit_record(action="x").actor_label == "system"
