"""Signing users in to a tenant, and the audit events of its admins' sign-ins.

A tenant admin's successful sign-in (``admin.signed_in``) and a failed attempt naming one
(``admin.sign_in_failed``) are audited in the tenant's schema, with the address they came
from. Neither event holds the password or the submitted form; a failed attempt naming
anyone else writes nothing, but costs the same lookup, so timing tells nothing more than
the page does (which says the same in both cases).
"""

from __future__ import annotations

from django.contrib.auth import login as auth_login
from django.db import transaction

from kernel.accounts.models import User
from kernel.accounts.services import login_handoff_redeem
from kernel.audit.context import Actor
from kernel.audit.services import audit_record
from kernel.http import client_ip

PASSWORD = "password"
SIGNUP_LINK = "signup link"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@transaction.atomic
def user_sign_in(*, request, user: User, method: str, backend: str | None = None) -> None:
    """Sign ``user`` in on ``request`` (Django's login: a new session key, ``last_login``);
    for an admin, record ``admin.signed_in`` in the same transaction. The actor is the user
    who just signed in: the request's own actor was still anonymous."""
    auth_login(request, user, backend=backend)
    if user.is_staff:
        label = user.get_username()
        audit_record(
            action="admin.signed_in",
            object_type="user",
            object_id=str(user.pk),
            object_label=label,
            changes={"method": method},
            actor=Actor(id=str(user.pk), label=label, ip=client_ip(request)),
        )


@transaction.atomic
def sign_in_failure_record(*, username: str) -> None:
    """A failed sign-in with ``username``: when it names an admin of this tenant, record
    ``admin.sign_in_failed`` against them, by the request's actor (anonymous, from its IP).
    One indexed lookup whether or not the name exists."""
    admin = (
        User.objects.filter(username=username, is_staff=True).only("pk", "username").first()
        if username
        else None
    )
    if admin is None:
        return
    audit_record(
        action="admin.sign_in_failed",
        object_type="user",
        object_id=str(admin.pk),
        object_label=admin.username,
        changes={"method": PASSWORD},
    )


@transaction.atomic
def handoff_sign_in(*, request, token: str) -> User | None:
    """Redeem the signup's one-time link and sign its admin in, in one transaction (the link
    is spent only if the sign-in and its audit event commit). None if the link is no good."""
    user = login_handoff_redeem(token=token)
    if user is not None:
        user_sign_in(request=request, user=user, method=SIGNUP_LINK, backend=_MODEL_BACKEND)
    return user
