"""The device authorization endpoint (RFC 8628 §3.1, JSON) and the user's pages on the
tenant host (§3.3): ``/device`` (enter the user code, or confirm the one in
``verification_uri_complete``), sign-in through ``/oauth/login`` with ``next``, then
``/device/consent`` (allow or deny).

Every form is CSRF-protected and every page refuses to be framed. The device authorization
the user code named is remembered in the session (its id only), so the code is typed once
and survives the sign-in; the consent page checks it again, and the decision is taken under
the row's lock (``services.device_authorization_decide``). Wrong codes are throttled per
client IP and per tenant (``oauth.device.throttle``). The consent page is shown every time:
§5.4 (remote phishing) is why it warns to allow only a device the user just started.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from kernel.http import client_ip
from oauth.device import codes, selectors, services, throttle
from oauth.models import DeviceAuthorization
from oauth.responses import page, redirect
from oauth.server import server
from oauth.services import sign_in
from oauth.views.authorize import SCOPE_WORDS
from oauth.views.endpoints import _oauth_endpoint

#: The session remembers which device authorization the user's code named (its id).
DEVICE_SESSION_KEY = "gatehouse_device_authorization"
#: The rate limits of ``oauth.ratelimits``, counted for this endpoint on its own.
DEVICE_AUTHORIZATION = "device_authorization"


@_oauth_endpoint(DEVICE_AUTHORIZATION)
def device_authorization(request, oauth):
    """§3.1: POST only, the client authenticated, rate limited like the token endpoint."""
    return server.create_endpoint_response(DEVICE_AUTHORIZATION, oauth)


def _render(request, template: str, context: dict, status: int = 200):
    context = {"tenant": getattr(request, "tenant", None), **context}
    return page(render(request, template, context, status=status))


def _problem(request, message: str, status: int = 400):
    return _render(request, "oauth/device_problem.html", {"message": message}, status)


def _why_not_usable(row: DeviceAuthorization) -> str:
    """What the user is told about a code that exists but cannot be approved, or ""."""
    if row.state != DeviceAuthorization.State.PENDING:
        return "This code has already been used. Start again on your device to get a new one."
    if row.expires_at <= timezone.now():
        return "This code has expired. Start again on your device to get a new one."
    if row.client.disabled:
        return "The application that asked for this code is disabled."
    return ""


def _code_form(request, value: str, *, error: str = "", status: int = 200):
    return _render(request, "oauth/device.html", {"user_code": value, "error": error}, status)


def _login_url() -> str:
    return f"{reverse('oauth-login')}?{urlencode({'next': reverse('device-consent')})}"


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def device(request):
    """§3.3: the user code form. ``?user_code=`` (``verification_uri_complete``) fills it
    in, but the user still confirms it (§3.3.1). A code that names a pending request goes
    on to the consent page, through the sign-in when the user is not signed in yet."""
    if request.method == "GET":
        raw = (request.GET.get("user_code") or "")[:32]
        normal = codes.normalise(raw)
        return _code_form(request, codes.display(normal) if normal else raw)
    raw = (request.POST.get("user_code") or "")[:32]
    guess = throttle.reserve(ip=client_ip(request))
    if not guess.admitted:
        wait = guess.retry_after
        response = _code_form(
            request,
            raw,
            error=f"Too many wrong codes. Try again in {wait} second{'s' if wait != 1 else ''}.",
            status=429,
        )
        response["Retry-After"] = str(wait)
        return response
    normal = codes.normalise(raw)
    row = selectors.device_authorization_by_user_code(normal) if normal else None
    if row is None:
        return _code_form(
            request,
            raw,
            error="This code is not known. Check the code shown on your device and try again.",
            status=400,
        )
    throttle.not_a_guess(guess)
    problem = _why_not_usable(row)
    if problem:
        return _problem(request, problem)
    request.session[DEVICE_SESSION_KEY] = row.pk
    if not request.user.is_authenticated:
        return redirect(_login_url())
    return redirect(reverse("device-consent"))


def _auth_time(request) -> datetime:
    stamp = request.session.get(sign_in.AUTH_TIME_SESSION_KEY) or time.time()
    return datetime.fromtimestamp(int(stamp), tz=UTC)


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def device_consent(request):
    """§3.3: the signed-in user sees which application asks for which scopes, and allows
    or denies; the answer goes to the device at its next poll (§3.5)."""
    pk = request.session.get(DEVICE_SESSION_KEY)
    row = selectors.device_authorization_by_id(pk) if isinstance(pk, int) else None
    if row is None:
        return _problem(request, "Enter the code shown on your device first.")
    if not request.user.is_authenticated:
        return redirect(_login_url())
    problem = _why_not_usable(row)
    if problem:
        request.session.pop(DEVICE_SESSION_KEY, None)
        return _problem(request, problem)
    if request.method == "GET":
        scopes = [(s, SCOPE_WORDS.get(s, f"Use “{s}”")) for s in row.scope.split()]
        context = {"client": row.client, "scopes": scopes, "user": request.user}
        return _render(request, "oauth/device_consent.html", context)
    decision = request.POST.get("decision")
    if decision not in ("allow", "deny"):
        return _problem(request, "Choose Allow or Deny.")
    outcome = services.device_authorization_decide(
        authorization_id=row.pk,
        user=request.user,
        approve=decision == "allow",
        auth_time=_auth_time(request),
        amr=list(request.session.get(sign_in.AMR_SESSION_KEY) or []),
    )
    request.session.pop(DEVICE_SESSION_KEY, None)
    if outcome is services.Decision.EXPIRED:
        return _problem(request, "This code has expired. Start again on your device.")
    if outcome is services.Decision.ALREADY_DECIDED:
        return _problem(request, "This code has already been used.")
    context = {"client": row.client, "approved": decision == "allow"}
    return _render(request, "oauth/device_done.html", context)
