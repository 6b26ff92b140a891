"""OpenID Connect endpoints; thin views over ``oauth.oidc`` and ``oauth.signing.selectors``.

JWKS and discovery are public documents (any origin, cacheable). Userinfo is a protected
resource (RFC 6750): Bearer token, no cookies, CORS for the token's client's origins. The
end-session endpoint takes GET and POST from the relying party's site (RP-Initiated Logout
§2), so it is exempt from CSRF; it never signs anyone out on a bare request from another
site: without a valid id_token_hint for the signed-in user it shows a confirmation form,
which is CSRF-protected.
"""

from __future__ import annotations

from authlib.common.security import is_secure_transport
from authlib.oauth2.base import OAuth2Error
from django.contrib.auth import logout as auth_logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from oauth import cors, ratelimits, selectors
from oauth.dpop import NONCE_HEADER
from oauth.models import IssuerSettings
from oauth.oidc.discovery import provider_metadata
from oauth.oidc.logout import LOGOUT_PARAMETERS, LogoutRequest, logout_request
from oauth.oidc.userinfo import (
    BearerError,
    authorization_scheme,
    bearer_token,
    userinfo_response,
)
from oauth.requests import FORM_CONTENT_TYPE, read_params
from oauth.responses import json_response, public_document
from oauth.responses import page as _page
from oauth.responses import redirect as _redirect
from oauth.signing import selectors as key_selectors
from oauth.signing import services as key_services


# Exempt so that any other method gets its 405 rather than a CSRF 403; GET changes nothing.
@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def jwks(request):
    """The tenant's JWK Set (RFC 7517 §5; OIDC Discovery §3 ``jwks_uri``).

    Publishes next, current and retiring public keys. ``max-age`` is the same
    ``jwks_max_age`` that rotation waits out before signing with a newly published key
    (OIDC Core §10.1.1). The first time it is served is recorded, before the keys are
    read: a next key made before then is in every JWKS a relying party may hold, so
    rotation may promote it at once. Public keys are meant for anyone, so any origin may
    read them.
    """
    issuer = IssuerSettings.load()
    if issuer.jwks_first_served_at is None:  # once per tenant; then never written again
        key_services.jwks_first_served()
    response = JsonResponse(key_selectors.jwks_document())
    response["Cache-Control"] = f"public, max-age={issuer.jwks_max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt
def openid_configuration(request):
    """OpenID Connect Discovery 1.0 §4: this tenant's provider metadata (§3).

    ``issuer`` is the request's issuer exactly (§4.3), so each tenant host describes
    itself only.
    """
    return public_document(request, provider_metadata)


def _bearer_error(request, error: BearerError) -> HttpResponse:
    response = json_response(
        error.body(),
        status=error.status,
        headers=[
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
        ],
    )
    response["WWW-Authenticate"] = error.www_authenticate(selectors.issuer_for_request(request))
    if error.nonce:
        response[NONCE_HEADER] = error.nonce
    return response


@csrf_exempt
def userinfo(request):
    """OIDC Core §5.3: the signed-in user's claims for a Bearer access token, GET or POST.

    Errors follow RFC 6750 §3: 401 with a bare ``WWW-Authenticate: Bearer realm=...`` when
    no token was sent, ``invalid_token`` (401), ``insufficient_scope`` (403, the token lacks
    ``openid``), ``invalid_request`` (400). Rate limited (``oauth.ratelimits``): per
    source IP and per tenant before the token is looked up, per client (the token's) once
    it is known; a refused token (``invalid_token``) counts as a failed authentication.
    """
    if request.method == "OPTIONS":
        return cors.preflight(request, methods="GET, POST")
    if request.method not in ("GET", "POST"):
        response = _bearer_error(request, BearerError(405, "invalid_request", "Use GET or POST."))
        response["Allow"] = "GET, POST, OPTIONS"
        return cors.apply(request, response)
    admission = ratelimits.admit(request, endpoint=ratelimits.USERINFO)
    if admission.refused:
        return cors.apply(request, ratelimits.too_many_requests(admission))
    try:
        if not is_secure_transport(request.build_absolute_uri()):
            raise BearerError(400, "invalid_request", "This endpoint is served over https.")
        form_token = None
        if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
            try:
                form_token = (read_params(request).get("access_token") or [None])[0]
            except OAuth2Error as error:
                raise BearerError(400, "invalid_request", error.description) from None
        authorization = request.headers.get("Authorization")
        token = bearer_token(authorization, form_token, request.GET.get("access_token"))
        claims, client = userinfo_response(
            token, scheme=authorization_scheme(authorization), http_request=request
        )
    except BearerError as error:
        response = ratelimits.settle(
            admission,
            _bearer_error(request, error),
            authentication_failed=error.error == "invalid_token",
        )
        return cors.apply(request, response)
    request.oauth_client = client
    response = json_response(
        claims,
        headers=[
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
        ],
    )
    response = ratelimits.settle(
        admission, response, authentication_failed=False, client_id=client.client_id
    )
    return cors.apply(request, response)


# --- RP-initiated logout ----------------------------------------------------------------------


def _signed_out(request, logout: LogoutRequest | None, *, status: int = 200):
    context = {
        "client": logout.client if logout else None,
        "problem": logout.problem if logout else "This sign-out request is not valid.",
        "tenant": getattr(request, "tenant", None),
    }
    return _page(render(request, "oauth/logout_done.html", context, status=status))


def _session_user(request):
    return request.user if request.user.is_authenticated else None


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def end_session(request):
    """OpenID Connect RP-Initiated Logout 1.0 §2: ``end_session_endpoint``.

    A valid ``id_token_hint`` for the signed-in user signs them out of this tenant at once;
    anything else asks them first (§6). Then back to the registered
    ``post_logout_redirect_uri`` with ``state`` (§3), or a signed-out page. A request with
    an error is never redirected (§4); its page says what was wrong, with status 200:
    a 4xx would have Django log the URL, and with it the id_token_hint.
    """
    try:
        params = {name: values[0] for name, values in read_params(request).items()}
    except OAuth2Error:
        if _session_user(request) is not None:  # not signed out: offer the confirm form
            context = {
                "problem": "This sign-out request is not valid.",
                "fields": [],
                "user": request.user,
                "tenant": getattr(request, "tenant", None),
            }
            return _page(render(request, "oauth/logout_confirm.html", context, status=400))
        return _signed_out(request, None, status=400)
    logout = logout_request(params, issuer=selectors.issuer_for_request(request))
    user = _session_user(request)
    if logout.needs_confirmation(user):
        context = {
            "client": logout.client,
            "problem": logout.problem,
            "fields": sorted(logout.params.items()),
            "user": user,
            "tenant": getattr(request, "tenant", None),
        }
        return _page(render(request, "oauth/logout_confirm.html", context))
    if user is not None:
        auth_logout(request)
    if logout.redirect_uri:
        return _redirect(logout.redirect_uri)
    return _signed_out(request, logout)


@csrf_protect
@never_cache
@require_POST
def end_session_confirm(request):
    """The user's confirmation (a CSRF-protected form) of a logout request (§6)."""
    params = {name: request.POST.get(name, "") for name in LOGOUT_PARAMETERS}
    logout = logout_request(params, issuer=selectors.issuer_for_request(request))
    if _session_user(request) is not None:
        auth_logout(request)
    if logout.redirect_uri:
        return _redirect(logout.redirect_uri)
    return _signed_out(request, logout)
