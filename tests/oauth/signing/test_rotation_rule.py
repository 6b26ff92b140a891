"""When rotation may promote a next key at once (OIDC Core §10.1.1): when it was in every
JWKS the tenant ever served (made before the first one was served), or has been published
for jwks_max_age; else a skip that says from when, and for the CLI's --tenant a non-zero
exit."""

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.live import REPO, service_env


def _next_keys():
    from oauth.models import SigningKey

    return list(SigningKey.objects.filter(state="next").order_by("alg"))


def _set_first_served(moment):
    from oauth.models import IssuerSettings

    IssuerSettings.load()
    IssuerSettings.objects.update(jwks_first_served_at=moment)


@pytest.mark.django_db
def test_a_next_key_made_before_the_first_jwks_was_served_rotates_at_once(tenant_a, tenant_b):
    from oauth.signing.services import rotate

    with tenant_a.context():
        newest = max(k.created_at for k in _next_keys())
        _set_first_served(timezone.now())  # served after the keys were made
        outcome = rotate()
        assert outcome.rotated and outcome.reason == ""
        # The new next key was made after the first JWKS: it waits jwks_max_age.
        again = rotate()
        assert not again.rotated
        [fresh, _] = _next_keys()
        assert again.safe_at == max(k.published_at for k in _next_keys()) + timedelta(seconds=3600)
        assert again.safe_at.isoformat() in again.reason and "--force" in again.reason
        assert fresh.created_at > newest
    with tenant_b.context():  # B's keys untouched
        from kernel.audit.models import AuditEvent

        assert not AuditEvent.objects.filter(action="keys.rotated").exists()


@pytest.mark.django_db
def test_a_tenant_whose_jwks_was_never_served_rotates_at_once(tenant_a):
    from oauth.signing.services import rotate

    with tenant_a.context():
        _set_first_served(None)
        assert rotate().rotated
        assert rotate().rotated  # nobody can hold a copy without the new next key either


@pytest.mark.django_db
def test_a_next_key_published_after_the_first_jwks_waits_jwks_max_age(tenant_a):
    from kernel.audit.models import AuditEvent
    from oauth.signing.selectors import rotation_readiness
    from oauth.signing.services import rotate

    with tenant_a.context():
        published = max(k.published_at for k in _next_keys())
        _set_first_served(min(k.created_at for k in _next_keys()) - timedelta(seconds=1))
        safe_at = published + timedelta(seconds=3600)
        assert rotation_readiness(published + timedelta(seconds=10)) == safe_at
        skipped = rotate(published + timedelta(seconds=10))
        assert not skipped.rotated and skipped.safe_at == safe_at
        assert not AuditEvent.objects.filter(action="keys.rotated").exists()
        assert rotation_readiness(safe_at) is None
        assert rotate(safe_at).rotated
        [event] = AuditEvent.objects.filter(action="keys.rotated")
        assert event.changes["forced"]["new"] is False
        assert event.actor_label == "system"  # no request, no operator command


@pytest.mark.django_db
def test_the_jwks_view_records_the_first_serving_once(tenant_a, tenant_b):
    from oauth.models import IssuerSettings

    with tenant_a.context():
        _set_first_served(None)
    before = timezone.now()
    assert tenant_a.client().get("/oauth/jwks").status_code == 200
    with tenant_a.context():
        first = IssuerSettings.load().jwks_first_served_at
    assert first is not None and first >= before
    with CaptureQueriesContext(connection) as queries:
        assert tenant_a.client().get("/oauth/jwks").status_code == 200
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    with tenant_a.context():
        assert IssuerSettings.load().jwks_first_served_at == first
    with tenant_b.context():
        assert IssuerSettings.load().jwks_first_served_at != first


@pytest.mark.django_db
def test_lowering_jwks_max_age_never_shortens_the_wait_of_a_key_jwks_missed(tenant_a):
    from oauth.services.issuer import issuer_settings_update
    from oauth.signing.selectors import rotation_readiness

    with tenant_a.context():
        _set_first_served(min(k.created_at for k in _next_keys()) - timedelta(seconds=1))
        before = rotation_readiness()
        issuer_settings_update(jwks_max_age=60)
        assert rotation_readiness() >= before


def _cli(db_name, *args):
    return subprocess.run(
        [sys.executable, "manage.py", "rotate_signing_keys", *args],
        cwd=REPO,
        env=service_env(db_name),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.live
def test_cli_tenant_skip_exits_non_zero_with_the_reason(
    rotation_tenant, commit, live_server_db_name
):
    from kernel.audit.models import AuditEvent
    from oauth.models import SigningKey

    with commit(rotation_tenant):
        AuditEvent.objects.filter(action="keys.rotated").delete()
        first = SigningKey.objects.order_by("created_at").first().created_at
        _set_first_served(first - timedelta(seconds=1))
    skipped = _cli(live_server_db_name, "--tenant", rotation_tenant.slug, "--json")
    assert skipped.returncode != 0
    result = json.loads(skipped.stdout)  # the same one JSON object as ever
    assert set(result) == {"rotated", "skipped"} and result["rotated"] == []
    assert set(result["skipped"][0]) == {"tenant", "current", "next", "reason"}
    assert skipped.stderr.strip().count("\n") == 0
    assert "not rotated:" in skipped.stderr and "jwks_max_age" in skipped.stderr

    # Made with the tenant, before its JWKS was first served: rotates at once, exit 0.
    with commit(rotation_tenant):
        _set_first_served(timezone.now())
    time.sleep(0.01)
    rotated = _cli(live_server_db_name, "--tenant", rotation_tenant.slug, "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert [e["tenant"] for e in json.loads(rotated.stdout)["rotated"]] == [rotation_tenant.slug]
    with commit(rotation_tenant):
        [event] = AuditEvent.objects.filter(action="keys.rotated")
        assert event.actor_label == "operator command rotate_signing_keys"
        assert event.changes["forced"]["new"] is False
        AuditEvent.objects.filter(action="keys.rotated").delete()
