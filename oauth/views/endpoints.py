"""Token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662) and
authorization server metadata (RFC 8414). JSON in, JSON out, no cookies, no CSRF.

The first three are rate limited (``oauth.ratelimits``): per client, per tenant and per
source IP, failed client authentications per IP and per (client_id, IP)."""

from __future__ import annotations

from functools import wraps

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from django.db import connection
from django.views.decorators.csrf import csrf_exempt

from oauth import client_auth, cors, dpop, ratelimits, selectors
from oauth.grants import request_objects
from oauth.registration import documents
from oauth.requests import oauth_request
from oauth.responses import public_document
from oauth.server import json_error, server


def _presented_client_id(oauth) -> str | None:
    """The client_id the request names (before it is authenticated), for the limits."""
    try:
        presented = client_auth.presented_credentials(oauth)
    except OAuth2Error:  # malformed credentials: counted per IP only, refused by the server
        return None
    return presented.client_id if presented else None


def _oauth_endpoint(endpoint: str):
    """POST only (405 otherwise), CORS preflight, every malformed request a clean
    ``invalid_request`` with ``Cache-Control: no-store`` (RFC 6749 §5.1, §5.2), and the
    rate limits of ``endpoint``: a 429 before any database work, a 401 counted as a failed
    client authentication."""

    def decorate(handler):
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
                    response = _answer(request, oauth, endpoint, handler)
            return cors.apply(request, response)

        return view

    return decorate


#: (endpoint, grant type or None for all) whose statements confirm the cached issuer policy.
_CONFIRMING = {(ratelimits.INTROSPECTION, None), (ratelimits.TOKEN, "client_credentials")}


def _answer(request, oauth, endpoint: str, handler):
    """The limits' round trip overlaps the request's first steps (parsing, client
    authentication from the process's cache, token generation): their answer is read
    before the first database statement (``ratelimits.admit(defer=True)``, resolved by
    ``admission_first``), so a refused request does no database work (but for one look at
    the issuer policy's version, per tenant, process and ``ISSUER_SETTINGS_CACHE_SECONDS``,
    when a confirming request used it from past that lifetime). A client_id that is a
    metadata document URL would be fetched: that request waits for the answer first."""
    client_id = _presented_client_id(oauth)
    defer = not documents.is_document_client_id(client_id)
    # client_credentials and introspection may use the tenant's issuer policy from the
    # process's cache past its short lifetime: their statement confirms it, or, for an
    # answer no statement confirmed, one more statement does (selectors.issuer_policy).
    # Changed: the request is answered again from the start, with the current policy.
    confirmable = {(endpoint, None), (endpoint, oauth.payload.grant_type)} & _CONFIRMING
    while True:
        with selectors.confirmed_issuer_policy(bool(confirmable)):
            admission = ratelimits.admit(
                request, endpoint=endpoint, client_id=client_id, defer=defer
            )
            refused = changed = False
            try:
                with connection.execute_wrapper(admission_first(admission)):
                    response = handler(request, oauth)
            except _Refused:
                response, refused = ratelimits.too_many_requests(admission), True
            except selectors.PolicyChanged:
                changed = True
            finally:
                admission.resolve()  # read the answer in any case: it holds a Redis connection
            changed = changed or not selectors.policy_still_current()
        if changed:  # once at most: the next turn reads the policy afresh
            ratelimits.withdraw(admission)
            confirmable = set()
            continue
        if refused:
            return response
        # Every 401 of these endpoints is invalid_client (oauth.client_auth).
        return ratelimits.settle(
            admission, response, authentication_failed=response.status_code == 401
        )


class _Refused(Exception):
    """Raised into the handler at its first statement when the limits refused it."""


def admission_first(admission):
    """A database execute wrapper (Django's ``connection.execute_wrapper``): the first
    statement waits for the limits' answer and, on a refusal, never runs."""

    def wrapper(execute, sql, params, many, context):
        if admission.resolve():
            raise _Refused(admission.refused)
        return execute(sql, params, many, context)

    return wrapper


@_oauth_endpoint(ratelimits.TOKEN)
def token(request, oauth):
    return server.create_token_response(oauth)


@_oauth_endpoint(ratelimits.REVOCATION)
def revoke(request, oauth):
    return server.create_endpoint_response("revocation", oauth)


@_oauth_endpoint(ratelimits.INTROSPECTION)
def introspect(request, oauth):
    return server.create_endpoint_response("introspection", oauth)


@_oauth_endpoint(ratelimits.PAR)
def par(request, oauth):
    """RFC 9126 §2: pushed authorization requests (``oauth.grants.par``)."""
    return server.create_endpoint_response("par", oauth)


@csrf_exempt
def metadata(request):
    """RFC 8414 §3: this tenant's metadata, readable from any origin."""
    return public_document(request, _server_metadata)


def _server_metadata(request) -> dict:
    """RFC 8414 metadata with the PAR and request-object members and the DPoP members (RFC
    9449 §5.1), which depend on the tenant's security profile
    (``oauth.grants.request_objects.metadata``, ``oauth.dpop.metadata``)."""
    return {
        **selectors.authorization_server_metadata(request),
        **request_objects.metadata(),
        **dpop.metadata(),
    }
