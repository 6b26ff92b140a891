"""The MFA pages on a tenant's host (``/account/mfa/``): the user's factors, enrolment of
an authenticator app (TOTP) or a passkey, recovery codes, and the second step of sign-in.

Every form is CSRF-protected and answers with a redirect (POST-redirect-GET); the passkey
steps are JSON calls from the page's script, which sends the CSRF token in ``X-CSRFToken``.
WebAuthn's relying party id is the tenant's host name and its origin the page's own, so a
passkey made at one tenant is refused by every other (WebAuthn §5.1.3, §7.2: rp id hash and
origin), besides not existing in the other tenant's schema.
"""

from __future__ import annotations

import json
import time

from django.contrib.auth import authenticate
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from kernel.conf import setting
from kernel.http import client_ip
from kernel.ratelimit import FixedWindow
from oauth.mfa import pending as pending_sign_in
from oauth.mfa import selectors, services
from oauth.mfa.forms import CodeForm, ConfirmForm, NameForm
from oauth.mfa.offer import totp_offer
from oauth.oidc import acr
from oauth.responses import page as _page
from oauth.services import sign_in
from oauth.views.authorize import _safe_next

_TOTP_SECRET_SESSION_KEY = "gatehouse_mfa_totp_secret"
_FRESH_CODES_SESSION_KEY = "gatehouse_mfa_fresh_codes"
_WEBAUTHN_SESSION_KEY = "gatehouse_mfa_webauthn"
#: How long a WebAuthn challenge may wait for the browser's answer (the options' timeout).
_CHALLENGE_SECONDS = 300


def _attempts() -> FixedWindow:
    """Second-factor attempts per user (a stolen password must not try a million codes)."""
    config = setting("MFA")
    return FixedWindow("mfa-attempts", int(config["ATTEMPTS"]), int(config["WINDOW_SECONDS"]))


def _render(request, template: str, context: dict | None = None, status: int = 200):
    return _page(render(request, template, context or {}, status=status))


def _to_login(request) -> HttpResponse:
    return redirect(f"{reverse('oauth-login')}?next={request.path}")


def _rp(request) -> tuple[str, str]:
    """WebAuthn relying party id (the host name, no port) and the expected origin."""
    host = request.get_host()
    return host.split(":", 1)[0], f"{request.scheme}://{host}"


def _rp_name(request) -> str:
    tenant = getattr(request, "tenant", None)
    return getattr(tenant, "name", "") or request.get_host()


def _enrolling(request):
    """The user adding a factor: the signed-in one, or the one whose sign-in waits for an
    enrolment the policy requires (then also the pending state)."""
    if request.user.is_authenticated:
        state = pending_sign_in.current(request)
        return request.user, (state if state is not None and state.enrol else None)
    state = pending_sign_in.current(request)
    if state is not None and state.enrol:
        return state.user, state
    return None, None


def _keep_codes(request, codes: list[str], next_url: str) -> None:
    """Until the next page shows them, the codes wait in the session, encrypted."""
    request.session[_FRESH_CODES_SESSION_KEY] = {
        "codes": services.seal_secret(" ".join(codes)),
        "next": next_url,
    }


def _show_codes_then(request, codes: list[str] | None, next_url: str) -> HttpResponse:
    """Recovery codes are shown once, on the page after the redirect."""
    if codes:
        _keep_codes(request, codes, next_url)
        return redirect("mfa-recovery-codes")
    return redirect(next_url)


def _json_error(message: str, status: int = 400) -> JsonResponse:
    response = JsonResponse(
        {"error": "invalid_request", "error_description": message}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _remember_challenge(request, purpose: str, challenge: bytes) -> None:
    request.session[_WEBAUTHN_SESSION_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
    }


def _take_challenge(request, purpose: str) -> bytes | None:
    """The challenge of this session's last options for ``purpose``, usable once."""
    state = request.session.pop(_WEBAUTHN_SESSION_KEY, None)
    if not isinstance(state, dict) or state.get("purpose") != purpose:
        return None
    if time.time() - int(state.get("at") or 0) > _CHALLENGE_SECONDS:
        return None
    return base64url_to_bytes(state["challenge"])


def _options_response(options_json: str) -> HttpResponse:
    response = HttpResponse(options_json, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _confirmed(request, user, form: ConfirmForm) -> bool:
    """The password or a current TOTP code, again (re-confirmation before removal)."""
    password = form.cleaned_data.get("password")
    if password:
        return authenticate(request, username=user.get_username(), password=password) is not None
    return services.totp_verify(user=user, code=form.cleaned_data.get("code") or "")


# -- the user's factors ---------------------------------------------------------------


@never_cache
@require_GET
def account(request):
    """The user's second factors, with links to add and remove them."""
    if not request.user.is_authenticated:
        return _to_login(request)
    context = {
        "factors": selectors.factors(request.user),
        "enabled": selectors.mfa_enabled(),
        "required": selectors.factor_required(request.user),
    }
    return _render(request, "mfa/account.html", context)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def totp_add(request):
    """Add an authenticator app: a QR code and the secret in text, saved only once a code
    from the app proves it holds the secret (RFC 6238)."""
    user, state = _enrolling(request)
    if user is None:
        return _to_login(request)
    if not selectors.mfa_enabled():
        return redirect("mfa-account")
    if selectors.has_totp(user):
        return redirect("mfa-account")
    error = None
    status = 200
    form = CodeForm(request.POST if request.method == "POST" else None)
    sealed = request.session.get(_TOTP_SECRET_SESSION_KEY)
    if request.method == "POST" and sealed and form.is_valid():
        try:
            codes = services.totp_enrol(
                user=user,
                sealed_secret=sealed,
                code=form.cleaned_data["code"],
                ip=client_ip(request),
            )
        except services.FactorError as exc:
            error, status = str(exc), 400
        else:
            request.session.pop(_TOTP_SECRET_SESSION_KEY, None)
            next_url = reverse("mfa-account")
            if state is not None:  # the enrolment the policy required finishes the sign-in
                next_url = pending_sign_in.finish(
                    request, state, method="password+totp enrolment", second=[acr.OTP]
                )
            return _show_codes_then(request, codes, next_url)
    elif request.method == "POST":
        error, status = "Enter the 6-digit code your app shows.", 400
    offer = totp_offer(
        request.session,
        _TOTP_SECRET_SESSION_KEY,
        account=user.get_username(),
        issuer=_rp_name(request),
        renew=request.method == "GET",
    )
    context = {
        **offer,
        "form": CodeForm(),
        "error": error,
        "required": state is not None,
    }
    return _render(request, "mfa/totp_add.html", context, status=status)


@never_cache
@require_GET
def recovery_codes(request):
    """The recovery codes just made, shown this once."""
    fresh = request.session.pop(_FRESH_CODES_SESSION_KEY, None)
    if not isinstance(fresh, dict):
        return redirect("mfa-account" if request.user.is_authenticated else "oauth-login")
    codes = services.unseal_secret(fresh["codes"]).split()
    context = {"codes": codes, "next": _safe_next(request, fresh.get("next"))}
    return _render(request, "mfa/recovery_codes.html", context)


@csrf_protect
@never_cache
@require_POST
def recovery_codes_regenerate(request):
    if not request.user.is_authenticated:
        return _to_login(request)
    if not selectors.has_factor(request.user):
        return redirect("mfa-account")
    codes = services.recovery_codes_regenerate(user=request.user, ip=client_ip(request))
    return _show_codes_then(request, codes, reverse("mfa-account"))


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def totp_remove(request):
    return _remove(request, factor="totp")


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def passkey_remove(request, passkey_id: int):
    return _remove(request, factor="passkey", passkey_id=passkey_id)


def _remove(request, *, factor: str, passkey_id: int | None = None) -> HttpResponse:
    """Remove a factor after the password or a current code is given again."""
    if not request.user.is_authenticated:
        return _to_login(request)
    user = request.user
    factors = selectors.factors(user)
    if factor == "totp":
        label = factors.totp and factors.totp.name
    else:
        label = next((p.name for p in factors.passkeys if p.pk == passkey_id), None)
    if not label:
        return redirect("mfa-account")
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    error, status = None, 200
    if request.method == "POST":
        key = str(user.pk)
        limiter = _attempts()
        if limiter.hit(key) > limiter.limit:
            return _too_many(request)
        if form.is_valid() and _confirmed(request, user, form):
            services.factor_remove(
                user=user, factor=factor, passkey_id=passkey_id, ip=client_ip(request)
            )
            return redirect("mfa-account")
        error, status = "That password or code is not right.", 400
    context = {"label": label, "error": error, "has_totp": factors.totp is not None}
    return _render(request, "mfa/remove.html", context, status=status)


# -- passkeys -------------------------------------------------------------------------


@never_cache
@require_GET
def passkey_add(request):
    """The page whose script registers a passkey (navigator.credentials.create)."""
    user, state = _enrolling(request)
    if user is None:
        return _to_login(request)
    if not selectors.mfa_enabled():
        return redirect("mfa-account")
    return _render(request, "mfa/passkey_add.html", {"required": state is not None})


@csrf_protect
@never_cache
@require_POST
def passkey_add_options(request):
    user, _state = _enrolling(request)
    if user is None or not selectors.mfa_enabled():
        return _json_error("Sign in first.", 403)
    rp_id, _origin = _rp(request)
    options, challenge = services.passkey_registration_options(
        user=user, rp_id=rp_id, rp_name=_rp_name(request)
    )
    _remember_challenge(request, "register", challenge)
    return _options_response(options)


@csrf_protect
@never_cache
@require_POST
def passkey_add_finish(request):
    user, state = _enrolling(request)
    if user is None or not selectors.mfa_enabled():
        return _json_error("Sign in first.", 403)
    challenge = _take_challenge(request, "register")
    if challenge is None:
        return _json_error("This registration has expired. Try again.")
    body = _json_body(request)
    rp_id, origin = _rp(request)
    try:
        _row, codes = services.passkey_register(
            user=user,
            credential_json=json.dumps(body.get("credential")),
            challenge=challenge,
            rp_id=rp_id,
            origin=origin,
            name=str(body.get("name") or ""),
            ip=client_ip(request),
        )
    except services.FactorError as exc:
        return _json_error(str(exc))
    next_url = reverse("mfa-account")
    if state is not None:
        next_url = pending_sign_in.finish(
            request, state, method="password+passkey enrolment", second=[acr.HWK]
        )
    if codes:
        _keep_codes(request, codes, next_url)
        next_url = reverse("mfa-recovery-codes")
    return JsonResponse({"redirect": next_url})


@csrf_protect
@never_cache
@require_POST
def passkey_rename(request, passkey_id: int):
    if not request.user.is_authenticated:
        return _to_login(request)
    form = NameForm(request.POST)
    if form.is_valid():
        services.passkey_rename(
            user=request.user,
            passkey_id=passkey_id,
            name=form.cleaned_data["name"],
            ip=client_ip(request),
        )
    return redirect("mfa-account")


# -- the second step of sign-in -------------------------------------------------------


def _too_many(request) -> HttpResponse:
    limiter = _attempts()
    response = _render(
        request,
        "mfa/challenge.html",
        {"error": "Too many attempts. Wait a few minutes and try again.", "blocked": True},
        status=429,
    )
    response["Retry-After"] = str(limiter.retry_after())
    return response


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def challenge(request):
    """After the password: a code from the app, a recovery code, or a passkey. Attempts
    are counted per user before any is checked (``GATEHOUSE["MFA"]["ATTEMPTS"]`` a window),
    so a stolen password cannot be followed by a brute force of 6-digit codes."""
    state = pending_sign_in.current(request)
    if state is None:
        return _render(
            request,
            "mfa/expired.html",
            {"login_url": reverse("oauth-login")},
            status=400 if request.method == "POST" else 200,
        )
    if state.enrol:
        return redirect("mfa-totp-add")
    user = state.user
    error, status = None, 200
    if request.method == "POST":
        limiter = _attempts()
        key = str(user.pk)
        if limiter.hit(key) > limiter.limit:
            return _too_many(request)
        method = "recovery" if request.POST.get("method") == "recovery" else "totp"
        form = CodeForm(request.POST)
        ok = False
        if form.is_valid():
            code = form.cleaned_data["code"]
            if method == "recovery":
                ok = services.recovery_code_use(user=user, code=code, ip=client_ip(request))
            else:
                ok = services.totp_verify(user=user, code=code)
        if ok:
            limiter.reset(key)
            label = "recovery code" if method == "recovery" else "totp"
            return redirect(
                pending_sign_in.finish(request, state, method=f"password+{label}", second=[acr.OTP])
            )
        services.second_factor_failure_record(user=user, method=method, ip=client_ip(request))
        error, status = "That code is not right. Try the current one.", 400
    factors = selectors.factors(user)
    context = {
        "has_totp": factors.totp is not None,
        "has_passkey": bool(factors.passkeys),
        "has_recovery": factors.recovery_codes_left > 0,
        "error": error,
    }
    return _render(request, "mfa/challenge.html", context, status=status)


@csrf_protect
@never_cache
@require_POST
def challenge_passkey_options(request):
    state = pending_sign_in.current(request)
    if state is None or state.enrol:
        return _json_error("Your sign-in has expired. Start again.", 403)
    rp_id, _origin = _rp(request)
    options, challenge_bytes = services.passkey_authentication_options(rp_id=rp_id, user=state.user)
    _remember_challenge(request, "second", challenge_bytes)
    return _options_response(options)


@csrf_protect
@never_cache
@require_POST
def challenge_passkey(request):
    state = pending_sign_in.current(request)
    if state is None or state.enrol:
        return _json_error("Your sign-in has expired. Start again.", 403)
    limiter = _attempts()
    key = str(state.user.pk)
    if limiter.hit(key) > limiter.limit:
        return _json_error("Too many attempts. Wait a few minutes and try again.", 429)
    challenge_bytes = _take_challenge(request, "second")
    if challenge_bytes is None:
        return _json_error("This sign-in step has expired. Try again.")
    rp_id, origin = _rp(request)
    try:
        check = services.passkey_authenticate(
            credential_json=json.dumps(_json_body(request).get("credential")),
            challenge=challenge_bytes,
            rp_id=rp_id,
            origin=origin,
            user=state.user,
        )
    except services.FactorError as exc:
        services.second_factor_failure_record(
            user=state.user, method="passkey", ip=client_ip(request)
        )
        return _json_error(str(exc))
    limiter.reset(key)
    next_url = pending_sign_in.finish(request, state, method="password+passkey", second=check.amr)
    return JsonResponse({"redirect": next_url})


@csrf_protect
@never_cache
@require_POST
def passkey_login_options(request):
    """Options for signing in with a passkey instead of a password (no user name: the
    authenticator offers its discoverable credentials for this host)."""
    if not selectors.mfa_enabled():
        return _json_error("Passkeys are turned off here.", 403)
    rp_id, _origin = _rp(request)
    options, challenge_bytes = services.passkey_authentication_options(rp_id=rp_id)
    _remember_challenge(request, "login", challenge_bytes)
    return _options_response(options)


@csrf_protect
@never_cache
@require_POST
def passkey_login(request):
    """Sign in with a passkey alone: its ``amr`` is ``hwk``/``swk``, plus ``mfa`` when the
    authenticator verified the user (RFC 8176 §2)."""
    if not selectors.mfa_enabled():
        return _json_error("Passkeys are turned off here.", 403)
    challenge_bytes = _take_challenge(request, "login")
    if challenge_bytes is None:
        return _json_error("This sign-in has expired. Try again.")
    body = _json_body(request)
    rp_id, origin = _rp(request)
    try:
        check = services.passkey_authenticate(
            credential_json=json.dumps(body.get("credential")),
            challenge=challenge_bytes,
            rp_id=rp_id,
            origin=origin,
        )
    except services.FactorError as exc:
        return _json_error(str(exc))
    user = check.credential.user
    if not user.is_active:
        return _json_error("This passkey is not registered here.")
    pending_sign_in.clear(request)
    sign_in.user_sign_in(request=request, user=user, method=sign_in.PASSKEY, amr=check.amr)
    return JsonResponse({"redirect": _safe_next(request, str(body.get("next") or ""))})
