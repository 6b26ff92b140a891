"""Plans: named quotas for tenants. Their limits reach the tenant's OAuth endpoints (under
the tenant's own overrides), change for every tenant on the plan at once, show in the
operators' list, are set through the console and the CLI, audited, and never reach
another tenant."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kernel.accounts.models import User
from kernel.audit.models import AuditEvent
from oauth.services.rate_limits import rate_limits_update
from tenants.models import Plan, Tenant
from tenants.services import ProvisioningError, plan_save, tenant_set_plan
from tests.support.factories import make_client, token_request
from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db

BASE = settings.GATEHOUSE_BASE_DOMAIN


@pytest.fixture
def console():
    connection.set_schema_to_public()
    password = remember_secret("operator-password-Pl4ns")
    operator = User.objects.create_user("planop", "op@gatehouse.test", password, is_staff=True)
    web = https_client(BASE)
    web.force_login(operator)
    return web


def _tokens(tenant, client, n: int) -> list[int]:
    return [
        token_request(tenant, {"grant_type": "client_credentials"}, client).status_code
        for _ in range(n)
    ]


def test_a_plans_limits_reach_its_tenants_endpoints_and_no_other_tenant(tenant_a, tenant_b):
    plan = plan_save(slug="tiny", name="Tiny", rate_limits={"CLIENT_REQUESTS": 2})
    tenant_set_plan(tenant=Tenant.objects.get(slug=tenant_a.slug), plan=plan)
    client_a, client_b = make_client(tenant_a), make_client(tenant_b)
    assert _tokens(tenant_a, client_a, 3) == [200, 200, 429]
    assert _tokens(tenant_b, client_b, 3) == [200, 200, 200]


def test_changing_a_plan_changes_every_tenant_on_it(tenant_a):
    plan = plan_save(slug="tiny", name="Tiny", rate_limits={"CLIENT_REQUESTS": 1})
    tenant_set_plan(tenant=Tenant.objects.get(slug=tenant_a.slug), plan=plan)
    client = make_client(tenant_a)
    assert _tokens(tenant_a, client, 2) == [200, 429]
    plan_save(slug="tiny", name="Tiny", rate_limits={"CLIENT_REQUESTS": 5})
    assert _tokens(tenant_a, client, 2) == [200, 200]


def test_a_tenants_own_override_wins_over_its_plan(tenant_a):
    plan = plan_save(slug="tiny", name="Tiny", rate_limits={"CLIENT_REQUESTS": 1})
    tenant_set_plan(tenant=Tenant.objects.get(slug=tenant_a.slug), plan=plan)
    with tenant_a.context():
        rate_limits_update(limits={"CLIENT_REQUESTS": 3})
    try:
        client = make_client(tenant_a)
        assert _tokens(tenant_a, client, 4) == [200, 200, 200, 429]
    finally:
        with tenant_a.context():
            rate_limits_update(limits={"CLIENT_REQUESTS": None})


def test_off_the_plan_the_platform_defaults_apply_again(tenant_a):
    plan = plan_save(slug="tiny", name="Tiny", rate_limits={"CLIENT_REQUESTS": 1})
    tenant = Tenant.objects.get(slug=tenant_a.slug)
    tenant_set_plan(tenant=tenant, plan=plan)
    tenant_set_plan(tenant=tenant, plan=None)
    assert _tokens(tenant_a, make_client(tenant_a), 3) == [200, 200, 200]


@pytest.mark.parametrize(
    "limits",
    [{"NO_SUCH_LIMIT": 5}, {"CLIENT_REQUESTS": 0}, {"CLIENT_REQUESTS": "9"}, {"IP_REQUESTS": True}],
)
def test_a_plan_refuses_unknown_or_non_positive_limits(limits):
    with pytest.raises(ProvisioningError):
        plan_save(slug="bad-plan", name="Bad", rate_limits=limits)
    assert not Plan.objects.filter(slug="bad-plan").exists()


def test_plan_writes_are_audited_in_the_operators_log(tenant_a):
    plan = plan_save(slug="team", name="Team", rate_limits={"IP_REQUESTS": 500})
    plan_save(slug="team", name="Team", rate_limits={"IP_REQUESTS": 900})
    tenant_set_plan(tenant=Tenant.objects.get(slug=tenant_a.slug), plan=plan)
    connection.set_schema_to_public()
    actions = list(
        AuditEvent.objects.filter(
            action__in=["plan.created", "plan.changed", "tenant.plan_changed"]
        )
        .order_by("created_at")
        .values_list("action", "changes")
    )
    assert [a for a, _ in actions] == ["plan.created", "plan.changed", "tenant.plan_changed"]
    assert actions[1][1]["IP_REQUESTS"] == {"old": 500, "new": 900}
    assert actions[2][1]["plan"] == {"old": None, "new": "team"}
    # The plan's audit rows are the operators' own: none in the tenant's schema.
    with tenant_a.context():
        assert not AuditEvent.objects.filter(action__startswith="plan.").exists()


def test_the_console_lists_filters_and_changes_plans(console, tenant_a, tenant_b):
    response = console.post(
        "/operators/plans/new/",
        {"slug": "pro", "name": "Pro", "CLIENT_REQUESTS": "6000", "IP_REQUESTS": ""},
    )
    assert response.status_code == 302 and response["Location"] == "/operators/plans/"
    plan = Plan.objects.get(slug="pro")
    assert plan.rate_limits == {"CLIENT_REQUESTS": 6000}
    again = console.post("/operators/plans/new/", {"slug": "pro", "name": "Pro again"})
    assert again.status_code == 400 and b"already exists" in again.content
    bad = console.post("/operators/plans/new/", {"slug": "odd", "name": "Odd", "IP_REQUESTS": "-3"})
    assert bad.status_code == 400 and not Plan.objects.filter(slug="odd").exists()

    moved = console.post(f"/operators/tenants/{tenant_a.slug}/plan/", {"plan": "pro"})
    assert moved.status_code == 302
    assert Tenant.objects.get(slug=tenant_a.slug).plan == plan
    assert (
        console.post(f"/operators/tenants/{tenant_b.slug}/plan/", {"plan": "nope"}).status_code
        == 302
    )
    assert Tenant.objects.get(slug=tenant_b.slug).plan is None

    listing = console.get("/operators/", {"plan": "pro"})
    assert listing.status_code == 200
    assert tenant_a.slug.encode() in listing.content and b">Pro<" in listing.content
    assert f">{tenant_b.slug}<".encode() not in listing.content
    unplanned = console.get("/operators/", {"plan": "-"}).content
    assert f">{tenant_b.slug}<".encode() in unplanned
    assert f">{tenant_a.slug}<".encode() not in unplanned
    plans_page = console.get("/operators/plans/")
    assert b"Pro" in plans_page.content and b"6000" in plans_page.content
    detail = console.get(f"/operators/tenants/{tenant_a.slug}/")
    assert b"Change plan" in detail.content and b"Pro" in detail.content

    edited = console.post("/operators/plans/pro/", {"slug": "ignored", "name": "Pro+"})
    assert edited.status_code == 302
    plan.refresh_from_db()
    assert plan.name == "Pro+" and plan.slug == "pro" and plan.rate_limits == {}
    assert console.get("/operators/plans/none-such/").status_code == 404


def test_plan_pages_are_for_operators_only_and_csrf_protected(tenant_a):
    anonymous = https_client(BASE)
    assert anonymous.get("/operators/plans/").status_code == 302
    connection.set_schema_to_public()
    visitor = User.objects.create_user("visitor2", "v@x.test", "visitor-pw-123456")
    web = https_client(BASE)
    web.force_login(visitor)
    assert web.get("/operators/plans/").status_code == 403
    operator = User.objects.create_user("op2", "op2@x.test", "operator-pw-123456", is_staff=True)
    forged = https_client(BASE, enforce_csrf_checks=True)
    forged.force_login(operator)
    assert forged.post("/operators/plans/new/", {"slug": "forged", "name": "F"}).status_code == 403
    assert forged.post(f"/operators/tenants/{tenant_a.slug}/plan/", {"plan": ""}).status_code == 403
    assert not Plan.objects.filter(slug="forged").exists()


def test_the_cli_defines_plans_and_provisions_onto_them():
    out = io.StringIO()
    call_command(
        "save_plan",
        "--slug",
        "cli-plan",
        "--name",
        "CLI",
        "--ip-requests",
        "700",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == {
        "plan": "cli-plan",
        "name": "CLI",
        "rate_limits": {"IP_REQUESTS": 700},
    }
    password = remember_secret("cli-admin-password-Zq81")
    out = io.StringIO()
    call_command(
        "provision_tenant",
        "--slug", "planned", "--name", "Planned", "--admin-email", "a@planned.test",
        "--admin-password", password, "--plan", "cli-plan", "--json",
        stdout=out,
    )  # fmt: skip
    assert Tenant.objects.get(slug="planned").plan.slug == "cli-plan"
    out = io.StringIO()
    call_command("set_tenant_plan", "--tenant", "planned", "--plan", "none", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"tenant": "planned", "plan": None}
    with pytest.raises(CommandError, match="no plan 'missing'"):
        call_command("set_tenant_plan", "--tenant", "planned", "--plan", "missing")
    with pytest.raises(CommandError, match="no plan 'missing'"):
        call_command(
            "provision_tenant",
            "--slug", "unplanned", "--name", "U", "--admin-email", "a@u.test",
            "--admin-password", password, "--plan", "missing",
        )  # fmt: skip
    assert not Tenant.objects.filter(slug="unplanned").exists()


def test_new_tenants_take_the_default_plan(settings):
    plan_save(slug="starter", name="Starter", rate_limits={})
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEFAULT_PLAN": "starter"}
    password = remember_secret("default-admin-password-Yt52")
    call_command(
        "provision_tenant",
        "--slug", "defaulted", "--name", "D", "--admin-email", "a@d.test",
        "--admin-password", password,
    )  # fmt: skip
    assert Tenant.objects.get(slug="defaulted").plan.slug == "starter"
