"""Plans: the list (each with how many tenants are on it), creating and changing one. A
plan's limits apply to every tenant on it within ``GATEHOUSE["TENANT_CACHE_SECONDS"]``.
Writes go through ``tenants.services.plan_save``, audited in the public schema."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods

from kernel.conf import setting
from oauth.selectors import RATE_LIMIT_FIELDS
from tenants.console.forms.tenants import LIMIT_HEADINGS, LIMIT_LABELS, PlanForm
from tenants.console.views.access import operator_required
from tenants.models import Plan
from tenants.selectors import plan_by_slug
from tenants.services import ProvisioningError, plan_save


def _defaults() -> dict[str, int]:
    return {name: setting("RATE_LIMITS")[name] for name in RATE_LIMIT_FIELDS}


@operator_required
@require_GET
def plan_list(request):
    plans = Plan.objects.annotate(tenant_count=Count("tenants")).order_by("name", "slug")
    rows = [(plan, [plan.rate_limits.get(name) for name in LIMIT_LABELS]) for plan in plans]
    context = {
        "rows": rows,
        "headings": [(LIMIT_HEADINGS[name], LIMIT_LABELS[name]) for name in LIMIT_LABELS],
        "window": setting("RATE_LIMITS")["WINDOW_SECONDS"],
        "failure_window": setting("RATE_LIMITS")["FAILURE_WINDOW_SECONDS"],
    }
    return render(request, "operators/plans.html", context)


@operator_required
@require_http_methods(["GET", "POST"])
def plan_edit(request, slug: str | None = None):
    plan = None
    if slug is not None:
        plan = plan_by_slug(slug)
        if plan is None:
            raise Http404("No such plan.")
    initial = {"slug": plan.slug, "name": plan.name, **plan.rate_limits} if plan else {}
    form = PlanForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        defaults=_defaults(),
        editing=plan is not None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if plan is None and plan_by_slug(data["slug"]) is not None:
            form.add_error("slug", "A plan with this slug already exists.")
        else:
            try:
                saved = plan_save(
                    slug=plan.slug if plan else data["slug"],
                    name=data["name"],
                    rate_limits=form.limits(),
                )
            except ProvisioningError as exc:
                form.add_error(None, f"The plan could not be saved: {exc}.")
            else:
                messages.success(request, f"Plan {saved.name} is saved.")
                return redirect("operators-plans")
    context = {"form": form, "plan": plan}
    return render(request, "operators/plan_edit.html", context, status=400 if form.errors else 200)


urlpatterns = [
    path("plans/", plan_list, name="operators-plans"),
    path("plans/new/", plan_edit, name="operators-plan-new"),
    path("plans/<slug:slug>/", plan_edit, name="operators-plan"),
]
