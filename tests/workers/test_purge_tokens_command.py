"""``manage.py purge_tokens [--tenant slug] [--dry-run] [--json]`` (DESIGN.md §5 shape)."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.live import REPO, service_env
from tests.workers import seeding

KINDS = {
    "tokens",
    "authorization_codes",
    "device_authorizations",
    "grant_families",
    "sessions",
    "user_sessions",
    "session_clients",
    "backchannel_logout_deliveries",
    "audit_events",
}


def _manage(*args, db_name):
    return subprocess.run(
        [sys.executable, "manage.py", "purge_tokens", *args],
        cwd=REPO,
        env=service_env(db_name),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db
def test_dry_run_counts_and_changes_nothing_then_purge_deletes(tenant_a, tenant_b):
    with tenant_a.context():
        seeded_a = seeding.seed(tenant_a, bulk_tokens=40)
    with tenant_b.context():
        seeded_b = seeding.seed(tenant_b)

    out, err = StringIO(), StringIO()
    call_command("purge_tokens", "--dry-run", "--json", stdout=out, stderr=err)
    report = json.loads(out.getvalue())  # exactly one JSON object on stdout
    assert set(report) == {"dry_run", "tenants", "totals"} and report["dry_run"] is True
    assert {"alpha", "bravo", "public"} <= set(report["tenants"])
    assert set(report["tenants"]["alpha"]) == KINDS
    assert set(report["tenants"]["public"]) == {"sessions", "user_sessions", "audit_events"}
    for seeded in (seeded_a, seeded_b):
        for kind, rows in seeding.expected(seeded, "purgeable").items():
            assert report["tenants"][seeded.tenant.slug][kind] >= rows
    assert report["totals"]["tokens"] == sum(t.get("tokens", 0) for t in report["tenants"].values())
    assert "alpha" in err.getvalue() and "{" not in err.getvalue()  # progress goes to stderr
    for seeded in (seeded_a, seeded_b):
        with seeded.tenant.context():
            assert seeding.present(seeded, "purgeable") == seeding.expected(seeded, "purgeable")

    out = StringIO()
    call_command("purge_tokens", "--tenant", "alpha", "--json", stdout=out, stderr=StringIO())
    report = json.loads(out.getvalue())
    assert report["dry_run"] is False and list(report["tenants"]) == ["alpha"]
    assert report["tenants"]["alpha"]["tokens"] >= 42
    with tenant_a.context():
        assert seeding.present(seeded_a, "purgeable") == dict.fromkeys(seeded_a.purgeable, 0)
        assert seeding.present(seeded_a, "needed") == seeding.expected(seeded_a, "needed")
    with tenant_b.context():  # only the named tenant was purged
        assert seeding.present(seeded_b, "purgeable") == seeding.expected(seeded_b, "purgeable")

    out = StringIO()
    call_command("purge_tokens", "--tenant", "bravo", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("bravo: purged ")
    assert "total: purged" in out.getvalue()


def test_cli_json_on_stdout_progress_on_stderr(two_tenants, live_server_db_name):
    result = _manage("--dry-run", "--json", db_name=live_server_db_name)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and {"alpha", "bravo"} <= set(report["tenants"])
    assert "[1/" in result.stderr and "alpha" in result.stderr


def test_unknown_tenant_is_a_one_line_error(two_tenants, live_server_db_name):
    result = _manage("--tenant", "no-such-tenant", "--json", db_name=live_server_db_name)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "unknown tenant 'no-such-tenant'" in result.stderr
