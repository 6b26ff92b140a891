"""The audit log: who did what, when, from where, to which object, and what changed.

Filtered and paginated on the page, exported whole (the same filter) as CSV or JSON lines,
streamed in keyset batches. The tenant's admins set how long events are kept; the workers'
purge deletes them after that (``workers.purge``, kind ``audit_events``).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, time

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_tenants.utils import schema_context

from kernel.audit.models import AuditEvent, AuditSettings
from kernel.audit.selectors import audit_events, changes_for_display, in_batches
from kernel.audit.services import AuditSettingsError, audit_settings_update
from oauth.console.forms.audit import AuditFilterForm, RetentionForm
from oauth.console.views.access import PAGE_SIZE, staff_required

#: Actions shown in words; any other is shown from its name ("client.secret_rotated" ->
#: "Client secret rotated").
ACTION_WORDS = {
    "admin.signed_in": "Admin signed in",
    "admin.sign_in_failed": "Failed admin sign-in",
    "security.refresh_token_reused": "Refresh token reused: the grant was revoked",
    "security.code_replayed": "Authorization code replayed: the grant was revoked",
    "audit.retention_changed": "Audit log retention changed",
}
#: Offered while typing in the action filter (families first).
ACTION_SUGGESTIONS = ("admin", "audit", "client", "key", "security", "settings", "user")
#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EXPORT_COLUMNS = (
    "time",
    "action",
    "description",
    "actor_id",
    "actor",
    "ip",
    "object_type",
    "object_id",
    "object_label",
    "changes",
)


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action) or action.replace(".", " ").replace("_", " ").capitalize()


def _row(event: AuditEvent) -> dict:
    return {
        "event": event,
        "words": action_words(event.action),
        "changes": changes_for_display(event.changes),
    }


def _filtered(form: AuditFilterForm):
    data = form.cleaned_data
    zone = timezone.get_current_timezone()
    start, end = data.get("date_from"), data.get("date_to")
    return audit_events(
        action=data.get("action", ""),
        actor=data.get("actor", ""),
        object_type=data.get("object_type", ""),
        object_id=data.get("object_id", ""),
        since=datetime.combine(start, time.min, tzinfo=zone) if start else None,
        until=datetime.combine(end, time.max, tzinfo=zone) if end else None,
    )


def _page(request, *, retention_form: RetentionForm | None = None, status: int = 200):
    form = AuditFilterForm(request.GET)
    settings = AuditSettings.load()
    retention_form = retention_form or RetentionForm(
        initial={"retention_days": settings.retention_days}
    )
    rows, page = [], None
    if form.is_valid():
        page = Paginator(_filtered(form), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [_row(event) for event in page]
    elif status == 200:
        status = 400
    context = {
        "form": form,
        "page": page,
        "filtered": page is not None,
        "rows": rows,
        "retention": settings.retention_days,
        "retention_form": retention_form,
        "suggestions": [*ACTION_SUGGESTIONS, *ACTION_WORDS],
        "zone": timezone.get_current_timezone_name(),
    }
    return render(request, "console/audit.html", context, status=status)


@staff_required
@require_GET
def audit(request):
    return _page(request)


@staff_required
@require_POST
def audit_retention(request):
    form = RetentionForm(request.POST)
    if form.is_valid():
        try:
            audit_settings_update(retention_days=form.cleaned_data["retention_days"])
        except AuditSettingsError as exc:
            form.add_error("retention_days", str(exc))
        else:
            days = form.cleaned_data["retention_days"]
            messages.success(request, f"Audit events are now kept for {days} days.")
            return redirect("console-audit")
    return _page(request, retention_form=form, status=400)


def _neutral(cell: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote
    (OWASP, CSV injection)."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def _record(event: AuditEvent) -> dict:
    return {
        "time": event.created_at.isoformat(),
        "action": event.action,
        "description": action_words(event.action),
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "ip": event.ip,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_label": event.object_label,
        "changes": event.changes,
    }


class _Line:
    """What ``csv.writer`` writes to: hands back each row instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(events):
    writer = csv.writer(_Line())
    yield writer.writerow(_EXPORT_COLUMNS)
    for event in events:
        record = _record(event)
        record["changes"] = json.dumps(record["changes"], ensure_ascii=False, sort_keys=True)
        yield writer.writerow([_neutral(str(record[column])) for column in _EXPORT_COLUMNS])


def _json_lines(events):
    for event in events:
        yield json.dumps(_record(event), ensure_ascii=False, sort_keys=True) + "\n"


_FORMATS = {
    "csv": ("text/csv; charset=utf-8", _csv_lines),
    "jsonl": ("application/x-ndjson; charset=utf-8", _json_lines),
}


@staff_required
@require_GET
def audit_export(request, fmt: str):
    """The filtered events, all of them, newest first, as a download."""
    if fmt not in _FORMATS:
        raise Http404
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return _page(request, status=400)
    content_type, lines = _FORMATS[fmt]
    events = _filtered(form)
    schema = connection.schema_name

    def stream():
        # Streamed after the view returns: name the schema rather than trust the connection.
        with schema_context(schema):
            yield from lines(in_batches(events))

    response = StreamingHttpResponse(stream(), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    slug = getattr(getattr(request, "tenant", None), "slug", "") or schema
    response["Content-Disposition"] = f'attachment; filename="audit-{slug}-{stamp}.{fmt}"'
    return response


urlpatterns = [
    path("audit/", audit, name="console-audit"),
    path("audit/retention/", audit_retention, name="console-audit-retention"),
    path("audit/export.<slug:fmt>", audit_export, name="console-audit-export"),
]
