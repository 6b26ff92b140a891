"""Tenant settings: token policy, allowed scopes and branding (POST, then redirect)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from kernel.accounts.models import AccountPolicy
from kernel.accounts.services import UserError, account_policy_update
from oauth.console.forms.settings import AccountSettingsForm, BrandingForm, IssuerSettingsForm
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


def _accounts_initial() -> dict:
    row = AccountPolicy.load()
    return {
        "email_sender_name": row.email_sender_name,
        "email_verification_required": row.email_verification_required,
    }


def _render(request, *, form=None, branding_form=None, accounts_form=None, status=200):
    context = {
        "accounts_form": accounts_form or AccountSettingsForm(initial=_accounts_initial()),
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


@staff_required
@require_POST
def accounts_page(request):
    form = AccountSettingsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        if data["email_verification_required"] and not request.user.email_verified:
            # Otherwise the admin would lock themselves out at their next sign-in.
            form.add_error(
                "email_verification_required",
                "Confirm your own email address first (your account page sends the link).",
            )
        else:
            try:
                account_policy_update(**data)
            except UserError as exc:
                form.add_error("email_sender_name", str(exc))
            else:
                messages.success(request, "Account settings saved.")
                return redirect("console-settings")
    return _render(request, accounts_form=form, status=400)


urlpatterns = [
    path("settings/", settings_page, name="console-settings"),
    path("settings/accounts/", accounts_page, name="console-accounts"),
    path("settings/branding/", branding_page, name="console-branding"),
]
