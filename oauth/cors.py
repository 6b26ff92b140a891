"""CORS for browser clients (Fetch standard, "CORS protocol").

Token, revocation and introspection answer an ``Origin`` only if it is registered for CORS:
by the authenticated client once the request names one, otherwise (a preflight, or a
request whose client authentication failed, so the browser can read the error) by any
enabled client of this tenant. Never ``*``, and never with credentials: these endpoints
use no cookies. Metadata (and JWKS) are public documents and answer ``*``.
"""

from __future__ import annotations

from django.http import HttpResponse

from oauth import selectors

#: ``DPoP``: a browser client's proof (RFC 9449 §4.1); ``DPoP-Nonce``: the server nonce it
#: must read from an answer (§8.1).
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"
EXPOSED_HEADERS = "DPoP-Nonce, WWW-Authenticate"
PREFLIGHT_MAX_AGE = "600"


def _origin_allowed(request) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return False
    client = getattr(request, "oauth_client", None)
    if client is not None:
        return origin in client.cors_origins
    cached = getattr(request, "_gatehouse_origin_allowed", None)
    if cached is None:
        cached = selectors.origin_registered(origin=origin)
        request._gatehouse_origin_allowed = cached
    return cached


def _vary(response: HttpResponse) -> None:
    existing = response.get("Vary")
    response["Vary"] = f"{existing}, Origin" if existing else "Origin"


def apply(request, response: HttpResponse) -> HttpResponse:
    """Add ``Access-Control-Allow-Origin`` for a registered origin to an actual response."""
    if "Origin" not in request.headers:
        return response
    _vary(response)
    if _origin_allowed(request):
        response["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def preflight(request, *, methods: str = "POST") -> HttpResponse:
    """Answer an ``OPTIONS`` preflight: 204, with the CORS grant only for a registered
    origin asking for one of ``methods``."""
    response = HttpResponse(status=204)
    response["Allow"] = f"{methods}, OPTIONS"
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    if "Origin" not in request.headers:
        return response
    _vary(response)
    asked = request.headers.get("Access-Control-Request-Method", "")
    if _origin_allowed(request) and asked in methods.split(", "):
        response["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def public(response: HttpResponse, *, methods: str = "GET") -> HttpResponse:
    """A public, credential-less document: any origin may read it."""
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = methods
    return response
