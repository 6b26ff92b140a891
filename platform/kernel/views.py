"""Error pages for every host. Browsers get readable HTML, API clients JSON (RFC 6749 §5.2
shape), and a database that cannot be reached is a 503 with ``Retry-After``."""

import json
import logging
import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

_HTML_PATHS = ("/oauth/authorize", "/oauth/logout", "/oauth/login", "/oauth/consent")


def wants_json(request) -> bool:
    """API endpoints answer errors in JSON (RFC 6749 §5.2 shape); pages answer in HTML."""
    path = request.path_info
    if path.startswith("/.well-known/"):
        return True
    return path.startswith("/oauth/") and not path.startswith(_HTML_PATHS)


def error_response(
    request, status: int, title: str, message: str, *, error: str | None = None, headers=None
) -> HttpResponse:
    if wants_json(request):
        body = json.dumps(
            {"error": error or title.lower().replace(" ", "_"), "error_description": message}
        )
        response = HttpResponse(body, status=status, content_type="application/json")
        response["Cache-Control"] = "no-store"
    else:
        html = render_to_string(
            "error.html", {"status": status, "title": title, "message": message}, request=request
        )
        response = HttpResponse(html, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def bad_request(request, exception=None):
    return error_response(
        request, 400, "Bad request", "The request could not be understood.", error="invalid_request"
    )


def permission_denied(request, exception=None):
    return error_response(
        request, 403, "Forbidden", "You do not have access to this page.", error="access_denied"
    )


def page_not_found(request, exception=None):
    return error_response(
        request, 404, "Not found", "There is nothing at this address.", error="not_found"
    )


def server_error(request):
    """500 handler. A database that cannot be reached is a 503 with Retry-After, not a 500."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        return error_response(
            request,
            503,
            "Service unavailable",
            "The service is briefly unavailable. Please try again in a few seconds.",
            error="temporarily_unavailable",
            headers={"Retry-After": "5"},
        )
    return error_response(
        request,
        500,
        "Server error",
        "Something went wrong on our side. It has been logged.",
        error="server_error",
    )


def csrf_failure(request, reason=""):
    return error_response(
        request,
        403,
        "Form expired",
        "This form was open too long or came from another site. Go back, reload the page "
        "and try again.",
        error="invalid_request",
    )
