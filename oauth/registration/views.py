"""``/oauth/register`` (RFC 7591 §3) and ``/oauth/register/<client_id>`` (RFC 7592 §2).

JSON in and out, no cookies and no CSRF (the endpoints take bearer tokens, never a session),
``Cache-Control: no-store`` on every answer (the bodies carry secrets), rate limited like the
other OAuth endpoints (``oauth.ratelimits``) and, for registrations, by the tenant's caps.
"""

from __future__ import annotations

import json

from authlib.common.security import is_secure_transport
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from kernel.http import client_ip
from oauth import ratelimits, selectors
from oauth.grants.errors import safe_text
from oauth.registration import services
from oauth.registration.metadata import client_json
from oauth.responses import json_response

ENDPOINT = "registration"
#: A registration is a few hundred bytes; far larger bodies are refused before parsing.
MAX_BODY_BYTES = 32_768


def _error(error: OAuth2Error):
    """RFC 7591 §3.2.2 / RFC 6750 §3: the error as JSON, never cached; a bearer problem
    with its ``WWW-Authenticate`` challenge."""
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    response = json_response(body, status=error.status_code or 400)
    if isinstance(error, InvalidTokenError):
        response["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{safe_text(error.description)}"'
        )
    if isinstance(error, services.TooManyRegistrations):
        response["Retry-After"] = str(error.retry_after)
    return response


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _json_body(request):
    if (request.content_type or "") != "application/json":
        raise InvalidRequestError("Send the client metadata as application/json.")
    try:
        raw = request.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidRequestError(f"The body is larger than {MAX_BODY_BYTES} bytes.")
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequestError("The body is not valid JSON.") from None


def _management_uri(request, client_id: str) -> str:
    return selectors.issuer_for_request(request) + reverse(
        "oauth-register-client", args=[client_id]
    )


def _registered_json(request, client, *, secret: str | None, registration_token: str) -> dict:
    body = client_json(client)
    if secret is not None:
        body["client_secret"] = secret
    body["registration_access_token"] = registration_token
    body["registration_client_uri"] = _management_uri(request, client.client_id)
    return body


def _limited(handler):
    """HTTPS only (as every OAuth endpoint), the endpoint's rate limits, no CSRF."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        if not is_secure_transport(request.build_absolute_uri()):
            return _error(InvalidRequestError("Use https for this endpoint."))
        admission = ratelimits.admit(request, endpoint=ENDPOINT)
        if admission.refused:
            return ratelimits.too_many_requests(admission)
        try:
            response = handler(request, *args, **kwargs)
        except OAuth2Error as error:
            response = _error(error)
        # A 401 here is not counted with the failed client authentications: initial and
        # registration access tokens are 256-bit random values, so guessing them is hopeless
        # and the per-IP request limit bounds it, while the shared failure counters would
        # let one agent's stale token lock its address out of the token endpoint.
        return ratelimits.settle(admission, response, authentication_failed=False)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _method_not_allowed(allowed: str):
    response = _error(InvalidRequestError(f"Use {allowed} here.", status_code=405))
    response["Allow"] = allowed
    return response


@_limited
def register(request):
    """RFC 7591 §3.1: POST the client's metadata; 201 with the client (RFC 7591 §3.2.1)."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    registered = services.client_register(
        body=_json_body(request), ip=client_ip(request), initial_access_token=_bearer(request)
    )
    body = _registered_json(
        request,
        registered.client,
        secret=registered.secret,
        registration_token=registered.registration_token,
    )
    return json_response(body, status=201)


@_limited
def manage(request, client_id: str):
    """RFC 7592 §2: read (GET), update (PUT) or delete (DELETE) the client, with its
    registration access token as a bearer token."""
    if request.method not in ("GET", "PUT", "DELETE"):
        return _method_not_allowed("GET, PUT, DELETE")
    client = services.registered_client(client_id=client_id, registration_token=_bearer(request))
    if request.method == "DELETE":
        services.client_registration_delete(client=client)
        response = HttpResponse(status=204)
        response["Cache-Control"] = "no-store"
        return response
    if request.method == "GET":
        token = services.registration_token_rotate(client=client)
    else:
        client, token = services.client_registration_update(client=client, body=_json_body(request))
    return json_response(_registered_json(request, client, secret=None, registration_token=token))
