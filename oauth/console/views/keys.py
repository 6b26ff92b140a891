"""Signing keys: the live keys, what each signed last, and rotation (OIDC Core §10.1.1).

"Rotate now" is offered when every JWKS a relying party may hold already lists the next
keys (``signing.selectors.rotation_readiness``); before that the page says from when, and
a forced rotation goes through a confirmation page.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.views.decorators.http import require_http_methods, require_safe

from oauth.console.views.access import staff_required
from oauth.models import SigningKey
from oauth.signing import selectors as key_selectors
from oauth.signing import services as key_services

DATE_FORMAT = "Y-m-d H:i T"


def _when(moment) -> str:
    return format_date(timezone.localtime(moment), DATE_FORMAT) if moment else "later"


@staff_required
@require_http_methods(["GET", "POST"])
def keys(request):
    if request.method == "POST":
        # force=1 comes from the confirmation page (keys_force).
        outcome = key_services.rotate(force=request.POST.get("force") == "1")
        if outcome.rotated:
            messages.success(
                request,
                "Signing keys rotated: the next keys now sign, and the previous ones keep "
                f"verifying until {_when(outcome.retire_after)}.",
            )
        else:
            messages.error(
                request,
                "The keys were not rotated: applications may still hold a copy of your public "
                "keys from before the next keys were published. Rotating is safe from "
                f"{_when(outcome.safe_at)}.",
            )
        return redirect("console-keys")
    live = SigningKey.objects.exclude(state=SigningKey.State.RETIRED).order_by("alg", "state")
    context = {
        "keys": live,
        "safe_at": key_selectors.rotation_readiness(),
        "max_age": key_selectors.jwks_max_age(),
    }
    return render(request, "console/keys.html", context)


@staff_required
@require_safe
def keys_force(request):
    """Confirmation before a rotation that some relying parties may not be ready for."""
    context = {"safe_at": key_selectors.rotation_readiness()}
    return render(request, "console/keys_force.html", context)


urlpatterns = [
    path("keys/", keys, name="console-keys"),
    path("keys/force/", keys_force, name="console-keys-force"),
]
