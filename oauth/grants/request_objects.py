"""Where an authorization request's parameters come from: the query, a signed request object
(RFC 9101, OIDC Core §6.1 ``request``), or a pushed request (RFC 9126 §4 ``request_uri``);
and the requirements of the client's security profile on them (``oauth.security_profile``:
PAR required, RFC 9126 §5-§6; the allowed response types, FAPI 2.0 §5.3.2.2 item 1; and, for
FAPI 2.0, PKCE from every client, §5.3.2.2 item 5).

``RequestObjects`` is Authlib's RFC 9101 extension (``JWTAuthenticationRequest``), registered
on the server (``oauth.server``); its hook runs before the authorization grant is chosen, at
the authorization endpoint, on the consent form's return, and at the PAR endpoint
(``oauth.grants.par``), so the three read requests the same way. What Authlib's
``parse_authorization_request`` would do differently, and why it is replaced:

- it answers an unknown or missing client with ``invalid_client`` and status 404; here the
  grant's own validation shows its page (RFC 6749 §4.1.2.1);
- it verifies with one key set imported as a whole and any "recommended" alg, ``none``
  included unless signed objects are required; here the client's registered
  ``request_object_signing_alg`` only, which its profile must allow, against its keys with
  the bounded refetch of ``oauth.client_keys`` (OIDC Core §6.1, RFC 9101 §6.2);
- it checks only the ``client_id`` claim; here also ``iss`` (the client), ``aud`` (this
  issuer), a required and bounded ``exp`` and ``nbf`` (RFC 9101 §10.8, OIDC Core §6.1,
  FAPI 2.0 Message Signing §5.3.1);
- ``request_uri`` is resolved only as a PAR URN of this tenant and this client; a URL is
  ``request_uri_not_supported`` (no fetching of request objects by reference);
- a client without ``request_object_signing_alg`` gets ``request_not_supported`` (OIDC Core
  §6.1: never silently ignored).

An error here cannot be sent to a redirect URI, which nothing has validated yet (the
request object that would name it is the thing in question): it is shown to the user as a
page (``AuthorizationPageError``) and, at the PAR endpoint, answered as JSON.

The request as the browser sent it is kept (``front_channel``): the login redirect and the
consent form carry it on, so each step resolves the same ``request_uri`` or request object
again, and a ``request_uri`` is used up only when the code is issued or the user declines
(``consume_pushed_request``).
"""

from __future__ import annotations

import json
import time

from authlib.oauth2.rfc9101 import JWTAuthenticationRequest
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from oauth import pushed_requests
from oauth.client_keys import ClientKeysError, verify_client_jwt
from oauth.grants.errors import AuthorizationPageError, safe_text
from oauth.models import Client
from oauth.requests import MAX_PARAMETERS, MAX_VALUE_LENGTH, FormPayload
from oauth.security_profile import requirements
from oauth.services.sign_in import AUTH_TIME_SESSION_KEY

#: A request object expires at most this long after it is checked, or after its ``nbf``
#: (FAPI 2.0 Message Signing §5.3.1: ``exp`` no more than 60 minutes after ``nbf``).
MAX_REQUEST_OBJECT_LIFETIME = 3600
#: Clock skew allowed on ``exp`` and ``nbf`` (seconds).
LEEWAY = 30
#: JWT claims of a request object that are not authorization request parameters (RFC 7519 §4.1).
JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})


class InvalidRequestObjectPage(AuthorizationPageError):
    """RFC 9101 §6.3 ``invalid_request_object``."""

    error = "invalid_request_object"


class RequestNotSupportedPage(AuthorizationPageError):
    """OIDC Core §6.1 / RFC 9101 §6.3 ``request_not_supported``."""

    error = "request_not_supported"


class RequestUriNotSupportedPage(AuthorizationPageError):
    """OIDC Core §6.2 / RFC 9101 §6.3 ``request_uri_not_supported``."""

    error = "request_uri_not_supported"


class InvalidRequestUriPage(AuthorizationPageError):
    """RFC 9101 §6.3 ``invalid_request_uri``: expired, used, or another client's."""

    error = "invalid_request_uri"


def _single(request, name: str) -> str | None:
    values = request.payload.datalist.get(name) or []
    if len(values) > 1:
        raise AuthorizationPageError(f"The {name} parameter is repeated.")
    return values[0] if values else None


def _claim_value(value) -> str:
    """A request object claim as a request parameter: strings as they are, numbers in
    decimal, objects (``claims``, ``authorization_details``) as their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class RequestObjects(JWTAuthenticationRequest):
    """RFC 9101 request objects and RFC 9126 pushed requests, resolved before the grant
    validates the request (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(support_request=True, support_request_uri=True)

    def parse_authorization_request(self, authorization_server, request) -> None:
        """Replace ``request.payload`` by the parameters of the request object or pushed
        request it names (RFC 9101 §5, RFC 9126 §4), and enforce the client's profile."""
        client_id = request.payload.data.get("client_id")
        if not client_id or len(request.payload.datalist.get("client_id") or []) > 1:
            return  # the grant shows its page (RFC 6749 §4.1.2.1)
        client = authorization_server.query_client(client_id)
        if client is None:
            return
        needs = requirements(client)
        request_object = _single(request, "request")
        request_uri = _single(request, "request_uri")
        if request_object is not None and request_uri is not None:
            raise AuthorizationPageError(
                "Send request or request_uri, not both (RFC 9101 section 5)."
            )
        if request_uri is not None:
            self._use_pushed_request(request, client, request_uri)
        elif needs.par_required and not request.pushing:
            raise AuthorizationPageError(
                "This application must start sign-in with a pushed authorization request "
                "(RFC 9126): it sends the request to /oauth/par first and then only "
                "client_id and request_uri here."
            )
        elif request_object is not None:
            self._use_request_object(request, client, request_object)
        if needs.fapi2 and not request.payload.data.get("code_challenge"):
            # FAPI 2.0 §5.3.2.2 item 5: PKCE (S256, checked by the grant) for every client.
            raise AuthorizationPageError(
                "This application's security profile (FAPI 2.0) requires PKCE: send "
                "code_challenge with code_challenge_method S256."
            )
        response_type = request.payload.data.get("response_type")
        if needs.response_types is not None and response_type not in needs.response_types:
            raise AuthorizationPageError(
                safe_text(
                    f"The response_type {response_type or '(none)'} is not allowed for this "
                    f"application; use {' '.join(needs.response_types)}."
                )
            )

    def _replace(self, request, params: dict[str, list[str]], *, issued_at: int | None) -> None:
        """RFC 9101 §5 / RFC 9126 §4: only these parameters count; the query's others are
        ignored. A user who signed in after the request was made has satisfied its
        ``prompt=login`` and ``max_age`` (OIDC Core §3.1.2.1): the login redirect cannot
        drop them from a request it cannot rewrite, so they are dropped here."""
        params = dict(params)
        signed_in = None
        if not request.pushing:  # a push stores the request as the client made it
            signed_in = request.http_request.session.get(AUTH_TIME_SESSION_KEY)
        if issued_at is not None and signed_in is not None and int(signed_in) >= issued_at:
            params.pop("max_age", None)
            prompt = [p for p in (params.get("prompt") or [""])[0].split() if p != "login"]
            if prompt:
                params["prompt"] = [" ".join(prompt)]
            else:
                params.pop("prompt", None)
        request.front_channel = request.payload.datalist
        request.payload = FormPayload(params)

    def _use_pushed_request(self, request, client: Client, request_uri: str) -> None:
        if request.pushing:
            raise AuthorizationPageError(
                "A pushed authorization request cannot carry request_uri (RFC 9126 section 2.1)."
            )
        if not pushed_requests.is_pushed_request_uri(request_uri):
            raise RequestUriNotSupportedPage(
                "Request objects are not fetched by reference: request_uri must be one "
                "returned by this server's pushed authorization request endpoint."
            )
        try:
            pushed = pushed_requests.load(request_uri, client_id=client.client_id)
        except pushed_requests.PushedRequestError as error:
            raise InvalidRequestUriPage(str(error)) from None
        self._replace(request, pushed.params, issued_at=pushed.pushed_at)
        request.pushed_request_uri = request_uri

    def _use_request_object(self, request, client: Client, value: str) -> None:
        claims = self.verified_claims(request, client, value)
        params = {
            name: [_claim_value(claim)]
            for name, claim in claims.items()
            if name not in JWT_CLAIMS and claim is not None
        }
        # The limits of the form parser (oauth.requests), which these values bypassed.
        if len(params) > MAX_PARAMETERS or any(
            len(v[0]) > MAX_VALUE_LENGTH or "\x00" in v[0] for v in params.values()
        ):
            raise InvalidRequestObjectPage(
                f"A request object holds at most {MAX_PARAMETERS} parameters of at most "
                f"{MAX_VALUE_LENGTH} characters, none with a NUL character."
            )
        issued_at = claims.get("iat") or claims.get("nbf")
        self._replace(request, params, issued_at=issued_at if isinstance(issued_at, int) else None)

    def verified_claims(self, request, client: Client, value: str) -> dict:
        """OIDC Core §6.1, RFC 9101 §6: the request object signed with the client's
        registered alg (allowed by its profile), from the client (``iss``, ``client_id``),
        for this issuer (``aud``), with a bounded ``exp`` and any ``nbf`` passed."""
        alg = client.request_object_signing_alg
        if not alg:
            raise RequestNotSupportedPage(
                "This application is not registered to send request objects "
                "(request_object_signing_alg): the request parameter is not accepted from it."
            )
        if alg not in requirements(client).signing_algs:
            raise InvalidRequestObjectPage(
                f"The application's request object alg {alg} is not allowed by its security "
                "profile."
            )
        try:
            claims = verify_client_jwt(client, value, algorithms=[alg]).claims
        except ClientKeysError as error:
            raise InvalidRequestObjectPage(safe_text(f"The request object: {error}")) from None
        registry = JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": client.client_id},
            aud={"essential": True, "value": request.issuer},
            exp={"essential": True},
            client_id={"essential": True, "value": client.client_id},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise InvalidRequestObjectPage(
                safe_text(f"The request object's claims are not valid: {error}")
            ) from None
        exp, nbf = claims["exp"], claims.get("nbf")
        if exp > time.time() + MAX_REQUEST_OBJECT_LIFETIME or (
            isinstance(nbf, int | float) and exp - nbf > MAX_REQUEST_OBJECT_LIFETIME
        ):
            raise InvalidRequestObjectPage(
                f"The request object lives too long: exp at most {MAX_REQUEST_OBJECT_LIFETIME} "
                "seconds ahead (and after nbf)."
            )
        if "request" in claims or "request_uri" in claims:
            raise InvalidRequestObjectPage(
                "A request object cannot contain request or request_uri (RFC 9101 section 4)."
            )
        return claims


def metadata() -> dict:
    """RFC 9126 §5 and RFC 8414 §2 / RFC 9101 §10.5 members of this tenant's metadata:
    whether every client must push (the tenant's setting or its FAPI 2.0 profile) and the
    algs request objects may be signed with (a client uses its registered one).

    ``request_uri_parameter_supported`` (OIDC Discovery §3) stays false: request objects are
    not fetched by reference; a PAR ``request_uri`` is advertised by RFC 9126's own
    ``pushed_authorization_request_endpoint``."""
    tenant = requirements(None)
    return {
        "require_pushed_authorization_requests": tenant.par_required,
        "request_object_signing_alg_values_supported": list(tenant.signing_algs),
    }


def consume_pushed_request(request) -> None:
    """RFC 9126 §4: a ``request_uri`` is used once: up when the code is issued or the user
    declines. A second use (a replayed or reloaded decision) is refused."""
    request_uri = request.pushed_request_uri
    if request_uri and not pushed_requests.consume(request_uri):
        raise InvalidRequestUriPage(
            "This sign-in request was already used or has expired. "
            "Go back to the application and start signing in again."
        )
