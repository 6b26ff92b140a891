"""Client authentication at the token, revocation and introspection endpoints: the methods
registered with Authlib (``server.register_client_auth_method``).

RFC 6749 §2.3: a client uses exactly one authentication method per request. We accept
``client_secret_basic`` (§2.3.1, HTTP Basic), ``client_secret_post`` (§2.3.1, body) and
``none`` (a public client names itself with ``client_id``, RFC 7591 §2), and the assertions
``private_key_jwt`` and ``client_secret_jwt`` (RFC 7523 §2.2, OIDC Core §9; verified in
``oauth.client_assertion``). Rules (DESIGN.md §4):

- a body ``client_id`` equal to the Basic one is accepted (several libraries send both);
  a different one, or Basic plus a body ``client_secret``, is 400 ``invalid_request``;
- a malformed Basic header (bad base64, no colon, not UTF-8), an unknown or disabled client,
  a wrong secret or a method the client is not registered for is 401 ``invalid_client``
  with ``WWW-Authenticate: Basic realm="<issuer>"`` (RFC 6749 §5.2, RFC 9110 §11.6.1);
- an assertion (``client_assertion`` / ``client_assertion_type``) is a method of its own: with
  a Basic header or a body ``client_secret`` it is 400 ``invalid_request``; a wrong
  ``client_assertion_type``, an unreadable assertion, ``iss`` != ``sub`` or a body
  ``client_id`` other than them is 401 ``invalid_client``. Its ``alg`` tells the two assertion
  methods apart: HMAC (HS*) is ``client_secret_jwt``, any other ``private_key_jwt``;
- a client whose security profile allows only some methods (``oauth.security_profile``,
  FAPI 2.0: ``private_key_jwt``) is 401 ``invalid_client`` with any other.

Authlib's ``ClientAuthentication`` calls each method the endpoint allows in turn, as
``func(query_client, request)``, and keeps the first client whose
``Client.check_endpoint_auth_method(method, endpoint)`` holds. Each method here first decides
which one method the request uses (``presented_credentials``) and answers None for any other,
so a request is only ever tried with its own; ``refusal`` says why, when none succeeded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from joserfc import jws
from joserfc.errors import JoseError

from oauth.models import Client
from oauth.security_profile import requirements

BASIC = Client.AuthMethod.BASIC.value
POST = Client.AuthMethod.POST.value
NONE = Client.AuthMethod.NONE.value
PRIVATE_KEY_JWT = Client.AuthMethod.PRIVATE_KEY_JWT.value
SECRET_JWT = Client.AuthMethod.SECRET_JWT.value
#: The token endpoint authentication methods this server implements, as registered in
#: ``oauth.server`` and advertised (RFC 8414 §2 ``token_endpoint_auth_methods_supported``).
TOKEN_ENDPOINT_AUTH_METHODS: tuple[str, ...] = (BASIC, POST, NONE, PRIVATE_KEY_JWT, SECRET_JWT)
#: RFC 7523 §2.2: client authentication by a JWT (``oauth.client_assertion``).
ASSERTION_METHODS: tuple[str, ...] = (PRIVATE_KEY_JWT, SECRET_JWT)
#: RFC 7523 §2.2 ``client_assertion_type`` of both assertion methods.
CLIENT_ASSERTION_TYPE = ASSERTION_TYPE

_FAILED = "Client authentication failed."
_MALFORMED = "Malformed HTTP Basic credentials: expected base64 of client_id:client_secret."


class ClientAuthenticationFailed(InvalidClientError):
    """``invalid_client`` as a 401 with a ``WWW-Authenticate: Basic`` challenge.

    Authlib's ``InvalidClientError.get_headers`` sends a challenge only with status 401 and
    without the ``realm`` RFC 7617 §2 requires (``Basic error=..., error_description=...``),
    and its ``ClientAuthentication`` answers 400 when ``client_secret_basic`` is not among
    the endpoint's methods. RFC 6749 §5.2 requires the challenge when the client tried HTTP
    Basic; RFC 9110 §15.5.2 requires one on every 401, so every failed client authentication
    is a 401 carrying it.
    """

    status_code = 401

    def __init__(self, description: str = _FAILED, *, realm: str = "gatehouse") -> None:
        super().__init__(description=description, status_code=401)
        self.realm = realm

    def get_headers(self):
        headers = super(InvalidClientError, self).get_headers()
        realm = self.realm.replace('"', "")
        headers.append(("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"'))
        return headers


@dataclass(frozen=True)
class PresentedCredentials:
    method: str
    client_id: str
    client_secret: str | None
    #: The compact JWT of an assertion method, not verified yet (``oauth.client_assertion``).
    assertion: str | None = None


def _unverified_assertion(value: str, realm: str) -> tuple[dict, dict]:
    """The header and claims of ``client_assertion``, unverified, only to tell the method
    (by ``alg``) and the client (by ``sub``) before its keys are looked up (RFC 7523 §3)."""
    try:
        compact = jws.extract_compact(value.encode("ascii"))
        header, claims = compact.headers(), json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, UnicodeError, RecursionError):
        raise ClientAuthenticationFailed(
            "client_assertion is not a signed JWT in compact form (RFC 7523 section 2.2).",
            realm=realm,
        ) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ClientAuthenticationFailed("client_assertion is not a JWT.", realm=realm)
    return header, claims


def _assertion_credentials(form, *, has_header: bool, realm: str) -> PresentedCredentials:
    """RFC 7523 §2.2 / §3: which assertion method and which client a request names."""
    if has_header or form.get("client_secret") is not None:
        raise InvalidRequestError(
            "Use one client authentication method: a client assertion, not also HTTP Basic "
            "or a client_secret (RFC 6749 section 2.3)."
        )
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        raise ClientAuthenticationFailed(
            f"client_assertion_type must be {CLIENT_ASSERTION_TYPE} (RFC 7523 section 2.2).",
            realm=realm,
        )
    assertion = form.get("client_assertion")
    if not assertion:
        raise ClientAuthenticationFailed("client_assertion is missing.", realm=realm)
    header, claims = _unverified_assertion(assertion, realm)
    alg, issuer, subject = header.get("alg"), claims.get("iss"), claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ClientAuthenticationFailed(
            "The client assertion needs a sub claim: the client_id (RFC 7523 section 3).",
            realm=realm,
        )
    if issuer != subject:
        raise ClientAuthenticationFailed(
            "The client assertion's iss and sub must both be the client_id (RFC 7523 section 3).",
            realm=realm,
        )
    body_id = form.get("client_id")
    if body_id is not None and body_id != subject:
        raise ClientAuthenticationFailed(
            "The client_id in the body differs from the client assertion's iss and sub.",
            realm=realm,
        )
    method = SECRET_JWT if isinstance(alg, str) and alg.startswith("HS") else PRIVATE_KEY_JWT
    return PresentedCredentials(method, subject, None, assertion=assertion)


def _basic_credentials(header: str, realm: str) -> tuple[str, str]:
    """RFC 7617 §2 credentials of ``client_secret_basic``. Authlib's
    ``extract_basic_authorization`` decodes them with ``to_unicode``, whose
    ``UnicodeDecodeError`` on non-UTF-8 bytes escapes as a 500, accepts base64 with stray
    characters, and reads a value without a colon as a client_id without secret; RFC 6749
    §2.3.1 and §5.2: each of these is a 401 ``invalid_client``."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ClientAuthenticationFailed(
            "Only HTTP Basic client authentication is accepted in the Authorization header.",
            realm=realm,
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise ClientAuthenticationFailed(_MALFORMED, realm=realm) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise ClientAuthenticationFailed(_MALFORMED, realm=realm)
    # RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    return unquote(client_id), unquote(secret)


def presented_credentials(request) -> PresentedCredentials | None:
    """The one authentication method the request uses, or None if it uses none.

    ``request`` is a ``GatehouseRequest`` whose form has already been checked for repeated
    parameters (RFC 6749 §3.2); its issuer is the realm of every challenge.
    """
    realm = request.issuer
    form = request.form
    body_id, body_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization")
    if form.get("client_assertion") is not None or form.get("client_assertion_type") is not None:
        return _assertion_credentials(form, has_header=header is not None, realm=realm)
    if header is not None:
        client_id, secret = _basic_credentials(header, realm)
        if body_secret is not None:
            raise InvalidRequestError(
                "Use one client authentication method: HTTP Basic or client_secret in the "
                "body, not both (RFC 6749 section 2.3)."
            )
        if body_id is not None and body_id != client_id:
            raise InvalidRequestError(
                "The client_id in the body differs from the one in the Authorization header."
            )
        return PresentedCredentials(BASIC, client_id, secret)
    if body_secret is not None:
        if not body_id:
            raise ClientAuthenticationFailed(
                "client_secret was sent without client_id.", realm=realm
            )
        return PresentedCredentials(POST, body_id, body_secret)
    if body_id:
        return PresentedCredentials(NONE, body_id, None)
    return None


def check_profile_allows(client: Client, method: str, realm: str) -> None:
    """FAPI 2.0 §5.3.2.1 item 4 (``requirements(client).auth_methods``): a client under a
    profile that allows only some methods is refused with any other, at every endpoint."""
    allowed = requirements(client).auth_methods
    if allowed is not None and method not in allowed:
        raise ClientAuthenticationFailed(
            f"Under this client's security profile (FAPI 2.0) client authentication must use "
            f"{' or '.join(allowed)}, not {method}.",
            realm=realm,
        )


def _authenticate(method: str, query_client: Callable, request) -> Client | None:
    presented = presented_credentials(request)
    if presented is None or presented.method != method:
        return None
    client = query_client(presented.client_id)
    if client is None:
        raise ClientAuthenticationFailed(realm=request.issuer)
    if method != NONE and not client.check_client_secret(presented.client_secret):
        raise ClientAuthenticationFailed(realm=request.issuer)
    check_profile_allows(client, method, request.issuer)
    return client


def authenticate_client_secret_basic(query_client: Callable, request) -> Client | None:
    """``client_secret_basic`` (RFC 6749 §2.3.1), replacing Authlib's: see
    ``_basic_credentials``, and a Basic header that comes with a body ``client_secret`` or
    another ``client_id`` is refused rather than tried (RFC 6749 §2.3)."""
    return _authenticate(BASIC, query_client, request)


def authenticate_client_secret_post(query_client: Callable, request) -> Client | None:
    """``client_secret_post`` (RFC 6749 §2.3.1): never tried when an Authorization header
    is present (RFC 6749 §2.3, one method per request)."""
    return _authenticate(POST, query_client, request)


def authenticate_none(query_client: Callable, request) -> Client | None:
    """``none`` (RFC 7591 §2): a ``client_id`` alone. Whether the client may go without a
    secret is ``Client.check_endpoint_auth_method``, which Authlib applies next."""
    return _authenticate(NONE, query_client, request)


def refusal(
    request, *, methods: list[str], endpoint: str, query_client: Callable
) -> ClientAuthenticationFailed:
    """Why none of ``methods`` authenticated the client at ``endpoint`` ("token",
    "revocation" or "introspection"), when no method raised already: no credentials, a
    method the endpoint does not take, or one ``Client.check_endpoint_auth_method`` refuses
    this client there."""
    realm = request.issuer
    presented = presented_credentials(request)
    if presented is None:
        return ClientAuthenticationFailed(
            "Client authentication is required: HTTP Basic, client_id and client_secret "
            "in the body, or a client assertion (RFC 7523).",
            realm=realm,
        )
    if presented.method not in methods:
        return ClientAuthenticationFailed(
            f"This endpoint does not accept {presented.method} client authentication.",
            realm=realm,
        )
    client = query_client(presented.client_id) if endpoint in ("token", "par") else None
    if client is not None:
        expected = client.token_endpoint_auth_method
        return ClientAuthenticationFailed(
            f"This client is registered to authenticate with {expected}.", realm=realm
        )
    return ClientAuthenticationFailed(
        f"This client may not use {presented.method} at the {endpoint} endpoint.", realm=realm
    )
