"""Tenants: the list (search, status, order; no COUNT and no per-schema query, so a page
costs the same at 10,000 tenants as at 10; users and clients from the workers' stored
``TenantUsage``), a tenant's page, provisioning, suspension and
reactivation, and deletion behind typing the slug. Every write is a ``tenants.services``
call, audited in the public schema; every form posts, then redirects (a reload repeats
nothing)."""

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.password_validation import password_validators_help_texts
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from kernel.audit.selectors import audit_events
from kernel.conf import setting
from kernel.http import public_url
from tenants.console.forms.tenants import (
    ConfirmSlugForm,
    TenantCreateForm,
    TenantFilterForm,
    TenantPlanForm,
)
from tenants.console.views.access import PAGE_SIZE, operator_required
from tenants.models import Tenant, TenantUsage
from tenants.selectors import primary_domain, tenant_by_slug, tenants_listed
from tenants.services import (
    ProvisioningError,
    tenant_delete,
    tenant_provision,
    tenant_set_plan,
    tenant_set_status,
)

#: Recent operators' events shown on a tenant's page.
RECENT_EVENTS = 10
#: What each status change is called on its confirmation page and button.
STATUS_CHANGES = {
    "suspend": {
        "status": Tenant.Status.SUSPENDED,
        "from": Tenant.Status.ACTIVE,
        "verb": "Suspend",
        "done": "suspended",
        "explain": "Its issuer stops answering: sign-ins, token requests and its console get "
        "a “suspended” page until you reactivate it. Nothing is deleted.",
    },
    "reactivate": {
        "status": Tenant.Status.ACTIVE,
        "from": Tenant.Status.SUSPENDED,
        "verb": "Reactivate",
        "done": "active again",
        "explain": "Its issuer answers again, with every client, user and key it had.",
    },
}


def _tenant_or_404(slug: str) -> Tenant:
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


def _zone() -> str:
    return timezone.get_current_timezone_name()


@operator_required
@require_GET
def tenant_list(request):
    form = TenantFilterForm(request.GET)
    rows, has_next, number = [], False, 1
    if form.is_valid():
        data = form.cleaned_data
        number = data.get("page") or 1
        zone = timezone.get_current_timezone()
        start, end = data.get("created_from"), data.get("created_to")
        tenants = tenants_listed(
            search=data["q"],
            status=data["status"],
            order=data["order"] or "newest",
            created_since=datetime.combine(start, time.min, tzinfo=zone) if start else None,
            created_until=datetime.combine(end, time.max, tzinfo=zone) if end else None,
            plan=data["plan"],
        )
        start = (number - 1) * PAGE_SIZE
        # One row past the page says whether there is a next one, without a COUNT.
        rows = list(tenants[start : start + PAGE_SIZE + 1])
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
    context = {
        "form": form,
        "rows": rows,
        "number": number,
        "has_next": has_next,
        "has_previous": number > 1,
        "zone": _zone(),
        "usage_minutes": setting("TENANT_USAGE_INTERVAL_SECONDS") // 60,
    }
    return render(
        request, "operators/tenants.html", context, status=200 if form.is_valid() else 400
    )


@operator_required
@require_GET
def tenant_detail(request, slug: str):
    tenant = _tenant_or_404(slug)
    domain = primary_domain(tenant)
    usage = TenantUsage.objects.filter(tenant=tenant).first()
    events = audit_events(object_type="tenant", object_id=str(tenant.pk))[:RECENT_EVENTS]
    context = {
        "tenant": tenant,
        "domains": list(tenant.domains.order_by("-is_primary", "domain")),
        "issuer": public_url(domain) if domain else None,
        "events": events,
        "usage": usage,
        "zone": _zone(),
        "plan_form": TenantPlanForm(initial={"plan": tenant.plan}),
    }
    return render(request, "operators/tenant.html", context)


@operator_required
@require_http_methods(["POST"])
def tenant_plan(request, slug: str):
    """Put the tenant on another plan; its limits change within seconds."""
    tenant = _tenant_or_404(slug)
    form = TenantPlanForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the plans listed.")
        return redirect("operators-tenant", slug=tenant.slug)
    plan = form.cleaned_data["plan"]
    tenant_set_plan(tenant=tenant, plan=plan)
    messages.success(request, f"Tenant {tenant.slug} is on {plan.name if plan else 'no plan'} now.")
    return redirect("operators-tenant", slug=tenant.slug)


@sensitive_post_parameters("admin_password")
@operator_required
@require_http_methods(["GET", "POST"])
def tenant_create(request):
    form = TenantCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = tenant_provision(
                slug=data["slug"],
                name=data["name"],
                admin_email=data["admin_email"],
                admin_password=data["admin_password"],
                domain=data["domain"] or None,
                plan=data["plan"].slug if data["plan"] else "",
            )
        except ProvisioningError as exc:
            form.add_error(None, f"The tenant could not be created: {exc}.")
        else:
            messages.success(request, f"Tenant {result.slug} is ready at {result.issuer}.")
            return redirect("operators-tenant", slug=result.slug)
    context = {"form": form, "password_rules": password_validators_help_texts()}
    return render(request, "operators/tenant_new.html", context, status=400 if form.errors else 200)


@operator_required
@require_http_methods(["GET", "POST"])
def tenant_status(request, slug: str, change: str):
    tenant = _tenant_or_404(slug)
    step = STATUS_CHANGES[change]
    if tenant.status != step["from"]:
        messages.info(request, f"Tenant {tenant.slug} is already {tenant.get_status_display()}.")
        return redirect("operators-tenant", slug=tenant.slug)
    if request.method == "POST":
        tenant_set_status(tenant=tenant, status=step["status"])
        messages.success(request, f"Tenant {tenant.slug} is {step['done']}.")
        return redirect("operators-tenant", slug=tenant.slug)
    return render(request, "operators/tenant_status.html", {"tenant": tenant, "step": step})


@operator_required
@require_http_methods(["GET", "POST"])
def tenant_remove(request, slug: str):
    tenant = _tenant_or_404(slug)
    form = ConfirmSlugForm(request.POST if request.method == "POST" else None, expected=tenant.slug)
    if request.method == "POST" and tenant.status == Tenant.Status.SUSPENDED and form.is_valid():
        try:
            tenant_delete(tenant=tenant)
        except ProvisioningError as exc:
            form.add_error(None, f"The tenant could not be deleted: {exc}.")
        else:
            messages.success(request, f"Tenant {slug} and everything in it are deleted.")
            return redirect("operators-tenants")
    status = 400 if request.method == "POST" else 200
    if tenant.status != Tenant.Status.SUSPENDED and request.method == "POST":
        status = 409
    return render(
        request, "operators/tenant_delete.html", {"tenant": tenant, "form": form}, status=status
    )


urlpatterns = [
    path("", tenant_list, name="operators-tenants"),
    path("tenants/new/", tenant_create, name="operators-tenant-new"),
    path("tenants/<slug:slug>/", tenant_detail, name="operators-tenant"),
    path(
        "tenants/<slug:slug>/suspend/",
        tenant_status,
        {"change": "suspend"},
        name="operators-tenant-suspend",
    ),
    path(
        "tenants/<slug:slug>/reactivate/",
        tenant_status,
        {"change": "reactivate"},
        name="operators-tenant-reactivate",
    ),
    path("tenants/<slug:slug>/plan/", tenant_plan, name="operators-tenant-plan"),
    path("tenants/<slug:slug>/delete/", tenant_remove, name="operators-tenant-delete"),
]
