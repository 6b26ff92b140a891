"""Users: list, search, add; a user's page with their sessions and grants; edit, disable and
enable, set a password or email a reset link, end a session, revoke a grant, delete.

Every write answers with a redirect (POST-redirect-GET); destructive ones (delete, end a
session, revoke a grant) ask first on a confirmation page. An admin cannot disable, delete
or demote themselves here, so a tenant is never left without its last way in by accident.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kernel.accounts import selectors as account_selectors
from kernel.accounts.models import User, UserSession
from kernel.accounts.services import (
    UserError,
    email_verification_send,
    password_reset_send,
    password_rules,
    user_create,
    user_delete,
    user_session_end,
    user_set_active,
    user_set_password,
    user_update,
)
from oauth import selectors
from oauth.account.mail import mail_site
from oauth.console.forms.users import SetPasswordForm, UserEditForm, UserForm
from oauth.console.views.access import PAGE_SIZE, clean_query, staff_required
from oauth.models import Client
from oauth.services.grants import grant_revoke


def _user(user_id) -> User:
    """A user of this tenant (another tenant's user id is simply not found here)."""
    return get_object_or_404(User, pk=user_id)


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def _add_error(form, exc: UserError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, _sentence(str(exc)))


def _to_user(user: User):
    return redirect("console-user", user_id=user.pk)


@sensitive_post_parameters("password")
@staff_required
@require_http_methods(["GET", "POST"])
def users(request):
    form = UserForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_create(
                username=data["username"],
                password=data["password"],
                email=data["email"] or "",
                is_staff=data["staff"],
            )
        except UserError as exc:
            _add_error(form, exc)
        else:
            if email_verification_send(user=user, site=mail_site(request)):
                messages.success(
                    request,
                    f"User {user.username} created; a link to confirm {user.email} was sent.",
                )
            else:
                messages.success(request, f"User {user.username} created.")
            return redirect("console-users")
    query = clean_query(request)
    page = Paginator(account_selectors.users_search(query=query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "q": query, "rules": password_rules()}
    return render(request, "console/users.html", context, status=400 if form.errors else 200)


@staff_required
@require_http_methods(["GET"])
def user_detail(request, user_id):
    user = _user(user_id)
    context = {
        "subject": user,
        "sessions": account_selectors.user_sessions(user=user),
        "grants": selectors.user_grants(user=user),
        "current_session": request.session.session_key,
        "is_me": user.pk == request.user.pk,
    }
    return render(request, "console/user_detail.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def user_edit(request, user_id):
    user = _user(user_id)
    form = UserEditForm.for_user(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if user.pk == request.user.pk and not data["is_staff"]:
            form.add_error("is_staff", "You cannot remove your own admin access.")
        else:
            old_email = user.email
            try:
                user = user_update(user=user, **data)
            except UserError as exc:
                _add_error(form, exc)
            else:
                messages.success(request, "Changes saved.")
                if user.email.lower() != old_email.lower():
                    email_verification_send(user=user, site=mail_site(request))
                return _to_user(user)
    return render(
        request,
        "console/user_edit.html",
        {"subject": user, "form": form},
        status=400 if form.errors else 200,
    )


@staff_required
@require_POST
def user_active(request, user_id):
    """Disable (``active=0``) or enable (``active=1``); the target state is explicit, so
    posting twice changes nothing the second time."""
    user = _user(user_id)
    wanted = request.POST.get("active")
    if wanted not in ("0", "1"):
        messages.error(request, "Choose whether to disable or enable the user.")
    elif wanted == "0" and user.pk == request.user.pk:
        messages.error(request, "You cannot disable your own account.")
    else:
        user_set_active(user=user, active=wanted == "1")
        messages.success(
            request,
            f"User {user.username} enabled."
            if wanted == "1"
            else f"User {user.username} disabled: their sessions have ended.",
        )
    return _to_user(user)


@sensitive_post_parameters("password", "confirm")
@staff_required
@require_http_methods(["GET", "POST"])
def user_password(request, user_id):
    user = _user(user_id)
    form = SetPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user_set_password(user=user, password=form.cleaned_data["password"])
        except UserError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                f"Password set for {user.username}: their sessions and tokens have ended.",
            )
            return _to_user(user)
    context = {"subject": user, "form": form, "rules": password_rules()}
    return render(
        request, "console/user_password.html", context, status=400 if form.errors else 200
    )


@staff_required
@require_POST
def user_password_reset(request, user_id):
    """Email the user a single-use link to choose a new password themselves."""
    user = _user(user_id)
    if not user.email:
        messages.error(request, f"{user.username} has no email address: add one first.")
    elif not user.is_active:
        messages.error(request, f"{user.username} is disabled: enable them first.")
    elif password_reset_send(user=user, site=mail_site(request)):
        messages.success(request, f"A password-reset link was sent to {user.email}.")
    else:
        messages.info(request, f"A reset link was sent to {user.email} less than a minute ago.")
    return _to_user(user)


def _confirm(request, *, subject: User, title: str, message: str, button: str):
    context = {"subject": subject, "title": title, "message": message, "button": button}
    return render(request, "console/user_confirm.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def user_delete_view(request, user_id):
    user = _user(user_id)
    if user.pk == request.user.pk:
        messages.error(request, "You cannot delete your own account.")
        return _to_user(user)
    if request.method == "POST":
        user_delete(user=user)
        messages.success(request, f"User {user.username} deleted.")
        return redirect("console-users")
    return _confirm(
        request,
        subject=user,
        title=f"Delete {user.username}?",
        message="The user, their sessions, their consents and every token issued to them "
        "are deleted for good. To stop them for a while instead, disable them.",
        button="Delete the user",
    )


@staff_required
@require_http_methods(["GET", "POST"])
def user_session_end_view(request, user_id, session_id: int):
    user = _user(user_id)
    if session_id >= 2**63:
        raise Http404
    session = get_object_or_404(UserSession, pk=session_id, user=user)
    if request.method == "POST":
        user_session_end(session=session)
        messages.success(request, "Session ended.")
        return _to_user(user)
    return _confirm(
        request,
        subject=user,
        title=f"End this session of {user.username}?",
        message=f"The session started {session.created_at:%Y-%m-%d %H:%M:%S %Z} from "
        f"{session.ip or 'an unknown address'} ends now; they must sign in again there.",
        button="End the session",
    )


@staff_required
@require_http_methods(["GET", "POST"])
def user_grant_revoke(request, user_id, client_id: str):
    user = _user(user_id)
    client = get_object_or_404(Client, client_id=client_id)
    if request.method == "POST":
        grant_revoke(user=user, client=client)
        messages.success(request, f"Access of {client.name} for {user.username} revoked.")
        return _to_user(user)
    return _confirm(
        request,
        subject=user,
        title=f"Revoke {client.name}'s access for {user.username}?",
        message="Every access and refresh token of this grant stops working at once, and "
        "the next sign-in to this application asks for consent again.",
        button="Revoke access",
    )


urlpatterns = [
    path("users/", users, name="console-users"),
    path("users/<uuid:user_id>/", user_detail, name="console-user"),
    path("users/<uuid:user_id>/edit/", user_edit, name="console-user-edit"),
    path("users/<uuid:user_id>/active/", user_active, name="console-user-active"),
    path("users/<uuid:user_id>/password/", user_password, name="console-user-password"),
    path("users/<uuid:user_id>/reset/", user_password_reset, name="console-user-reset"),
    path("users/<uuid:user_id>/delete/", user_delete_view, name="console-user-delete"),
    path(
        "users/<uuid:user_id>/sessions/<int:session_id>/end/",
        user_session_end_view,
        name="console-user-session-end",
    ),
    path(
        "users/<uuid:user_id>/grants/<client_id:client_id>/revoke/",
        user_grant_revoke,
        name="console-user-grant-revoke",
    ),
]
