"""The operators' own audit log: the public schema's events (tenants provisioned,
suspended, reactivated, deleted; operators' sign-ins), newest first, by action, a page at a
time without a COUNT."""

from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from kernel.audit.selectors import audit_events, changes_for_display
from tenants.console.forms.audit import OperatorAuditFilterForm
from tenants.console.views.access import PAGE_SIZE, operator_required

ACTION_WORDS = {
    "tenant.provisioned": "Tenant created",
    "tenant.suspended": "Tenant suspended",
    "tenant.reactivated": "Tenant reactivated",
    "tenant.deleted": "Tenant deleted",
    "operator.signed_in": "Operator signed in",
    "operator.sign_in_failed": "Failed operator sign-in",
}


@operator_required
@require_GET
def audit(request):
    form = OperatorAuditFilterForm(request.GET)
    rows, has_next, number = [], False, 1
    if form.is_valid():
        number = form.cleaned_data.get("page") or 1
        start = (number - 1) * PAGE_SIZE
        events = list(
            audit_events(action=form.cleaned_data["action"])[start : start + PAGE_SIZE + 1]
        )
        has_next = len(events) > PAGE_SIZE
        rows = [
            {
                "event": event,
                "words": ACTION_WORDS.get(event.action, event.action),
                "changes": changes_for_display(event.changes),
            }
            for event in events[:PAGE_SIZE]
        ]
    context = {
        "form": form,
        "rows": rows,
        "number": number,
        "has_next": has_next,
        "has_previous": number > 1,
        "actions": list(ACTION_WORDS),
        "zone": timezone.get_current_timezone_name(),
    }
    return render(request, "operators/audit.html", context, status=200 if form.is_valid() else 400)


urlpatterns = [
    path("audit/", audit, name="operators-audit"),
]
