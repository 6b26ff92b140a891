"""Token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662) and
authorization server metadata (RFC 8414). JSON in, JSON out, no cookies, no CSRF."""

from __future__ import annotations

from functools import wraps

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from django.views.decorators.csrf import csrf_exempt

from oauth import cors, selectors
from oauth.requests import oauth_request
from oauth.responses import public_document
from oauth.server import json_error, server


def _oauth_endpoint(handler):
    """POST only (405 otherwise), CORS preflight, and every malformed request a clean
    ``invalid_request`` with ``Cache-Control: no-store`` (RFC 6749 §5.1, §5.2)."""

    @csrf_exempt
    @wraps(handler)
    def view(request):
        if request.method == "OPTIONS":
            return cors.preflight(request, methods="POST")
        if request.method != "POST":
            response = json_error(
                InvalidRequestError("Use POST for this endpoint.", status_code=405)
            )
            response["Allow"] = "POST, OPTIONS"
        else:
            try:
                oauth = oauth_request(request)
            except OAuth2Error as error:
                response = json_error(error)
            else:
                response = handler(request, oauth)
        return cors.apply(request, response)

    return view


@_oauth_endpoint
def token(request, oauth):
    return server.create_token_response(oauth)


@_oauth_endpoint
def revoke(request, oauth):
    return server.create_endpoint_response("revocation", oauth)


@_oauth_endpoint
def introspect(request, oauth):
    return server.create_endpoint_response("introspection", oauth)


@csrf_exempt
def metadata(request):
    """RFC 8414 §3: this tenant's metadata, readable from any origin."""
    return public_document(request, selectors.authorization_server_metadata)
