"""Signing keys: the live keys, and rotation (OIDC Core §10.1.1)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from oauth.console.views.access import staff_required
from oauth.models import SigningKey
from oauth.signing import services as key_services


@staff_required
@require_http_methods(["GET", "POST"])
def keys(request):
    if request.method == "POST":
        outcome = key_services.rotate(force=request.POST.get("force") == "1")
        if outcome.rotated:
            messages.success(request, "Signing keys rotated: the next key is now current.")
        else:
            messages.error(request, f"Not rotated: {outcome.reason}")
        return redirect("console-keys")
    live = SigningKey.objects.exclude(state=SigningKey.State.RETIRED).order_by("alg", "state")
    return render(request, "console/keys.html", {"keys": live})


urlpatterns = [
    path("keys/", keys, name="console-keys"),
]
