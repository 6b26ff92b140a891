"""The password-reset pages on a tenant's host (the link in the reset email).

The link's token leaves the address bar at once: the first page puts it in the session and
redirects to a token-less page, so it is not kept in history or sent on in a Referer.
"""

from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from kernel.accounts.forms import SetPasswordForm
from kernel.accounts.services import (
    UserError,
    password_reset_complete,
    password_reset_user,
    password_rules,
)
from kernel.views import error_response

_SESSION_KEY = "password_reset_token"


def _expired(request):
    return error_response(
        request,
        400,
        "Link expired",
        "This password-reset link was already used or has expired. Ask for a new one.",
    )


@sensitive_variables("token")
@never_cache
@require_GET
def reset_start(request, token: str):
    if password_reset_user(token=token) is None:
        # Answered on a token-less address, so the 400 logged says nothing of the token.
        return redirect("account-reset-invalid")
    request.session[_SESSION_KEY] = token
    return redirect("account-reset-new")


@sensitive_variables("token")
@sensitive_post_parameters("password", "confirm")
@never_cache
@require_http_methods(["GET", "POST"])
def reset_new(request):
    token = request.session.get(_SESSION_KEY, "")
    user = password_reset_user(token=token)
    if user is None:
        return _expired(request)
    form = SetPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_complete(token=token, password=form.cleaned_data["password"])
        except UserError as exc:
            form.add_error("password", str(exc)[:1].upper() + str(exc)[1:])
        else:
            # The user's sessions have ended (this one too, if it was theirs): start afresh.
            request.session.flush()
            return redirect("account-reset-done")
    context = {"form": form, "subject": user, "rules": password_rules()}
    return render(request, "accounts/reset.html", context, status=400 if form.errors else 200)


@never_cache
@require_GET
def reset_invalid(request):
    return _expired(request)


@never_cache
@require_GET
def reset_done(request):
    return render(request, "accounts/reset_done.html")


urlpatterns = [
    path("reset/new/", reset_new, name="account-reset-new"),
    path("reset/done/", reset_done, name="account-reset-done"),
    path("reset/invalid/", reset_invalid, name="account-reset-invalid"),
    path("reset/<str:token>/", reset_start, name="account-reset"),
]
