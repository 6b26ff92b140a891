"""Public-site pages: signup. Thin: the form validates, services provision."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_tenants.utils import schema_context

from kernel.accounts.models import User
from kernel.accounts.services import login_handoff_create
from kernel.conf import setting
from kernel.http import client_ip
from kernel.ratelimit import FixedWindow
from tenants.forms import SignupForm
from tenants.services import ProvisioningError, tenant_provision


def signup_limit() -> FixedWindow:
    """Signups one client IP may make per window (``GATEHOUSE["SIGNUP_THROTTLE"]``)."""
    limits = setting("SIGNUP_THROTTLE")
    return FixedWindow("signup:ip", limits["ATTEMPTS"], limits["WINDOW_SECONDS"])


@sensitive_post_parameters("password", "password_again")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    """Create a tenant and its first admin, then hand over to the tenant's console."""
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        limit = signup_limit()
        if not limit.allow(client_ip(request)):
            response = render(
                request,
                "signup/signup.html",
                {"form": form, "error": "Too many signups from your network. Try again later."},
                status=429,
            )
            response["Retry-After"] = str(limit.retry_after())
            return response
        data = form.cleaned_data
        try:
            result = tenant_provision(
                slug=data["slug"],
                name=data["name"],
                admin_email=data["email"],
                admin_password=data["password"],
            )
        except ProvisioningError as exc:
            return render(
                request, "signup/signup.html", {"form": form, "error": str(exc)}, status=400
            )
        with schema_context(result.schema):
            admin = User.objects.get(username=data["email"])
            token = login_handoff_create(user=admin)
        # The same builder as the tenant's discovery document (configured scheme and port).
        issuer = result.issuer
        response = render(
            request,
            "signup/done.html",
            {
                "result": result,
                "issuer": issuer,
                "handoff_url": f"{issuer}/console/handoff/",
                "token": token,
            },
        )
        response["Referrer-Policy"] = "no-referrer"
        return response
    return render(request, "signup/signup.html", {"form": form}, status=400 if form.errors else 200)
