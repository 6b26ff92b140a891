"""The account pages of a tenant host: the signed-in user's own account (``/account/``)
and the self-service pages that need no sign-in (forgotten password, email verification).

Every write is a POST answered with a redirect (POST-redirect-GET); ending a session and
revoking an app ask first on a confirmation page. Everything is looked up in the request's
tenant schema and under the signed-in user: another user's session id, another tenant's
client id or link is simply not found. Links' tokens leave the address bar at once (kept
in the session, as the reset pages do), so they are not in history or a Referer.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kernel.accounts.models import User, UserSession
from kernel.accounts.services import (
    UserError,
    email_verification_complete,
    email_verification_send,
    email_verification_user,
    password_reset_request,
    password_rules,
    user_change_password,
    user_profile_update,
    user_session_end,
    user_session_rekeyed,
)
from kernel.accounts.throttle import mail_request_wait
from kernel.http import client_ip
from kernel.views import error_response
from oauth.account import selectors
from oauth.account.forms import ChangePasswordForm, ForgotPasswordForm, ProfileForm
from oauth.account.mail import mail_site
from oauth.models import Client
from oauth.responses import page
from oauth.services.grants import grant_revoke

_VERIFY_TOKEN_KEY = "email_verification_token"
_VERIFY_USER_KEY = "email_verification_user"


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def _add_error(form, exc: UserError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, _sentence(str(exc)))


def sign_in_required(view):
    """The signed-in user's pages: anyone else goes to the tenant's sign-in page first."""

    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("oauth-login"))
        return page(view(request, *args, **kwargs))

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return never_cache(wrapped)


def _throttled(request, wait: int):
    response = error_response(
        request,
        429,
        "Too many requests",
        "Too many mails were asked for from here or for this account. Wait a while and try "
        "again, or check your spam folder for the mail already sent.",
    )
    response["Retry-After"] = str(wait)
    return response


# --- The account page -------------------------------------------------------------------------


def _account_page(request, *, profile_form=None, password_form=None, status=200):
    user = request.user
    context = {
        "profile_form": profile_form
        or ProfileForm(
            initial={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
            }
        ),
        "password_form": password_form or ChangePasswordForm(),
        "rules": password_rules(),
        "sessions": selectors.sessions(user=user, current_key=request.session.session_key),
        "apps": selectors.connected_apps(user=user),
        # The MFA devices section: the lead wires the MFA helper's template in here.
        "mfa_section_template": "mfa/_account_section.html",
    }
    return render(request, "account/index.html", context, status=status)


@sign_in_required
@require_GET
def account(request):
    return _account_page(request)


@sign_in_required
@require_POST
def profile(request):
    form = ProfileForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = user_profile_update(
                user=request.user,
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"] or "",
            )
        except UserError as exc:
            _add_error(form, exc)
        else:
            user = User.objects.get(pk=request.user.pk)
            if changed and user.email:
                email_verification_send(user=user, site=mail_site(request))
                messages.success(
                    request, f"Saved. We sent a link to {user.email}: open it to confirm."
                )
            else:
                messages.success(request, "Saved.")
            return redirect("account")
    return _account_page(request, profile_form=form, status=400)


@sensitive_post_parameters("current_password", "password", "confirm")
@sign_in_required
@require_POST
def password(request):
    form = ChangePasswordForm(request.POST)
    if form.is_valid():
        try:
            ended = user_change_password(
                user=request.user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["password"],
                keep_session_key=request.session.session_key,
            )
        except UserError as exc:
            _add_error(form, exc)
        else:
            old_key = request.session.session_key
            update_session_auth_hash(request, User.objects.get(pk=request.user.pk))
            user_session_rekeyed(old_key=old_key, new_key=request.session.session_key)
            others = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
            messages.success(request, f"Password changed.{others}")
            return redirect("account")
    return _account_page(request, password_form=form, status=400)


@sign_in_required
@require_POST
def verify_mine(request):
    """The signed-in user asks for a link to confirm their current address (throttled)."""
    user = request.user
    wait = mail_request_wait(kind="verify", ip=client_ip(request), target=str(user.pk))
    if wait is not None:
        return _throttled(request, wait)
    if email_verification_send(user=user, site=mail_site(request)):
        messages.success(request, f"We sent a link to {user.email}: open it to confirm.")
    elif user.email and not user.email_verified:
        messages.info(request, "A link was sent less than a minute ago: check your mail.")
    return redirect("account")


def _confirm(request, *, title: str, message: str, button: str):
    context = {"title": title, "message": message, "button": button}
    return render(request, "account/confirm.html", context)


@sign_in_required
@require_http_methods(["GET", "POST"])
def session_end(request, session_id: int):
    if session_id >= 2**63:
        raise Http404
    session = get_object_or_404(UserSession, pk=session_id, user=request.user)
    if session.session_key == request.session.session_key:
        messages.error(request, "This is the session you are using: sign out instead.")
        return redirect("account")
    if request.method == "POST":
        user_session_end(session=session)
        messages.success(request, "Session ended.")
        return redirect("account")
    return _confirm(
        request,
        title="End this session?",
        message=f"The session started {session.created_at:%Y-%m-%d %H:%M:%S %Z} from "
        f"{session.ip or 'an unknown address'} ends now; that device must sign in again.",
        button="End the session",
    )


@sign_in_required
@require_http_methods(["GET", "POST"])
def app_revoke(request, client_id: str):
    client = get_object_or_404(Client, client_id=client_id[:200])
    if not any(app.client.pk == client.pk for app in selectors.connected_apps(user=request.user)):
        raise Http404
    if request.method == "POST":
        grant_revoke(user=request.user, client=client)
        messages.success(request, f"{client.name} can no longer use your account.")
        return redirect("account")
    return _confirm(
        request,
        title=f"Revoke {client.name}?",
        message=f"{client.name} loses access at once: every token it holds for your account "
        "stops working, and it must ask for your consent again.",
        button="Revoke access",
    )


# --- Forgotten password -------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def forgot(request):
    """Ask for a reset link by email address or user name. The answer is the same whether
    or not an account matches; requests are throttled per IP and per address typed."""
    form = ForgotPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        identifier = form.cleaned_data["identifier"]
        wait = mail_request_wait(kind="reset", ip=client_ip(request), target=identifier)
        if wait is not None:
            return page(_throttled(request, wait))
        password_reset_request(identifier=identifier, site=mail_site(request))
        return redirect("account-forgot-sent")
    status = 400 if form.errors else 200
    return page(render(request, "account/forgot.html", {"form": form}, status=status))


@never_cache
@require_GET
def forgot_sent(request):
    return page(render(request, "account/forgot_sent.html"))


# --- Email verification -----------------------------------------------------------------------


def _verify_expired(request):
    return error_response(
        request,
        400,
        "Link expired",
        "This verification link was already used or has expired. Sign in to get a new one.",
    )


@sensitive_variables("token")
@never_cache
@require_GET
def verify_start(request, token: str):
    if email_verification_user(token=token) is None:
        return redirect("account-verify-invalid")
    request.session[_VERIFY_TOKEN_KEY] = token
    return redirect("account-verify")


@sensitive_variables("token")
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request):
    """Confirm the address with a button: a link opened by a mail scanner verifies
    nothing."""
    token = request.session.get(_VERIFY_TOKEN_KEY, "")
    user = email_verification_user(token=token)
    if user is None:
        return page(_verify_expired(request))
    if request.method == "POST":
        try:
            email_verification_complete(token=token)
        except UserError:
            return page(_verify_expired(request))
        request.session.pop(_VERIFY_TOKEN_KEY, None)
        return redirect("account-verify-done")
    return page(render(request, "account/verify.html", {"subject": user}))


@never_cache
@require_GET
def verify_invalid(request):
    return page(_verify_expired(request))


@never_cache
@require_GET
def verify_done(request):
    return page(render(request, "account/verify_done.html"))


def verification_required(request, *, user: User, next_url: str):
    """The sign-in page's answer when the password was right but the tenant requires a
    verified address and ``user`` has none: nobody is signed in; a button sends the link
    again (to the address on the account, never one typed here)."""
    request.session[_VERIFY_USER_KEY] = str(user.pk)
    context = {"next": next_url, "email": user.email}
    return page(render(request, "account/verify_required.html", context, status=403))


@never_cache
@require_POST
def verify_resend(request):
    user_id = request.session.get(_VERIFY_USER_KEY, "")
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is not None:
        wait = mail_request_wait(kind="verify", ip=client_ip(request), target=str(user.pk))
        if wait is not None:
            return page(_throttled(request, wait))
        email_verification_send(user=user, site=mail_site(request))
    return redirect("account-verify-sent")


@never_cache
@require_GET
def verify_sent(request):
    return page(render(request, "account/verify_sent.html"))
