"""Signing users in to a tenant, and the audit events of sign-ins.

Every successful sign-in is audited as ``user.signed_in`` with the RFC 8176 ``amr`` of
how it was done; a tenant admin's also as ``admin.signed_in``. A failed attempt naming an
admin (``admin.sign_in_failed``) is audited in the tenant's schema, with the address it
came from. The session remembers when (``AUTH_TIME_SESSION_KEY``, OIDC Core §2
``auth_time``) and how (``AMR_SESSION_KEY``) the user signed in, for the id_token.
No event holds the password or the submitted form; a failed attempt naming
anyone else writes nothing, but costs the same lookup, so timing tells nothing more than
the page does (which says the same in both cases).
"""

from __future__ import annotations

import time

from django.contrib.auth import login as auth_login
from django.db import transaction

from kernel.accounts.models import User
from kernel.accounts.services import login_handoff_redeem
from kernel.audit.context import Actor
from kernel.audit.services import audit_record
from kernel.http import client_ip

PASSWORD = "password"
SIGNUP_LINK = "signup link"
PASSKEY = "passkey"
#: Session keys: when the user signed in (epoch seconds) and with which RFC 8176 methods.
AUTH_TIME_SESSION_KEY = "gatehouse_auth_time"
AMR_SESSION_KEY = "gatehouse_amr"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@transaction.atomic
def user_sign_in(
    *,
    request,
    user: User,
    method: str,
    amr: list[str] | None = None,
    backend: str | None = None,
) -> None:
    """Sign ``user`` in on ``request`` (Django's login: a new session key, ``last_login``),
    remember when and with which ``amr`` in the session, and record ``user.signed_in`` (and
    for an admin ``admin.signed_in``) in the same transaction. The actor is the user who
    just signed in: the request's own actor was still anonymous. Also used to step up a
    signed-in session (a second factor added): the session key changes again."""
    auth_login(request, user, backend=backend)
    request.session[AUTH_TIME_SESSION_KEY] = int(time.time())
    request.session[AMR_SESSION_KEY] = list(amr or [])
    label = user.get_username()
    actor = Actor(id=str(user.pk), label=label, ip=client_ip(request))
    audit_record(
        action="user.signed_in",
        object_type="user",
        object_id=str(user.pk),
        object_label=label,
        changes={"method": method, "amr": list(amr or [])},
        actor=actor,
    )
    if user.is_staff:
        audit_record(
            action="admin.signed_in",
            object_type="user",
            object_id=str(user.pk),
            object_label=label,
            changes={"method": method},
            actor=actor,
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
