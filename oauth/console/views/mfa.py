"""The tenant's MFA policy (``oauth.mfa``): off, optional, required for admins or for
everyone. Users without a factor whom the policy covers enrol at their next sign-in."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from oauth.console.forms.mfa import MFAPolicyForm
from oauth.console.views.access import staff_required
from oauth.mfa.selectors import policy_mode
from oauth.mfa.services import policy_set


@staff_required
@require_http_methods(["GET", "POST"])
def mfa_policy_page(request):
    form = MFAPolicyForm(
        request.POST if request.method == "POST" else None, initial={"mode": policy_mode()}
    )
    if request.method == "POST":
        if form.is_valid():
            policy_set(mode=form.cleaned_data["mode"])
            messages.success(request, "Two-step sign-in policy saved.")
            return redirect("console-mfa")
        return render(request, "console/mfa.html", {"form": form}, status=400)
    return render(request, "console/mfa.html", {"form": form})


urlpatterns = [
    path("settings/mfa/", mfa_policy_page, name="console-mfa"),
]
