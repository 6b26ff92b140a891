"""The tenant admin console (HTML, tenant hosts only). Thin: forms validate, services write.

Everything here runs in the request's tenant schema, so an admin sees and changes only their
own tenant's clients, users and keys. Every form is CSRF-protected; only the signup handoff
is exempt, because its single-use token is itself the proof (it is posted from the public
host, a different origin).
"""

import time

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kernel.accounts.models import User
from kernel.accounts.services import UserError, login_handoff_redeem, user_create
from kernel.views import error_response
from oauth.client_metadata import ClientError, ClientMetadata
from oauth.console.forms import ClientForm, UserForm
from oauth.models import Client, SigningKey, Token
from oauth.selectors import issuer_for_request
from oauth.services.clients import client_create, client_rotate_secret, client_set_disabled
from oauth.signing import services as key_services
from oauth.views.authorize import AUTH_TIME_SESSION_KEY

PAGE_SIZE = 50


def staff_required(view):
    """Signed-in staff of this tenant; others go to the tenant's sign-in page."""

    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"{reverse('oauth-login')}?next={request.path}")
        if not user.is_staff:
            return HttpResponseForbidden("The console is for this organisation's admins.")
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return never_cache(wrapped)


@csrf_exempt
@require_POST
def handoff(request):
    """Redeem the one-time token signup made, and sign its admin in on this host."""
    user = login_handoff_redeem(token=request.POST.get("token", ""))
    if user is None:
        return error_response(
            request,
            400,
            "Link expired",
            "This sign-in link was already used or has expired. Sign in at /console/.",
        )
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[AUTH_TIME_SESSION_KEY] = int(time.time())
    return redirect("console-home")


@staff_required
def home(request):
    issuer = issuer_for_request(request)
    context = {
        "issuer": issuer,
        "clients": Client.objects.count(),
        "users": User.objects.count(),
        "live_tokens": Token.objects.filter(
            revoked_at__isnull=True, access_expires_at__gt=timezone.now()
        ).count(),
    }
    return render(request, "console/home.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def clients(request):
    form = ClientForm(request.POST if request.method == "POST" else None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = client_create(metadata=ClientMetadata(**form.service_arguments()))
        except ClientError as exc:
            form.add_error(None, str(exc))
    page = Paginator(Client.objects.order_by("name", "pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    status = 400 if form.errors else 200
    context = {"form": form, "page": page, "created": created, "secret": secret}
    return render(request, "console/clients.html", context, status=status)


@staff_required
@require_POST
def client_secret_rotate(request, client_id: str):
    client = get_object_or_404(Client, client_id=client_id)
    if client.is_public:
        messages.error(request, "A public client has no secret.")
        return redirect("console-clients")
    secret = client_rotate_secret(client=client)
    return render(request, "console/secret.html", {"client": client, "secret": secret})


@staff_required
@require_POST
def client_toggle(request, client_id: str):
    client = get_object_or_404(Client, client_id=client_id)
    client_set_disabled(client=client, disabled=not client.disabled)
    return redirect("console-clients")


@sensitive_post_parameters("password")
@staff_required
@require_http_methods(["GET", "POST"])
def users(request):
    form = UserForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_create(
                username=data["username"],
                password=data["password"],
                email=data["email"] or "",
                is_staff=data["staff"],
            )
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"User {data['username']} created.")
            return redirect("console-users")
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:100]
    users_qs = User.objects.order_by("username")
    if query:
        users_qs = users_qs.filter(Q(username__icontains=query) | Q(email__icontains=query))
    page = Paginator(users_qs, PAGE_SIZE).get_page(request.GET.get("page"))
    status = 400 if form.errors else 200
    return render(
        request, "console/users.html", {"form": form, "page": page, "q": query}, status=status
    )


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
