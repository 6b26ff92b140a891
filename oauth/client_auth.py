"""Client authentication at the token, revocation and introspection endpoints.

RFC 6749 §2.3: a client uses exactly one authentication method per request. We accept
``client_secret_basic`` (§2.3.1, HTTP Basic), ``client_secret_post`` (§2.3.1, body) and
``none`` (a public client names itself with ``client_id``, RFC 7591 §2). Rules (DESIGN.md §4):

- a body ``client_id`` equal to the Basic one is accepted (several libraries send both);
  a different one, or Basic plus a body ``client_secret``, is 400 ``invalid_request``;
- a malformed Basic header (bad base64, no colon, not UTF-8), an unknown or disabled client,
  a wrong secret or a method the client is not registered for is 401 ``invalid_client``
  with ``WWW-Authenticate: Basic realm="<issuer>"`` (RFC 6749 §5.2, RFC 9110 §11.6.1).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError

from oauth.models import Client

BASIC = Client.AuthMethod.BASIC.value
POST = Client.AuthMethod.POST.value
NONE = Client.AuthMethod.NONE.value

#: A client_id longer than this cannot exist (the column is 64 characters).
MAX_CLIENT_ID_LENGTH = 64
_FAILED = "Client authentication failed."


class ClientAuthenticationFailed(InvalidClientError):
    """``invalid_client`` as a 401 with a ``WWW-Authenticate: Basic`` challenge.

    RFC 6749 §5.2 requires the challenge when the client tried HTTP Basic; RFC 9110 §15.5.2
    requires it on every 401, so every failed client authentication carries it.
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


def _basic_credentials(header: str, realm: str) -> tuple[str, str]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ClientAuthenticationFailed(
            "Only HTTP Basic client authentication is accepted in the Authorization header.",
            realm=realm,
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise ClientAuthenticationFailed(
            "Malformed HTTP Basic credentials: expected base64 of client_id:client_secret.",
            realm=realm,
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise ClientAuthenticationFailed(
            "Malformed HTTP Basic credentials: expected base64 of client_id:client_secret.",
            realm=realm,
        )
    # RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    return unquote(client_id), unquote(secret)


def presented_credentials(request, *, realm: str) -> PresentedCredentials | None:
    """The one authentication method the request uses, or None if it uses none.

    ``request`` is an Authlib ``OAuth2Request`` whose form has already been checked for
    repeated parameters (RFC 6749 §3.2).
    """
    form = request.form
    body_id, body_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization")
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


def authenticate_client(
    request, *, query_client, methods: list[str], endpoint: str, realm: str
) -> Client:
    """Authenticate the client of ``request`` with one of ``methods`` at ``endpoint``.

    ``endpoint`` is "token", "revocation" or "introspection"; which methods a client may use
    there is ``Client.check_endpoint_auth_method``.
    """
    presented = presented_credentials(request, realm=realm)
    if presented is None:
        raise ClientAuthenticationFailed(
            "Client authentication is required: HTTP Basic, or client_id and client_secret "
            "in the body.",
            realm=realm,
        )
    if presented.method not in methods:
        raise ClientAuthenticationFailed(
            f"This endpoint does not accept {presented.method} client authentication.",
            realm=realm,
        )
    client = None
    if len(presented.client_id) <= MAX_CLIENT_ID_LENGTH:
        client = query_client(presented.client_id)
    if client is None:
        raise ClientAuthenticationFailed(realm=realm)
    if not client.check_endpoint_auth_method(presented.method, endpoint):
        if endpoint == "token":
            expected = client.token_endpoint_auth_method
            raise ClientAuthenticationFailed(
                f"This client is registered to authenticate with {expected}.", realm=realm
            )
        raise ClientAuthenticationFailed(
            f"This client may not use {presented.method} at the {endpoint} endpoint.",
            realm=realm,
        )
    if presented.method != NONE and not client.check_client_secret(presented.client_secret):
        raise ClientAuthenticationFailed(realm=realm)
    request.auth_method = presented.method
    return client
