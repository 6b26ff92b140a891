"""Who may use the console: signed-in staff of this tenant, and the signup handoff.

Every console page runs in the request's tenant schema, so an admin sees and changes only
their own tenant's clients, users and keys. Every form is CSRF-protected; only the signup
handoff is exempt, because its single-use token is itself the proof (it is posted from the
public host, a different origin).
"""

import secrets
import time

from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kernel.views import error_response
from oauth.services.sign_in import handoff_sign_in
from oauth.views.authorize import AUTH_TIME_SESSION_KEY

#: Rows per page in every console list.
PAGE_SIZE = 50
#: How many submitted one-time form tokens a session remembers.
_ONCE_REMEMBERED = 50
_ONCE_SESSION_KEY = "console_once"


def once_token() -> str:
    """A one-time token for a form whose answer cannot be a redirect (it shows a secret once):
    the form carries it as ``once``, and ``once_claim`` refuses it the second time, so a
    reload that re-posts the form writes nothing."""
    return secrets.token_urlsafe(16)


def once_claim(request) -> bool:
    """False if this session already submitted the form's ``once`` token."""
    value = request.POST.get("once", "")[:64]
    if not value:
        return True
    used = list(request.session.get(_ONCE_SESSION_KEY, []))
    if value in used:
        return False
    request.session[_ONCE_SESSION_KEY] = [*used, value][-_ONCE_REMEMBERED:]
    return True


def clean_query(request, name: str = "q", limit: int = 100) -> str:
    """A search box's value, safe for any query: no NUL bytes, at most ``limit`` characters."""
    return (request.GET.get(name) or "").replace("\x00", "").strip()[:limit]


def staff_required(view):
    """Signed-in staff of this tenant. Anonymous visitors go to the tenant's sign-in page; a
    signed-in user who is not an admin gets a 403 page naming them, with a way to sign out
    and sign in as someone else."""

    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"{reverse('oauth-login')}?next={request.path}")
        if not user.is_staff:
            # A styled page that says who is signed in and offers to switch account.
            response = render(request, "console/forbidden.html", status=403)
        else:
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
    user = handoff_sign_in(request=request, token=request.POST.get("token", ""))
    if user is None:
        return error_response(
            request,
            400,
            "Link expired",
            "This sign-in link was already used or has expired. Sign in at /console/.",
        )
    request.session[AUTH_TIME_SESSION_KEY] = int(time.time())
    return redirect("console-home")


urlpatterns = [
    path("handoff/", handoff, name="console-handoff"),
]
