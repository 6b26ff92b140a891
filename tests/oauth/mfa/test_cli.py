"""``manage.py set_mfa_policy`` (DESIGN.md §5 shape: --json prints one object; bad input
exits non-zero with one line) and its audit row."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_set_mfa_policy_sets_only_that_tenant(tenant_a, tenant_b):
    from kernel.audit.models import AuditEvent
    from oauth.mfa.selectors import policy_mode

    out = StringIO()
    call_command(
        "set_mfa_policy", "--tenant", tenant_a.slug, "--mode", "admins", "--json", stdout=out
    )
    assert json.loads(out.getvalue()) == {"tenant": tenant_a.slug, "mode": "admins"}
    with tenant_a.context():
        assert policy_mode() == "admins"
        event = AuditEvent.objects.filter(action="mfa.policy_changed").latest("id")
        assert event.changes == {"mode": {"old": "optional", "new": "admins"}}
        assert event.actor_label == "operator command set_mfa_policy"
    with tenant_b.context():
        assert policy_mode() == "optional"


@pytest.mark.parametrize(
    "args", [["--tenant", "nope-none", "--mode", "admins"], ["--tenant", "alpha", "--mode", "x"]]
)
def test_set_mfa_policy_refuses_bad_input(args, tenant_a):
    with pytest.raises((CommandError, SystemExit)):
        call_command("set_mfa_policy", *args, stdout=StringIO(), stderr=StringIO())
