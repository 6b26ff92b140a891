"""The half-finished sign-in between the password (or a step-up request) and the second
factor, kept server-side in the session.

After a correct password, a user who has a factor, or whom the tenant's policy requires to
have one, is not signed in yet: the session holds only ``{user, at, next, amr, enrol}``
under ``PENDING_SESSION_KEY`` for ``GATEHOUSE["MFA"]["PENDING_SECONDS"]``. The second-factor
page (or, with ``enrol``, the enrolment page) finishes it with ``finish``, which signs the
user in with both methods in the session's ``amr``. A signed-in session stepping up for
``acr_values`` (OIDC Core §3.1.2.1) uses the same state, for its own user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import logout as auth_logout
from django.urls import reverse

from kernel.accounts.models import User
from kernel.conf import setting
from oauth.mfa import selectors
from oauth.oidc import acr
from oauth.services import sign_in

PENDING_SESSION_KEY = "gatehouse_mfa_pending"


@dataclass(frozen=True)
class Pending:
    user: User
    next_url: str
    amr: list[str]
    enrol: bool


def _start(request, *, user, next_url: str, amr: list[str], enrol: bool) -> str:
    request.session[PENDING_SESSION_KEY] = {
        "user": str(user.pk),
        "at": int(time.time()),
        "next": next_url,
        "amr": amr,
        "enrol": enrol,
    }
    return reverse("mfa-totp-add" if enrol else "mfa-challenge")


def after_password(request, *, user, next_url: str) -> str:
    """Where a user goes after a correct password: signed in and on to ``next_url``, or
    (a factor enrolled or required by the policy) to the second-factor or enrolment page."""
    if request.user.is_authenticated and request.user.pk != user.pk:
        auth_logout(request)  # someone else's session: the pending state starts clean
    if selectors.mfa_enabled():
        has_factor = selectors.has_factor(user)
        if has_factor or selectors.factor_required(user):
            return _start(
                request, user=user, next_url=next_url, amr=[acr.PWD], enrol=not has_factor
            )
    sign_in.user_sign_in(request=request, user=user, method=sign_in.PASSWORD, amr=[acr.PWD])
    return next_url


def needs_step_up(request, acr_values: str | None) -> bool:
    """OIDC Core §3.1.2.1: ``acr_values`` asks for MFA and this session did not do it."""
    if not acr.requests_mfa(acr_values) or not selectors.mfa_enabled():
        return False
    return acr.MFA not in (request.session.get(sign_in.AMR_SESSION_KEY) or [])


def step_up(request, *, next_url: str) -> str:
    """Ask the signed-in user for a second factor (or to enrol one) before ``next_url``."""
    user = request.user
    first = request.session.get(sign_in.AMR_SESSION_KEY) or []
    return _start(
        request,
        user=user,
        next_url=next_url,
        amr=[method for method in first if method != acr.MFA],
        enrol=not selectors.has_factor(user),
    )


def current(request) -> Pending | None:
    """The pending sign-in of this session, if it is still fresh and its user active (and,
    for a step-up, still the signed-in user)."""
    state = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(state, dict):
        return None
    if time.time() - int(state.get("at") or 0) > setting("MFA")["PENDING_SECONDS"]:
        clear(request)
        return None
    user = User.objects.filter(pk=state.get("user"), is_active=True).first()
    signed_in = request.user if request.user.is_authenticated else None
    if user is None or (signed_in is not None and signed_in.pk != user.pk):
        clear(request)
        return None
    return Pending(
        user=user,
        next_url=state.get("next") or "/",
        amr=list(state.get("amr") or []),
        enrol=bool(state.get("enrol")),
    )


def clear(request) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)


def finish(request, pending: Pending, *, method: str, second: list[str]) -> str:
    """Sign the pending user in with the second factor's ``amr`` added; returns ``next``."""
    clear(request)
    amr = list(pending.amr)
    for value in second:
        if value != acr.MFA and value not in amr:
            amr.append(value)
    amr.append(acr.MFA)
    sign_in.user_sign_in(request=request, user=pending.user, method=method, amr=amr)
    return pending.next_url
