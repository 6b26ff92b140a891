"""Tenant settings: token policy, allowed scopes and branding (POST, then redirect)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from oauth.console.forms.settings import IssuerSettingsForm
from oauth.console.views.access import staff_required
from oauth.models import IssuerSettings
from oauth.services.issuer import issuer_settings_update


def _issuer_initial() -> dict:
    row = IssuerSettings.load()
    initial = {name: getattr(row, name) for name in IssuerSettingsForm.base_fields}
    initial["scopes_supported"] = " ".join(row.scopes_supported)
    return initial


def _render(request, *, form, status=200):
    return render(request, "console/settings.html", {"form": form}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    if request.method == "GET":
        return _render(request, form=IssuerSettingsForm(initial=_issuer_initial()))
    form = IssuerSettingsForm(request.POST)
    if form.is_valid():
        try:
            issuer_settings_update(**form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Settings saved.")
            return redirect("console-settings")
    return _render(request, form=form, status=400)


urlpatterns = [
    path("settings/", settings_page, name="console-settings"),
]
