"""Tenant settings: token policy, allowed scopes and branding (POST, then redirect)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from oauth.console.forms.settings import BrandingForm, IssuerSettingsForm
from oauth.console.views.access import staff_required
from oauth.models import Branding, IssuerSettings
from oauth.services.branding import BrandingError, branding_update
from oauth.services.issuer import issuer_settings_update


def _issuer_initial() -> dict:
    row = IssuerSettings.load()
    initial = {name: getattr(row, name) for name in IssuerSettingsForm.base_fields}
    initial["scopes_supported"] = " ".join(row.scopes_supported)
    return initial


def _branding_initial() -> dict:
    row = Branding.load()
    return {"display_name": row.display_name, "primary_colour": row.primary_colour}


def _render(request, *, form=None, branding_form=None, status=200):
    context = {
        "form": form or IssuerSettingsForm(initial=_issuer_initial()),
        "branding_form": branding_form or BrandingForm(initial=_branding_initial()),
        "has_logo": Branding.objects.exclude(logo_sha256="").exists(),
    }
    return render(request, "console/settings.html", context, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    if request.method == "GET":
        return _render(request)
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


@staff_required
@require_POST
def branding_page(request):
    form = BrandingForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            branding_update(
                display_name=data["display_name"],
                primary_colour=data["primary_colour"],
                logo=data["logo"],
                remove_logo=data["remove_logo"],
            )
        except BrandingError as exc:
            form.add_error("logo", str(exc))
        else:
            messages.success(request, "Branding saved.")
            return redirect("console-settings")
    return _render(request, branding_form=form, status=400)


urlpatterns = [
    path("settings/", settings_page, name="console-settings"),
    path("settings/branding/", branding_page, name="console-branding"),
]
