"""Response shapes shared by the oauth views: browser pages, redirects, public documents."""

from __future__ import annotations

import json
from collections.abc import Callable

from authlib.consts import default_json_headers
from django.http import HttpResponse

from oauth import cors

#: Seconds a client may cache a metadata or discovery document (RFC 8414 §3, Discovery §4).
METADATA_MAX_AGE = 300


def json_response(payload: dict, *, status: int = 200, headers=None) -> HttpResponse:
    """A JSON answer; by default with ``Cache-Control: no-store`` (RFC 6749 §5.1)."""
    response = HttpResponse(json.dumps(payload), status=status)
    for name, value in headers if headers is not None else default_json_headers:
        response[name] = value
    return response


def page(response: HttpResponse) -> HttpResponse:
    """Sign-in and sign-out pages are never framed (clickjacking) and never cached."""
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    response["Cache-Control"] = "no-store"
    return response


def redirect(location: str) -> HttpResponse:
    # Not HttpResponseRedirect: native apps' private-use schemes (RFC 8252 §7.1) are fine.
    response = HttpResponse(status=302)
    response["Location"] = location
    response["Cache-Control"] = "no-store"
    return response


def public_document(request, build: Callable[[object], dict]) -> HttpResponse:
    """A JSON document any origin may read and cache (RFC 8414 §3, OIDC Discovery §4):
    GET and HEAD, CORS preflight answered, 405 with ``Allow`` for anything else."""
    if request.method == "OPTIONS":
        response = json_response({}, status=204, headers=[("Allow", "GET, HEAD, OPTIONS")])
        return cors.public(response)
    if request.method not in ("GET", "HEAD"):
        response = json_response(
            {"error": "invalid_request", "error_description": "Use GET for this document."},
            status=405,
        )
        response["Allow"] = "GET, HEAD, OPTIONS"
        return response
    response = json_response(
        build(request),
        headers=[
            ("Content-Type", "application/json"),
            ("Cache-Control", f"public, max-age={METADATA_MAX_AGE}"),
        ],
    )
    return cors.public(response)
