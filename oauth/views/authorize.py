"""The authorization endpoint (RFC 6749 §4.1, RFC 7636, RFC 9207), the tenant's login page
and the consent page.

``/oauth/authorize`` takes GET and form POST (OIDC Core §3.1.2.1). It starts a request but
never records a decision, so it needs no CSRF token: a POST from the client's site is
legitimate. Decisions are made on our own pages, which are CSRF-protected: the login form
(``/oauth/login``) and the consent form (``/oauth/consent``). The authorization request
survives the login redirect re-encoded in ``next``; the consent form carries it in hidden
fields and it is validated again when the form comes back. Every page refuses to be framed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from django.contrib.auth import authenticate
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kernel.accounts.services import SID_SESSION_KEY, email_verification_pending
from kernel.http import client_ip
from oauth import selectors, throttle
from oauth.account import views as account_views
from oauth.forms import LoginForm
from oauth.grants.authorization_code import AuthorizationCodeGrant
from oauth.grants.errors import authorization_error_location, is_page_error
from oauth.grants.request_objects import consume_pushed_request
from oauth.mfa import pending as pending_sign_in
from oauth.oidc import authorization as oidc_authorization
from oauth.registration.metadata import is_loopback
from oauth.requests import GatehouseRequest, oauth_request, read_params
from oauth.responses import page as _page
from oauth.responses import redirect as _redirect
from oauth.server import server
from oauth.services import sign_in
from oauth.services.consents import consent_remember

AUTH_TIME_SESSION_KEY = sign_in.AUTH_TIME_SESSION_KEY
#: Form fields of our own pages that are not part of the authorization request.
_PAGE_FIELDS = {"csrfmiddlewaretoken", "decision"}
#: Scope names shown to the user in words; any other scope is shown by name.
SCOPE_WORDS = {
    "openid": "Confirm who you are",
    "profile": "See your name and profile",
    "email": "See your email address",
    "offline_access": "Keep access while you are away",
}


def _error_page(request, message: str, status: int = 400) -> HttpResponse:
    response = render(
        request, "oauth/error.html", {"message": message, "status": status}, status=status
    )
    return _page(response)


def _authorization_error(request, oauth: GatehouseRequest, error: OAuth2Error) -> HttpResponse:
    """RFC 6749 §4.1.2.1: back to the client when its redirect URI is validated, else a
    400 page; RFC 9207: every redirect carries ``iss``."""
    if is_page_error(error):
        return _error_page(request, error.description or "This sign-in request is not valid.")
    if error.state is None and len(oauth.payload.datalist.get("state") or []) == 1:
        error.state = oauth.payload.state
    return _redirect(authorization_error_location(error, oauth.issuer))


def _prompts(oauth: GatehouseRequest) -> set[str]:
    return set((oauth.payload.data.get("prompt") or "").split())


def _sent_params(oauth: GatehouseRequest) -> dict[str, list[str]]:
    """The request as the browser sent it: a ``request_uri`` or request object is carried
    on as such and resolved again at the next step (``oauth.grants.request_objects``)."""
    return oauth.front_channel if oauth.front_channel is not None else oauth.payload.datalist


def _authorize_url(oauth: GatehouseRequest, *, drop_prompt: str = "") -> str:
    params = []
    for name, values in _sent_params(oauth).items():
        if name in _PAGE_FIELDS:
            continue
        for value in values:
            if name == "max_age" and drop_prompt:
                continue  # the login about to happen satisfies it (OIDC Core §3.1.2.1)
            if name == "prompt" and drop_prompt:
                value = " ".join(p for p in value.split() if p != drop_prompt)
                if not value:
                    continue
            params.append((name, value))
    return f"{reverse('oauth-authorize')}?{urlencode(params)}"


def _auth_time(request) -> datetime:
    stamp = request.session.get(AUTH_TIME_SESSION_KEY) or time.time()
    return datetime.fromtimestamp(int(stamp), tz=UTC)


def _validated_grant(request, oauth: GatehouseRequest) -> AuthorizationCodeGrant:
    user = request.user if request.user.is_authenticated else None
    return server.get_consent_grant(oauth, end_user=user)


def _issue_code(request, grant: AuthorizationCodeGrant) -> HttpResponse:
    grant.request.auth_time = _auth_time(request)
    grant.request.amr = list(request.session.get(sign_in.AMR_SESSION_KEY) or [])
    grant.request.sid = request.session.get(SID_SESSION_KEY) or ""
    _status, _body, headers = grant.create_authorization_response(grant.redirect_uri, request.user)
    return _redirect(dict(headers)["Location"])


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request):
    """RFC 6749 §4.1.1: validate, then log in (with a second factor when ``acr_values``
    asks for ``urn:gatehouse:acr:mfa``, ``oauth.oidc.acr``), then consent, then a code."""
    try:
        oauth = oauth_request(request, allow_repeated=True)
    except OAuth2Error as error:
        return _error_page(request, error.description or "This sign-in request is not valid.")
    try:
        grant = _validated_grant(request, oauth)
    except OAuth2Error as error:
        return _authorization_error(request, oauth, error)

    prompts = _prompts(oauth)
    if oauth.user is None or _needs_fresh_login(request, oauth, prompts):
        if "none" in prompts:
            return _prompt_none_error(oauth, grant, "login_required")
        next_url = _authorize_url(oauth, drop_prompt="login")
        return _redirect(f"{reverse('oauth-login')}?{urlencode({'next': next_url})}")
    if pending_sign_in.needs_step_up(request, oauth.payload.data.get("acr_values")):
        # OIDC Core §3.1.2.1 acr_values: a second factor first; §3.1.2.6: not with prompt=none.
        if "none" in prompts:
            return _prompt_none_error(oauth, grant, "interaction_required")
        return _redirect(pending_sign_in.step_up(request, next_url=_authorize_url(oauth)))

    scope = oauth.scope or ""
    if "consent" in prompts or not selectors.consent_covers(
        user=request.user, client=grant.client, scope=scope
    ):
        if "none" in prompts:
            return _prompt_none_error(oauth, grant, "consent_required")
        return _consent_page(request, oauth, grant)
    try:
        return _issue_code(request, grant)
    except OAuth2Error as error:  # a pushed request used meanwhile (RFC 9126 §4)
        return _authorization_error(request, oauth, error)


def _needs_fresh_login(request, oauth: GatehouseRequest, prompts: set[str]) -> bool:
    """OIDC Core §3.1.2.1: ``prompt=login``, ``max_age=0``, or a session login older than
    ``max_age`` (already validated by the grant) means signing in again."""
    return oidc_authorization.needs_fresh_login(
        prompts=prompts,
        max_age=oidc_authorization.parse_max_age(oauth.payload.data.get("max_age")),
        auth_time=request.session.get(AUTH_TIME_SESSION_KEY),
    )


def _prompt_none_error(oauth, grant, error_code: str) -> HttpResponse:
    """OIDC Core §3.1.2.6: ``prompt=none`` cannot show a page."""
    error = OAuth2Error(
        error=error_code, redirect_uri=grant.redirect_uri, state=oauth.payload.state
    )
    return _redirect(authorization_error_location(error, oauth.issuer))


def _redirect_target(uri: str) -> str:
    """What the consent page names as where the user is sent: the host, or an app's
    private-use scheme (RFC 8252 §7.1)."""
    parts = urlsplit(uri)
    return parts.hostname or f"{parts.scheme}:"


def _consent_page(request, oauth: GatehouseRequest, grant) -> HttpResponse:
    """The consent page. For a client the user already allowed some scopes, only the new
    ones are asked for (incremental consent); the redirect host is shown prominently, and a
    client that registered itself, or can only redirect to this device (loopback, RFC 8252
    §8.3: anyone can claim such a client's name), is shown with a warning."""
    client = grant.client
    requested = (oauth.scope or "").split()
    already = (
        set()
        if "consent" in _prompts(oauth)
        else set(selectors.consented_scopes(user=request.user, client=client))
    )
    scopes = [s for s in requested if s not in already]
    fields = [
        (name, value)
        for name, values in _sent_params(oauth).items()
        if name not in _PAGE_FIELDS
        for value in values
    ]
    context = {
        "client": client,
        "scopes": [(s, SCOPE_WORDS.get(s, f"Use “{s}”")) for s in scopes],
        "step_up": bool(already),
        "redirect_host": _redirect_target(grant.redirect_uri),
        "loopback_only": bool(client.redirect_uris)
        and all(is_loopback(uri) for uri in client.redirect_uris),
        "self_registered": bool(client.registration),
        "document_host": urlsplit(client.client_id).hostname
        if client.registration == client.Registration.DOCUMENT
        else "",
        "fields": fields,
        "user": request.user,
    }
    return _page(render(request, "oauth/consent.html", context))


@csrf_protect
@never_cache
@require_POST
def consent(request):
    """The user's decision (allow or deny) on the authorization request in the form."""
    if not request.user.is_authenticated:
        return _error_page(request, "Your session has ended. Start signing in again.", 403)
    try:
        params = read_params(request, allow_repeated=True)
        decision = (params.pop("decision", None) or [""])[0]
        params.pop("csrfmiddlewaretoken", None)
        oauth = GatehouseRequest(request, params)
    except OAuth2Error as error:
        return _error_page(request, error.description or "This sign-in request is not valid.")
    try:
        grant = _validated_grant(request, oauth)
        if decision != "allow":
            consume_pushed_request(grant.request)
            return _redirect(
                authorization_error_location(
                    AccessDeniedError(redirect_uri=grant.redirect_uri, state=oauth.payload.state),
                    oauth.issuer,
                )
            )
        remembered = consent_remember(
            user=request.user, client=grant.client, scope=oauth.scope or ""
        )
        if "consent" not in _prompts(oauth):
            # Step-up: the grant carries every scope the user has allowed this client.
            grant.request.scope = " ".join(
                s for s in remembered.scope.split() if s in grant.client.scopes
            )
        return _issue_code(request, grant)
    except OAuth2Error as error:
        return _authorization_error(request, oauth, error)


#: C0 controls and DEL: never part of a path we redirect to (a CR or LF would also break
#: the Location header).
_CONTROL = frozenset(chr(code) for code in range(32)) | {"\x7f"}


def _safe_next(request, value: str | None) -> str:
    """Only a path on this host: never an open redirect, never a control character."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and not _CONTROL.intersection(value)
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return "/"


def _throttled(request, next_url: str, wait: int) -> HttpResponse:
    response = _page(
        render(
            request,
            "oauth/login.html",
            {
                "form": LoginForm(initial={"next": next_url}),
                "error": (
                    "Too many sign-in attempts. "
                    f"Try again in {wait} second{'s' if wait != 1 else ''}."
                ),
                "tenant": getattr(request, "tenant", None),
            },
            status=429,
        )
    )
    response["Retry-After"] = str(wait)
    return response


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    """Sign in a user of this tenant (Django auth against the tenant schema's users).

    Each attempt is reserved in the throttle before the password is checked
    (``oauth.throttle``: per user name and IP, per user name, per IP, per IP platform-wide;
    429 with ``Retry-After``); the answer is the same whether or not the user exists. A user
    with a second factor, or whom the tenant's MFA policy requires to have one, goes on to
    ``/account/mfa/challenge`` (or enrolment) before being signed in. Sign-ins, and a failed
    attempt naming an admin, are audited (``oauth.services.sign_in``); throttled attempts
    are not, so the throttle also bounds how fast a guesser can fill the log.
    """
    form = LoginForm(request.POST if request.method == "POST" else None)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        # Strip before cutting, as the form does: otherwise padding would give one name
        # many throttle keys.
        username = (request.POST.get("username") or "").strip()[:150]
        attempt = throttle.reserve(username=username, ip=client_ip(request))
        if not attempt.admitted:
            return _throttled(request, next_url, attempt.retry_after)
        user = None
        if form.is_valid():
            user = authenticate(
                request,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
            )
        if user is not None and email_verification_pending(user=user):
            throttle.succeeded(attempt)  # the password was right: not a guess
            return account_views.verification_required(request, user=user, next_url=next_url)
        if user is not None:
            throttle.succeeded(attempt)
            # Signed in now, or on to the second factor (oauth.mfa.pending).
            return _redirect(pending_sign_in.after_password(request, user=user, next_url=next_url))
        sign_in.sign_in_failure_record(username=username)
        error = "The user name or password is not correct."
        status = 400
        form = LoginForm(initial={"next": next_url, "username": username})
    else:
        form = LoginForm(initial={"next": next_url})
    context = {"form": form, "error": error, "tenant": getattr(request, "tenant", None)}
    return _page(render(request, "oauth/login.html", context, status=status))
