"""Registration: the tenant's dynamic registration and metadata document policy, and its
initial access tokens (minted here, each shown once; revoked here). Policy writes answer
with a redirect; minting answers the POST itself with the token, guarded by a one-time form
token like the client secret pages."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from oauth.console.forms.registration import InitialAccessTokenForm, RegistrationPolicyForm
from oauth.console.views.access import once_claim, once_token, staff_required
from oauth.models import InitialAccessToken, RegistrationPolicy
from oauth.registration.services import (
    PolicyError,
    initial_access_token_create,
    initial_access_token_revoke,
    policy_snapshot,
    registration_policy_update,
)


def _policy_initial() -> dict:
    initial = policy_snapshot(RegistrationPolicy.load())
    for name in ("allowed_redirect_hosts", "resources", "document_hosts"):
        initial[name] = " ".join(initial[name])
    return initial


def _render(request, *, form=None, token_form=None, status=200):
    context = {
        "form": form or RegistrationPolicyForm(initial=_policy_initial()),
        "token_form": token_form or InitialAccessTokenForm(),
        "tokens": InitialAccessToken.objects.all()[:100],
        "once": once_token(),
    }
    return render(request, "console/registration.html", context, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def registration_page(request):
    if request.method == "GET":
        return _render(request)
    form = RegistrationPolicyForm(request.POST)
    if form.is_valid():
        try:
            registration_policy_update(**form.cleaned_data)
        except PolicyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "Registration policy saved.")
            return redirect("console-registration")
    return _render(request, form=form, status=400)


@staff_required
@require_POST
def token_create(request):
    if not once_claim(request):
        messages.info(request, "That form was already submitted; the token was shown once.")
        return redirect("console-registration")
    form = InitialAccessTokenForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            row, value = initial_access_token_create(
                expires_in=data["expires_in_hours"] * 3600,
                uses=data["uses"],
                scopes=data["scopes"],
                redirect_hosts=data["redirect_hosts"],
                label=data["label"],
            )
        except PolicyError as exc:
            form.add_error(None, str(exc))
        else:
            return render(
                request, "console/initial_access_token.html", {"row": row, "value": value}
            )
    return _render(request, token_form=form, status=400)


@staff_required
@require_POST
def token_revoke(request, pk: int):
    row = get_object_or_404(InitialAccessToken, pk=pk)
    initial_access_token_revoke(token=row)
    messages.success(request, f"{row} revoked.")
    return redirect("console-registration")


urlpatterns = [
    path("registration/", registration_page, name="console-registration"),
    path("registration/tokens/", token_create, name="console-registration-token"),
    path(
        "registration/tokens/<int:pk>/revoke/",
        token_revoke,
        name="console-registration-token-revoke",
    ),
]
