"""Who may use the operators' console: staff users of the public schema, signed in here.

The console exists on the public host only (``gatehouse.urls_public``): a tenant host has no
such URL, so no tenant's admin can reach it. Operators sign in with a password on a page of
its own; failed attempts are throttled per client IP and per user name
(``GATEHOUSE["OPERATOR_SIGN_IN_THROTTLE"]``) and audited in the public schema's log. TOTP
comes with the accounts issue.
"""

import hashlib

from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kernel.audit.context import Actor
from kernel.conf import setting
from kernel.http import client_ip
from kernel.ratelimit import FixedWindow
from tenants.console.forms.access import OperatorSignInForm
from tenants.services import operator_sign_in_record

#: Rows per page in every operators' list.
PAGE_SIZE = 50
#: Longest user name counted by the throttle (longer ones are cut, not refused).
_USERNAME_KEY_LENGTH = 150


def sign_in_limit() -> FixedWindow:
    limits = setting("OPERATOR_SIGN_IN_THROTTLE")
    return FixedWindow("operators:sign-in", limits["ATTEMPTS"], limits["WINDOW_SECONDS"])


def throttle_keys(ip: str, username: str) -> list[str]:
    """The throttle's keys for a sign-in from ``ip`` as ``username``; the name is hashed, so
    whatever was typed (spaces, control characters, any length) makes a valid cache key."""
    name = username[:_USERNAME_KEY_LENGTH].strip().lower().encode("utf-8", "replace")
    return [f"ip:{ip}", f"user:{hashlib.sha256(name).hexdigest()}"]


def _secured(response):
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def operator_required(view):
    """Signed-in operators (public schema staff); others go to the operators' sign-in, a
    signed-in non-operator gets a 403 page offering to switch account."""

    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            sign_in_url = reverse("operators-sign-in")
            return redirect(f"{sign_in_url}?{urlencode({'next': request.get_full_path()})}")
        if not user.is_staff:
            return _secured(render(request, "operators/forbidden.html", status=403))
        return _secured(view(request, *args, **kwargs))

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return never_cache(wrapped)


#: Where a sign-in may send the operator on: this console and what is left of Django admin.
_NEXT_PREFIXES = ("/operators/", "/admin/")


def _next_page(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    home = reverse("operators-tenants")
    if (
        "\x00" not in target
        and target.startswith(_NEXT_PREFIXES)
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    ):
        return target
    return home


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request):
    """The operators' sign-in page (password; TOTP when the accounts issue brings it)."""
    if request.method == "GET" and request.user.is_authenticated and request.user.is_staff:
        return redirect(_next_page(request))
    form = OperatorSignInForm(request, data=request.POST if request.method == "POST" else None)
    context = {"form": form, "next": _next_page(request)}
    if request.method == "POST":
        limit = sign_in_limit()
        keys = throttle_keys(client_ip(request), request.POST.get("username", ""))
        if any(limit.exceeded(key) for key in keys):
            context["error"] = "Too many failed sign-ins. Wait a few minutes and try again."
            response = render(request, "operators/sign_in.html", context, status=429)
            response["Retry-After"] = str(limit.retry_after())
            return _secured(response)
        if form.is_valid():
            user = form.get_user()
            login(request, user)
            actor = Actor(id=str(user.pk), label=user.get_username(), ip=client_ip(request))
            operator_sign_in_record(username=user.get_username(), actor=actor, succeeded=True)
            return redirect(context["next"])
        for key in keys:
            limit.hit(key)
        operator_sign_in_record(
            username=request.POST.get("username", "").replace("\x00", ""),
            actor=Actor(label="anonymous", ip=client_ip(request)),
            succeeded=False,
        )
        return _secured(render(request, "operators/sign_in.html", context, status=400))
    return _secured(render(request, "operators/sign_in.html", context))


@require_http_methods(["GET", "POST"])
def admin_sign_in(request):
    """Django admin's own sign-in page, replaced: it has no throttle and no audit, so its
    URL sends the browser to this one (nothing posted to it is read)."""
    return redirect(f"{reverse('operators-sign-in')}?{urlencode({'next': _next_page(request)})}")


@csrf_protect
@require_POST
def sign_out(request):
    logout(request)
    return redirect("operators-sign-in")


urlpatterns = [
    path("sign-in/", sign_in, name="operators-sign-in"),
    path("sign-out/", sign_out, name="operators-sign-out"),
]
