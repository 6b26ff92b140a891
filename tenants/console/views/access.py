"""Who may use the operators' console: staff users of the public schema, signed in here.

The console exists on the public host only (``gatehouse.urls_public``): a tenant host has no
such URL, so no tenant's admin can reach it. Operators sign in with a password on a page of
its own, then a TOTP code (RFC 6238, ``oauth.mfa``'s devices, in the public schema) or one
of their recovery codes; an operator without an authenticator app enrols one right after the
password while ``GATEHOUSE["OPERATOR_TOTP_REQUIRED"]`` (the default). Failed attempts at
either step are throttled per client IP and per user name
(``GATEHOUSE["OPERATOR_SIGN_IN_THROTTLE"]``) and audited in the public schema's log. Between
the two steps the session holds only the operator's id, the time and the next page, for
``GATEHOUSE["MFA"]["PENDING_SECONDS"]``.
"""

import hashlib
import time

from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kernel.accounts.models import User
from kernel.audit.context import Actor
from kernel.conf import setting
from kernel.http import client_ip
from kernel.ratelimit import FixedWindow
from oauth.mfa import selectors as mfa_selectors
from oauth.mfa import services as mfa_services
from oauth.mfa.offer import totp_offer
from tenants.console.forms.access import OperatorCodeForm, OperatorSignInForm
from tenants.services import operator_sign_in_record

#: The half-finished sign-in between the password and the code (session key).
_PENDING = "operators_sign_in_pending"
#: The authenticator secret shown on the enrolment page, sealed, until a code confirms it.
_ENROL_SECRET = "operators_totp_secret"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

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
            if mfa_selectors.has_totp(user) or setting("OPERATOR_TOTP_REQUIRED"):
                request.session[_PENDING] = {
                    "user": str(user.pk),
                    "at": int(time.time()),
                    "next": context["next"],
                }
                step = (
                    "operators-sign-in-code" if mfa_selectors.has_totp(user) else "operators-totp"
                )
                return redirect(step)
            return _complete(request, user, context["next"])
        _failed(request, keys, request.POST.get("username", ""))
        return _secured(render(request, "operators/sign_in.html", context, status=400))
    return _secured(render(request, "operators/sign_in.html", context))


def _failed(request, keys: list[str], username: str) -> None:
    limit = sign_in_limit()
    for key in keys:
        limit.hit(key)
    operator_sign_in_record(
        username=username.replace("\x00", ""),
        actor=Actor(label="anonymous", ip=client_ip(request)),
        succeeded=False,
    )


def _complete(request, user: User, next_url: str):
    request.session.pop(_PENDING, None)
    login(request, user, backend=_MODEL_BACKEND)
    actor = Actor(id=str(user.pk), label=user.get_username(), ip=client_ip(request))
    operator_sign_in_record(username=user.get_username(), actor=actor, succeeded=True)
    return redirect(next_url)


def _pending(request) -> tuple[User, str] | None:
    """The operator who gave the right password in this session, still fresh and staff."""
    state = request.session.get(_PENDING)
    if not isinstance(state, dict):
        return None
    if time.time() - int(state.get("at") or 0) > setting("MFA")["PENDING_SECONDS"]:
        request.session.pop(_PENDING, None)
        return None
    user = User.objects.filter(pk=state.get("user"), is_active=True, is_staff=True).first()
    if user is None:
        request.session.pop(_PENDING, None)
        return None
    return user, state.get("next") or reverse("operators-tenants")


def _back_to_sign_in():
    return redirect("operators-sign-in")


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    """The second step: the operator's TOTP code, or one of their recovery codes."""
    pending = _pending(request)
    if pending is None:
        return _back_to_sign_in()
    user, next_url = pending
    if not mfa_selectors.has_totp(user):
        return redirect("operators-totp")
    form = OperatorCodeForm(request.POST if request.method == "POST" else None)
    context = {"form": form}
    if request.method == "POST":
        limit = sign_in_limit()
        keys = throttle_keys(client_ip(request), user.get_username())
        if any(limit.exceeded(key) for key in keys):
            context["error"] = "Too many failed sign-ins. Wait a few minutes and try again."
            response = render(request, "operators/sign_in_code.html", context, status=429)
            response["Retry-After"] = str(limit.retry_after())
            return _secured(response)
        if form.is_valid():
            code = form.cleaned_data["code"]
            if mfa_services.totp_verify(user=user, code=code) or mfa_services.recovery_code_use(
                user=user, code=code, ip=client_ip(request)
            ):
                return _complete(request, user, next_url)
        _failed(request, keys, user.get_username())
        context["error"] = "That code is not right. Use the newest code your app shows."
        return _secured(render(request, "operators/sign_in_code.html", context, status=400))
    return _secured(render(request, "operators/sign_in_code.html", context))


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def totp_enrol(request):
    """An authenticator app for an operator who has none: required right after the password
    (``OPERATOR_TOTP_REQUIRED``), or chosen by a signed-in operator. Saved once a code from
    the app proves it holds the secret; the recovery codes are shown once, then the
    sign-in completes."""
    pending = _pending(request)
    if pending is not None:
        user, next_url = pending
    elif request.user.is_authenticated and request.user.is_staff:
        user, next_url = request.user, reverse("operators-tenants")
    else:
        return _back_to_sign_in()
    if mfa_selectors.has_totp(user):
        return redirect("operators-sign-in-code" if pending else "operators-tenants")
    form = OperatorCodeForm(request.POST if request.method == "POST" else None)
    sealed = request.session.get(_ENROL_SECRET)
    error, status = None, 200
    if request.method == "POST" and sealed and form.is_valid():
        try:
            codes = mfa_services.totp_enrol(
                user=user,
                sealed_secret=sealed,
                code=form.cleaned_data["code"],
                ip=client_ip(request),
            )
        except mfa_services.FactorError as exc:
            error, status = str(exc), 400
        else:
            request.session.pop(_ENROL_SECRET, None)
            if pending is not None:
                request.session.pop(_PENDING, None)
                login(request, user, backend=_MODEL_BACKEND)
                actor = Actor(id=str(user.pk), label=user.get_username(), ip=client_ip(request))
                operator_sign_in_record(username=user.get_username(), actor=actor, succeeded=True)
            context = {"codes": codes or [], "next": next_url}
            return _secured(render(request, "operators/recovery_codes.html", context))
    elif request.method == "POST":
        error, status = "Enter the 6-digit code your app shows.", 400
    offer = totp_offer(
        request.session,
        _ENROL_SECRET,
        account=user.get_username(),
        issuer="Gatehouse operators",
        renew=request.method == "GET",
    )
    context = {
        **offer,
        "form": OperatorCodeForm(),
        "error": error,
        "required": pending is not None,
    }
    return _secured(render(request, "operators/totp_enrol.html", context, status=status))


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
    path("sign-in/code/", sign_in_code, name="operators-sign-in-code"),
    path("security/totp/", totp_enrol, name="operators-totp"),
    path("sign-out/", sign_out, name="operators-sign-out"),
]
