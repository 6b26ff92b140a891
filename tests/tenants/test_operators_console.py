"""The operators' console on the public host: who may use it, the tenant list at 10,000
tenants, provisioning, suspension, deletion, and the operators' own audit log."""

import io
import re

import psycopg
import pyotp
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_exists

from kernel.accounts.models import User
from kernel.audit.models import AuditEvent
from oauth.models import Client
from tenants import services as tenant_services
from tenants.console.views.access import sign_in_limit, throttle_keys
from tenants.models import Domain, Tenant, TenantUsage
from tenants.services import tenant_usage_record
from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db

BASE = settings.GATEHOUSE_BASE_DOMAIN
OPERATOR_PASSWORD = "operator-password-Kx93"
ADMIN_PASSWORD = "first-admin-password-Vb27"


def _reset_throttle() -> None:
    for name in ("op", "visitor", "\x00", "x" * 10_000):
        for key in throttle_keys("127.0.0.1", name):
            sign_in_limit().reset(key)


@pytest.fixture(autouse=True)
def _no_throttle_carry_over():
    _reset_throttle()
    yield
    _reset_throttle()


@pytest.fixture
def operator():
    connection.set_schema_to_public()
    remember_secret(OPERATOR_PASSWORD)
    return User.objects.create_user("op", "op@gatehouse.test", OPERATOR_PASSWORD, is_staff=True)


@pytest.fixture
def console(operator):
    web = https_client(BASE)
    web.force_login(operator)
    return web


def _csrf_client(user=None):
    web = https_client(BASE, enforce_csrf_checks=True, HTTP_REFERER=f"https://{BASE}/operators/")
    if user is not None:
        web.force_login(user)
    return web


def _token(web, path: str) -> str:
    page = web.get(path)
    assert page.status_code == 200, page.content
    return page.context["csrf_token"] if page.context else web.cookies["csrftoken"].value


def _new_tenant(web, default_slug: str, **overrides):
    remember_secret(ADMIN_PASSWORD)
    data = {
        "name": f"{default_slug.title()} Org",
        "slug": default_slug,
        "admin_email": f"owner@{default_slug}.test",
        "admin_password": ADMIN_PASSWORD,
        "domain": "",
        **overrides,
    }
    return web.post("/operators/tenants/new/", data)


def _events(action: str, **filters):
    connection.set_schema_to_public()
    return list(AuditEvent.objects.filter(action=action, **filters))


# --- who may use it ----------------------------------------------------------------------


def test_anonymous_is_sent_to_the_operators_sign_in():
    page = https_client(BASE).get("/operators/", {"q": "a&b", "status": "active"})
    assert page.status_code == 302
    assert (
        page["Location"]
        == "/operators/sign-in/?next=%2Foperators%2F%3Fq%3Da%2526b%26status%3Dactive"
    )


def test_a_non_operator_gets_a_403_page_offering_another_account():
    connection.set_schema_to_public()
    visitor = User.objects.create_user("visitor", password=OPERATOR_PASSWORD)
    web = https_client(BASE)
    web.force_login(visitor)
    for path in ("/operators/", "/operators/audit/", "/operators/tenants/new/"):
        page = web.get(path)
        assert page.status_code == 403
        assert b"Not an operator" in page.content and b"/operators/sign-out/" in page.content


def test_a_tenants_admin_cannot_reach_the_console_on_its_host(tenant_a):
    web = tenant_a.client()
    with tenant_a.context():
        web.force_login(User.objects.get(username=tenant_a.admin_username))
    assert web.get("/operators/").status_code == 404
    assert web.get("/operators/sign-in/").status_code == 404


def test_sign_in_with_a_password_then_sign_out(operator):
    web = _csrf_client()
    token = _token(web, "/operators/sign-in/")
    page = web.post(
        "/operators/sign-in/",
        {
            "username": "op",
            "password": OPERATOR_PASSWORD,
            "next": "/operators/audit/",
            "csrfmiddlewaretoken": token,
        },
    )
    # No authenticator app yet: the operator adds one before the sign-in completes.
    assert page.status_code == 302 and page["Location"] == "/operators/security/totp/"
    assert web.get("/operators/").status_code == 302  # not signed in yet
    enrol = web.get("/operators/security/totp/")
    secret = re.search(r'id="totp-secret">([^<]+)<', enrol.content.decode()).group(1)
    code = pyotp.TOTP(secret.replace(" ", "")).now()
    done = web.post(
        "/operators/security/totp/",
        {"code": code, "csrfmiddlewaretoken": web.cookies["csrftoken"].value},
    )
    assert done.status_code == 200 and b"recovery-codes" in done.content
    assert b'href="/operators/audit/"' in done.content
    assert web.get("/operators/").status_code == 200
    (event,) = _events("operator.signed_in")
    assert event.actor_id == str(operator.pk) and event.actor_label == "op"
    token = web.cookies["csrftoken"].value
    out = web.post("/operators/sign-out/", {"csrfmiddlewaretoken": token})
    assert out.status_code == 302
    assert web.get("/operators/").status_code == 302


def test_sign_in_refuses_a_non_operator_and_a_wrong_password_alike(operator):
    connection.set_schema_to_public()
    User.objects.create_user("visitor", password=OPERATOR_PASSWORD)
    web = https_client(BASE)
    wrong = web.post("/operators/sign-in/", {"username": "op", "password": "not-it-at-all"})
    staffless = web.post(
        "/operators/sign-in/", {"username": "visitor", "password": OPERATOR_PASSWORD}
    )
    assert wrong.status_code == staffless.status_code == 400
    assert b"correct username and password" in wrong.content
    assert b"correct username and password" in staffless.content
    assert len(_events("operator.sign_in_failed")) == 2
    assert web.get("/operators/").status_code == 302


def test_sign_in_keeps_next_on_the_console():
    web = https_client(BASE)
    for target in ("https://evil.test/", "//evil.test/operators/", "/signup/", "/operators/\x00"):
        page = web.get("/operators/sign-in/", {"next": target})
        assert page.status_code == 200
        assert b'name="next" value="/operators/"' in page.content


@pytest.mark.parametrize(
    "data",
    [
        {"username": "\x00", "password": "x"},
        {"username": "x" * 10_000, "password": "y" * 100_000},
        {"username": "op", "password": "a\x00b"},
        {},
    ],
)
def test_odd_sign_in_input_is_refused_not_a_500(operator, data):
    page = https_client(BASE).post("/operators/sign-in/", data)
    assert page.status_code == 400
    (event,) = _events("operator.sign_in_failed")
    assert "\x00" not in event.object_label and len(event.object_label) <= 200


def test_failed_sign_ins_are_throttled(operator):
    web = https_client(BASE)
    for _ in range(sign_in_limit().limit):
        assert (
            web.post("/operators/sign-in/", {"username": "op", "password": "wrong"}).status_code
            == 400
        )
    throttled = web.post("/operators/sign-in/", {"username": "op", "password": OPERATOR_PASSWORD})
    assert throttled.status_code == 429 and "Retry-After" in throttled
    assert web.get("/operators/").status_code == 302


def test_every_form_needs_its_csrf_token(operator, tenant_a):
    web = _csrf_client(operator)
    assert _new_tenant(web, "forged").status_code == 403
    assert web.post("/operators/tenants/alpha/suspend/").status_code == 403
    assert web.post("/operators/tenants/alpha/delete/", {"slug": "alpha"}).status_code == 403
    assert web.post("/operators/sign-out/").status_code == 403
    assert not Tenant.objects.filter(slug="forged").exists()
    assert Tenant.objects.get(slug="alpha").is_active
    anonymous = _csrf_client()
    forged = anonymous.post(
        "/operators/sign-in/", {"username": "op", "password": OPERATOR_PASSWORD}
    )
    assert forged.status_code == 403


# --- the tenant list at 10,000 tenants -------------------------------------------------


def test_the_list_costs_a_few_queries_at_10000_tenants(console, django_assert_max_num_queries):
    connection.set_schema_to_public()
    plans = [
        tenant_services.plan_save(slug=f"tier-{n}", name=f"Tier {n}", rate_limits={})
        for n in range(3)
    ]
    # bulk_create runs no save(): rows without schemas, which the list must never look into.
    Tenant.objects.bulk_create(
        Tenant(
            slug=f"bulk-{n:05d}", name=f"Bulk {n}", schema_name=f"bulk_{n:05d}", plan=plans[n % 3]
        )
        for n in range(10_000)
    )
    tenants = {t.slug: t for t in Tenant.objects.filter(slug__startswith="bulk-")}
    Domain.objects.bulk_create(
        Domain(domain=f"{slug}.{BASE}", tenant=tenant, is_primary=True)
        for slug, tenant in tenants.items()
    )
    for query in (
        {},
        {"q": "bulk-0999"},
        {"q": "bulk-04321." + BASE},
        {"status": "active", "order": "slug", "page": "150"},
        {"plan": "tier-1", "order": "oldest", "page": "3"},
    ):
        # Session, user, the plans (the filter), the page of tenants, their domains.
        with django_assert_max_num_queries(6) as captured:
            page = console.get("/operators/", query)
        assert page.status_code == 200, query
        assert not any("count(" in q["sql"].lower() for q in captured.captured_queries)
    assert b"bulk-04321" in console.get("/operators/", {"q": "bulk-04321." + BASE}).content
    tier = console.get("/operators/", {"plan": "tier-1", "order": "oldest"}).content
    assert b"bulk-00001" in tier and b"Tier 1" in tier and b"bulk-00002" not in tier
    page = console.get("/operators/", {"order": "slug", "page": "2"})
    assert b"bulk-00050" in page.content and b"bulk-00100" not in page.content
    assert b"Next" in page.content and b"Previous" in page.content


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\x00b"},
        {"q": "x" * 100_000},
        {"status": "nonsense"},
        {"order": "'; DROP TABLE"},
        {"page": "-1"},
        {"page": "9" * 40},
        {"page": "abc"},
        {"created_to": "yesterday"},
    ],
)
def test_odd_list_input_is_a_form_error_not_a_500(console, query):
    page = console.get("/operators/", query)
    assert page.status_code in (200, 400)


def test_the_list_filters_by_creation_date(console, tenant_a, tenant_b):
    connection.set_schema_to_public()
    Tenant.objects.filter(slug="alpha").update(created_at="2024-03-05T10:00:00Z")
    Tenant.objects.filter(slug="bravo").update(created_at="2025-07-01T10:00:00Z")
    march = console.get("/operators/", {"created_from": "2024-03-05", "created_to": "2024-03-05"})
    assert b"/operators/tenants/alpha/" in march.content
    assert b"/operators/tenants/bravo/" not in march.content
    later = console.get("/operators/", {"created_from": "2025-01-01"}).content
    assert b"/operators/tenants/bravo/" in later and b"/operators/tenants/alpha/" not in later
    backwards = console.get(
        "/operators/", {"created_from": "2025-01-02", "created_to": "2025-01-01"}
    )
    assert backwards.status_code == 400 and "on or after" in backwards.content.decode()
    for odd in ("2025-13-40", "\x00", "9" * 5000):
        assert console.get("/operators/", {"created_from": odd}).status_code == 400


def test_search_finds_by_slug_name_and_domain(console, tenant_a, tenant_b):
    assert b"alpha" in console.get("/operators/", {"q": "alph"}).content
    by_name = console.get("/operators/", {"q": "bravo ltd"}).content
    assert b"/operators/tenants/bravo/" in by_name and b"/operators/tenants/alpha/" not in by_name
    by_domain = console.get("/operators/", {"q": tenant_a.host}).content
    assert b"/operators/tenants/alpha/" in by_domain


def test_counts_come_from_the_stored_usage_not_from_the_schemas(console, tenant_a, tenant_b):
    listed = console.get("/operators/", {"q": "alpha"}).content.decode()
    assert "Users" in listed and "last counted them (every 15 minutes)" in listed
    with tenant_a.context():
        users, clients = User.objects.count(), Client.objects.count()
    usage = tenant_usage_record(schema=tenant_a.schema)
    assert (usage.users, usage.clients) == (users, clients) and users >= 1
    assert tenant_usage_record(schema="no_such_schema") is None
    connection.set_schema_to_public()
    TenantUsage.objects.filter(tenant__slug="alpha").update(users=4242, clients=77)
    page = console.get("/operators/", {"q": "alpha"}).content.decode()
    assert ">4242<" in page and ">77<" in page
    detail = console.get("/operators/tenants/alpha/").content.decode()
    assert "4242 users, 77 clients" in detail
    assert "Not counted yet" in console.get("/operators/tenants/bravo/").content.decode()


# --- provisioning ------------------------------------------------------------------------


def test_provisioning_through_the_console_is_audited_and_a_reload_repeats_nothing(
    operator, console
):
    page = _new_tenant(console, "acme-ops")
    assert page.status_code == 302 and page["Location"] == "/operators/tenants/acme-ops/"
    tenant = Tenant.objects.get(slug="acme-ops")
    assert schema_exists(tenant.schema_name)
    shown = console.get(page["Location"])
    assert b"acme-ops.gatehouse.test" in shown.content and b"ready" in shown.content
    assert https_client("acme-ops.gatehouse.test").get("/oauth/jwks").status_code == 200

    again = _new_tenant(console, "acme-ops")
    assert again.status_code == 400
    assert "A tenant with this subdomain already exists." in again.content.decode()
    (event,) = _events("tenant.provisioned", object_label="acme-ops")
    assert event.actor_id == str(operator.pk) and event.object_label == "acme-ops"
    assert event.changes["admin email"] == "owner@acme-ops.test"
    assert ADMIN_PASSWORD not in str(event.changes)


def test_provisioning_by_command_and_by_signup_is_in_the_operators_log():
    remember_secret(ADMIN_PASSWORD)
    call_command(
        "provision_tenant",
        "--slug=cli-ops",
        "--name=CLI Ops",
        "--admin-email=owner@cli-ops.test",
        f"--admin-password={ADMIN_PASSWORD}",
        stdout=io.StringIO(),
    )
    (event,) = _events("tenant.provisioned", object_label="cli-ops")
    assert event.actor_label == "operator command provision_tenant" and event.actor_id == ""
    assert ADMIN_PASSWORD not in str(event.changes)


def test_the_new_tenant_form_shows_the_password_rules_before_they_fail(console):
    page = console.get("/operators/tenants/new/")
    assert page.status_code == 200
    assert b"at least 10 characters" in page.content


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"slug": "ab"}, "slug", "3-63 lowercase letters"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"slug": "alpha"}, "slug", "already exists"),
        ({"slug": "a\x00b"}, "slug", "Null characters"),
        ({"slug": "y" * 10_000}, "slug", "at most 63"),
        ({"admin_email": "not-an-address"}, "admin_email", "valid email"),
        ({"admin_password": "short"}, "admin_password", "too short"),
        ({"admin_password": "1234567890123"}, "admin_password", "entirely numeric"),
        ({"admin_password": "owner@oddco.test"}, "admin_password", "too similar"),
        ({"domain": "not a host"}, "domain", "host name"),
        ({"domain": BASE}, "domain", "host name"),
        ({"domain": "alpha." + BASE}, "domain", "already belongs"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_provisioning_errors_are_in_web_words_beside_their_field(
    console, tenant_a, overrides, field, says
):
    page = _new_tenant(console, "oddco", **overrides)
    assert page.status_code == 400
    form = page.context["form"]
    assert any(says in error for error in form.errors[field]), form.errors
    body = page.content.decode()
    assert "nothing was changed" not in body and "--slug" not in body and "--domain" not in body
    assert not Tenant.objects.filter(slug="oddco").exists()


# --- suspend, reactivate, delete ---------------------------------------------------------


def test_suspend_and_reactivate_ask_first_and_are_audited(operator, console, tenant_a):
    confirm = console.get("/operators/tenants/alpha/suspend/")
    assert confirm.status_code == 200 and b"Suspend alpha" in confirm.content
    assert Tenant.objects.get(slug="alpha").is_active

    done = console.post("/operators/tenants/alpha/suspend/")
    assert done.status_code == 302 and done["Location"] == "/operators/tenants/alpha/"
    assert tenant_a.client().get("/oauth/jwks").status_code == 403
    assert console.post("/operators/tenants/alpha/suspend/").status_code == 302  # a reload
    (suspended,) = _events("tenant.suspended")
    assert suspended.actor_id == str(operator.pk)
    assert suspended.changes == {"status": {"old": "active", "new": "suspended"}}

    assert console.post("/operators/tenants/alpha/reactivate/").status_code == 302
    assert tenant_a.client().get("/oauth/jwks").status_code == 200
    assert len(_events("tenant.reactivated")) == 1
    assert len(_events("tenant.suspended")) == 1


def test_unknown_tenants_are_404(console):
    for path in (
        "/operators/tenants/nope/",
        "/operators/tenants/nope/suspend/",
        "/operators/tenants/nope/delete/",
        "/operators/tenants/%00/",
        "/operators/tenants/" + "z" * 5000 + "/",
    ):
        assert console.get(path).status_code == 404, path


def test_delete_wants_a_suspended_tenant_and_its_slug_typed(operator, console):
    assert _new_tenant(console, "doomed").status_code == 302
    tenant = Tenant.objects.get(slug="doomed")
    host = "doomed.gatehouse.test"
    assert https_client(host).get("/oauth/jwks").status_code == 200

    active = console.post("/operators/tenants/doomed/delete/", {"slug": "doomed"})
    assert active.status_code == 409 and b"Suspend this tenant first" in active.content
    assert schema_exists(tenant.schema_name)

    console.post("/operators/tenants/doomed/suspend/")
    with connection.cursor() as cursor:
        # Provisioned in this test's transaction: its deferred foreign-key checks are still
        # pending, and PostgreSQL drops no table while they are. Across requests, as in
        # production, provisioning has long committed.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    page = console.get("/operators/tenants/doomed/delete/")
    assert page.status_code == 200 and b"cannot be undone" in page.content
    wrong = console.post("/operators/tenants/doomed/delete/", {"slug": "doome"})
    assert wrong.status_code == 400 and "Type “doomed” exactly" in wrong.content.decode()
    assert schema_exists(tenant.schema_name)

    gone = console.post("/operators/tenants/doomed/delete/", {"slug": "doomed"})
    assert gone.status_code == 302 and gone["Location"] == "/operators/"
    connection.set_schema_to_public()
    assert not schema_exists(tenant.schema_name)
    assert not Tenant.objects.filter(slug="doomed").exists()
    assert not Domain.objects.filter(domain=host).exists()
    assert https_client(host).get("/oauth/jwks").status_code == 404
    assert console.post("/operators/tenants/doomed/delete/", {"slug": "doomed"}).status_code == 404
    (event,) = _events("tenant.deleted")
    assert event.actor_id == str(operator.pk) and event.object_label == "doomed"
    assert event.changes == {"domains": [host]}


def test_delete_of_a_schema_still_in_use_says_so_and_keeps_everything(
    console, tenant_a, monkeypatch
):
    monkeypatch.setattr(tenant_services, "DELETE_LOCK_TIMEOUT_MS", 200)
    console.post("/operators/tenants/alpha/suspend/")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=False) as other:  # a request still at work
        other.execute(f'LOCK TABLE "{tenant_a.schema}"."oauth_client" IN ACCESS SHARE MODE')
        page = console.post("/operators/tenants/alpha/delete/", {"slug": "alpha"})
    assert page.status_code == 400
    assert "still in use by a running request or job" in page.content.decode()
    connection.set_schema_to_public()
    assert schema_exists(tenant_a.schema) and Tenant.objects.filter(slug="alpha").exists()
    assert not _events("tenant.deleted")


# --- the operators' audit log ------------------------------------------------------------


def test_the_audit_log_lists_the_operators_events_newest_first(operator, console, tenant_a):
    console.post("/operators/tenants/alpha/suspend/")
    console.post("/operators/tenants/alpha/reactivate/")
    page = console.get("/operators/audit/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.index("Tenant reactivated") < body.index("Tenant suspended")
    only = console.get("/operators/audit/", {"action": "tenant.suspended"}).content.decode()
    assert "Tenant suspended" in only and "Tenant reactivated" not in only
    for odd in ({"action": "a\x00"}, {"action": "x" * 10_000}, {"page": "0"}, {"page": "x"}):
        assert console.get("/operators/audit/", odd).status_code == 400
    # the operators' log is the public schema's, not a tenant's
    with tenant_a.context():
        assert not AuditEvent.objects.filter(action__startswith="tenant.").exists()


# --- Django admin and the home page -----------------------------------------------------


def test_django_admin_can_neither_add_nor_delete_tenants(tenant_a):
    connection.set_schema_to_public()
    root = User.objects.create_superuser("root", "root@gatehouse.test", OPERATOR_PASSWORD)
    web = https_client(BASE)
    web.force_login(root)
    assert web.get("/admin/tenants/tenant/add/").status_code == 403
    pk = Tenant.objects.get(slug="alpha").pk
    assert web.get(f"/admin/tenants/tenant/{pk}/delete/").status_code == 403
    assert web.get("/admin/tenants/tenant/").status_code == 200


def test_the_public_home_links_the_console_for_operators_only(console):
    assert b"/operators/" in console.get("/").content
    assert b"/operators/" not in https_client(BASE).get("/").content


def test_django_admins_own_sign_in_is_the_operators_throttled_one(operator, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "OPERATOR_TOTP_REQUIRED": False}
    web = https_client(BASE)
    sent = web.get("/admin/login/", {"next": "/admin/tenants/tenant/"})
    assert sent.status_code == 302
    assert sent["Location"] == "/operators/sign-in/?next=%2Fadmin%2Ftenants%2Ftenant%2F"
    posted = web.post("/admin/login/", {"username": "op", "password": OPERATOR_PASSWORD})
    assert posted.status_code == 302 and posted["Location"].startswith("/operators/sign-in/")
    assert web.get("/admin/").status_code == 302  # nothing posted there signed anyone in
    signed = web.post(
        "/operators/sign-in/",
        {"username": "op", "password": OPERATOR_PASSWORD, "next": "/admin/tenants/tenant/"},
    )
    assert signed["Location"] == "/admin/tenants/tenant/"
    assert web.get("/admin/").status_code == 200  # signed in (admin's own permissions apply)
