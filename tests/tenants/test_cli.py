"""Operator CLI (DESIGN.md §5): provision_tenant and create_tenant_user."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "cli-admin-password-9z"


def _manage(*args, db_name):
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gatehouse.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db_name}",
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=False)
def test_provision_tenant_cli_json_and_host(live_server_db_name, django_db_blocker):
    remember_secret(PASSWORD)
    result = _manage(
        "provision_tenant",
        "--slug",
        "cli-corp",
        "--name",
        "CLI Corp",
        "--admin-email",
        "root@cli.test",
        "--admin-password",
        PASSWORD,
        "--json",
        db_name=live_server_db_name,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert payload == {
        "slug": "cli-corp",
        "schema": "cli_corp",
        "domain": "cli-corp.gatehouse.test",
        "issuer": "https://cli-corp.gatehouse.test",
    }
    page = https_client("cli-corp.gatehouse.test").get("/")
    assert page.status_code == 200 and b"CLI Corp" in page.content

    again = _manage(
        "provision_tenant",
        "--slug",
        "cli-corp",
        "--name",
        "Other",
        "--admin-email",
        "x@cli.test",
        "--admin-password",
        PASSWORD,
        "--json",
        db_name=live_server_db_name,
    )
    assert again.returncode != 0
    assert again.stdout == ""
    assert again.stderr.strip().count("\n") == 0 and "already exists" in again.stderr
    from tenants.models import Tenant

    assert Tenant.objects.get(slug="cli-corp").name == "CLI Corp"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", "invalid slug"),
        ("-acme", "invalid slug"),
        ("acme-", "invalid slug"),
        ("Acme", "invalid slug"),
        ("ac_me", "invalid slug"),
        ("a" * 64, "invalid slug"),
        ("xn--bcher", "reserved prefix"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("public", "reserved"),
        ("alpha", "already exists"),
    ],
)
def test_provision_refuses_bad_reserved_and_duplicate_slugs(slug, message, two_tenants):
    from tenants.models import Tenant

    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command(
            "provision_tenant",
            f"--slug={slug}",
            "--name=X",
            "--admin-email=a@x.test",
            f"--admin-password={PASSWORD}",
            "--json",
            stdout=StringIO(),
        )
    assert Tenant.objects.count() == before


@pytest.mark.django_db
def test_provision_refuses_weak_admin_password_and_leaves_nothing():
    from tenants.models import Domain, Tenant

    with pytest.raises(CommandError, match="password"):
        call_command(
            "provision_tenant",
            slug="weakpw",
            name="Weak",
            admin_email="a@weak.test",
            admin_password="123",
            stdout=StringIO(),
        )
    assert not Tenant.objects.filter(slug="weakpw").exists()
    assert not Domain.objects.filter(domain__startswith="weakpw.").exists()
    assert not schema_exists("weakpw")


def test_failure_half_way_leaves_no_schema_row_or_user(django_db_blocker, monkeypatch, two_tenants):
    """Real commits (no test transaction): the provisioning transaction itself must undo."""
    from tenants import services
    from tenants.models import Domain, Tenant

    def explode(**kwargs):
        from kernel.accounts.models import User

        assert User.objects.count() == 0  # we are inside the new schema
        services.user_create(username="half", password=PASSWORD, email="h@half.test")
        raise RuntimeError("injected failure after schema, domain and user")

    monkeypatch.setattr(services, "_provision_tenant_contents", explode)
    with django_db_blocker.unblock():
        with pytest.raises(RuntimeError, match="injected"):
            services.tenant_provision(
                slug="halfway", name="Half", admin_email="a@half.test", admin_password=PASSWORD
            )
        connection.set_schema_to_public()
        assert not Tenant.objects.filter(slug="halfway").exists()
        assert not Domain.objects.filter(domain="halfway.gatehouse.test").exists()
        assert not schema_exists("halfway")
        monkeypatch.undo()
        # and re-running with the same slug now works
        remember_secret(PASSWORD)
        result = services.tenant_provision(
            slug="halfway", name="Half", admin_email="a@half.test", admin_password=PASSWORD
        )
        assert result.schema == "halfway" and schema_exists("halfway")


@pytest.mark.django_db
def test_create_tenant_user_cli(tenant_a, tenant_b):
    from kernel.accounts.models import User

    password = remember_secret("bob-password-Xy12")
    out = StringIO()
    call_command(
        "create_tenant_user",
        tenant=tenant_a.slug,
        username="bob",
        password=password,
        email="bob@alpha.test",
        json=True,
        stdout=out,
    )
    payload = json.loads(out.getvalue())
    assert payload["tenant"] == tenant_a.slug and payload["username"] == "bob"
    with tenant_a.context():
        assert str(User.objects.get(username="bob").id) == payload["id"]
    with tenant_b.context():
        assert not User.objects.filter(username="bob").exists()

    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_tenant_user",
            tenant=tenant_a.slug,
            username="bob",
            password=password,
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command(
            "create_tenant_user",
            tenant="nope",
            username="bob",
            password=password,
            stdout=StringIO(),
        )
