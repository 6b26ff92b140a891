"""manage.py rotate_signing_keys (DESIGN.md §5): --json shape, --tenant, one-line errors."""

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.support.live import REPO, service_env

pytestmark = pytest.mark.django_db


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("rotate_signing_keys", *args, stdout=out)
    text = out.getvalue()
    assert text.count("\n") <= 1  # exactly one JSON object
    return json.loads(text)


def _state(tenant, state: str) -> dict[str, str]:
    from oauth.models import SigningKey

    with tenant.context():
        return dict(SigningKey.objects.filter(state=state).values_list("alg", "kid"))


def test_json_reports_rotated_and_skipped_tenants(tenant_a, tenant_b):
    from oauth.models import SigningKey

    with tenant_a.context():  # alpha's next keys have been published for two hours
        SigningKey.objects.filter(state="next").update(
            published_at=timezone.now() - timedelta(hours=2)
        )
    next_a, current_b = _state(tenant_a, "next"), _state(tenant_b, "current")

    result = _run("--json")
    assert set(result) == {"rotated", "skipped"}
    (rotated,) = [e for e in result["rotated"] if e["tenant"] == "alpha"]
    assert rotated["current"] == next_a == _state(tenant_a, "current")
    assert rotated["next"] == _state(tenant_a, "next")
    assert set(rotated["retiring"]) == {"RS256", "ES256"} and rotated["retire_after"]
    (skipped,) = [e for e in result["skipped"] if e["tenant"] == "bravo"]
    assert "jwks_max_age" in skipped["reason"] and skipped["current"] == current_b
    assert _state(tenant_b, "current") == current_b


def test_tenant_and_force_rotate_just_that_tenant(tenant_a, tenant_b):
    current_b = _state(tenant_b, "current")
    result = _run("--tenant", "bravo", "--force", "--json")
    assert [e["tenant"] for e in result["rotated"]] == ["bravo"] and result["skipped"] == []
    assert _state(tenant_b, "retiring") == current_b


def test_reencrypt_reports_keys_per_tenant(tenant_a):
    (entry,) = _run("--tenant", "alpha", "--reencrypt", "--json")["reencrypted"]
    # client_secret_jwt secrets, kept encrypted with the same keys, are re-encrypted too.
    assert entry["tenant"] == "alpha" and entry["keys"] == 4
    assert isinstance(entry["client_secrets"], int)


def test_unknown_tenant_exits_non_zero_with_one_line(live_server_db_name):
    process = subprocess.run(
        [sys.executable, "manage.py", "rotate_signing_keys", "--tenant", "nope", "--json"],
        cwd=REPO,
        env=service_env(live_server_db_name),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0
    assert process.stdout == ""
    assert process.stderr.strip().count("\n") == 0
    assert "unknown tenant 'nope'" in process.stderr


def test_without_json_each_tenant_gets_one_readable_line(tenant_a):
    out = io.StringIO()
    with pytest.raises(CommandError, match="^not rotated: RS256 next key published "):
        call_command("rotate_signing_keys", "--tenant", "alpha", stdout=out)
    assert out.getvalue().startswith("skipped alpha: RS256 next key published ")
    out = io.StringIO()
    call_command("rotate_signing_keys", "--tenant", "alpha", "--force", stdout=out)
    assert out.getvalue().startswith("rotated alpha: now signing with RS256 ")
