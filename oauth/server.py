"""The one AuthorizationServer, assembled here for every tenant (DESIGN.md §1).

It holds model classes and grant registrations only. Everything tenant-specific is
computed per request: the issuer from the request (``selectors.issuer_for_request``), the
issuer policy from the tenant's ``IssuerSettings``, and every query runs on ``connection``,
whose search_path the tenant middleware set.

Requests reach Authlib as ``GatehouseRequest``: its parameters come from our own strict
``application/x-www-form-urlencoded`` parser (``read_params``), so repeated parameters
(RFC 6749 §3.2), non-UTF-8 bytes, oversized values and wrong content types are clean 400
``invalid_request`` answers, never a 500.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from authlib.common.security import is_secure_transport
from authlib.consts import default_json_headers
from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse

from oauth import client_auth, grants, selectors
from oauth.models import Client, Token

#: At most this many parameters, names of this length and values of this length: far more
#: than any OAuth request needs, far less than what would make parsing costly.
MAX_PARAMETERS = 64
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 8192
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class FormPayload(OAuth2Payload):
    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist = params
        self._data = {name: values[0] for name, values in params.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class GatehouseRequest(OAuth2Request):
    """An Authlib request over a Django request, with the tenant's issuer attached."""

    def __init__(self, http_request, params: dict[str, list[str]]) -> None:
        uri = http_request.build_absolute_uri()
        if not is_secure_transport(uri):
            raise InvalidRequestError("This endpoint is served over https only.")
        super().__init__(http_request.method, uri, headers=http_request.headers)
        self.payload = FormPayload(params)
        self.http_request = http_request
        self.issuer = selectors.issuer_for_request(http_request)
        self.auth_time = None

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


def _parse_urlencoded(raw: bytes) -> dict[str, list[str]]:
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except UnicodeDecodeError:
        raise InvalidRequestError("The request is not valid UTF-8 form encoding.") from None
    except ValueError:
        raise InvalidRequestError(
            f"The request has more than {MAX_PARAMETERS} parameters."
        ) from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequestError("A parameter name is too long.")
        if "\x00" in name or "\x00" in value:
            # PostgreSQL text cannot hold NUL; no OAuth value contains one.
            raise InvalidRequestError("A parameter contains a NUL character.")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidRequestError(
                f"The {grants.safe_text(name)} parameter is longer than {MAX_VALUE_LENGTH} "
                "characters."
            )
        # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        if value != "":
            params.setdefault(name, []).append(value)
    return params


def read_params(http_request, *, allow_repeated: bool = False) -> dict[str, list[str]]:
    """The parameters of an OAuth request: the query string of a GET, the form body of a
    POST (RFC 6749 §3.1, §3.2). Raises ``InvalidRequestError`` for anything malformed."""
    if http_request.method == "GET":
        raw = http_request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
    else:
        try:
            raw = http_request.body
        except RequestDataTooBig:
            raise InvalidRequestError("The request body is too large.") from None
        if raw or http_request.META.get("CONTENT_TYPE"):
            charset = http_request.content_params.get("charset", "utf-8").lower()
            if http_request.content_type != FORM_CONTENT_TYPE or charset != "utf-8":
                raise InvalidRequestError(
                    f"The request body must be {FORM_CONTENT_TYPE} (RFC 6749 section 3.2)."
                )
    params = _parse_urlencoded(raw)
    if not allow_repeated:
        for name, values in params.items():
            if len(values) > 1:
                raise InvalidRequestError(
                    f"The {grants.safe_text(name)} parameter is repeated (RFC 6749 section 3.2)."
                )
    return params


class GatehouseAuthorizationServer(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(Client, Token)
        self.register_token_generator("default", grants.generate_bearer_token)

    def query_client(self, client_id: str) -> Client | None:
        return selectors.client_by_client_id(client_id=client_id)

    def authenticate_client(self, request, methods, endpoint="token") -> Client:
        client = client_auth.authenticate_client(
            request,
            query_client=self.query_client,
            methods=methods,
            endpoint=endpoint,
            realm=request.issuer,
        )
        # CORS answers the authenticated client's registered origins (oauth.cors).
        request.http_request.oauth_client = client
        return client

    def save_token(self, token, request):  # pragma: no cover - grants store tokens
        raise NotImplementedError("grants store tokens through oauth.services")

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a GatehouseRequest with oauth.server.oauth_request()")

    def authorization_code_grant(self, request) -> grants.AuthorizationCodeGrant:
        """The authorization-code grant for an authorization request, with the extensions it
        is registered with (``CODE_GRANT_EXTENSIONS``)."""
        for grant_cls, extensions in self._authorization_grants:
            if issubclass(grant_cls, grants.AuthorizationCodeGrant):
                grant = grant_cls(request, self)
                for extension in extensions or ():
                    extension(grant)
                return grant
        raise RuntimeError("the authorization_code grant is not registered")

    def get_token_grant(self, request):
        if not request.payload.grant_type:
            raise InvalidRequestError("The grant_type parameter is missing.")
        return super().get_token_grant(request)

    def create_token_response(self, request=None):
        try:
            return super().create_token_response(request)
        except OAuth2Error as error:  # get_token_grant's invalid_request
            return self.handle_error_response(request, error)

    def handle_response(self, status_code, payload, headers) -> HttpResponse:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        response = HttpResponse(payload, status=status_code)
        for name, value in headers:
            response[name] = value
        return response

    def handle_error_response(self, request, error) -> HttpResponse:
        return self.handle_response(*error(self.get_error_uri(request, error)))

    def send_signal(self, name, *args, **kwargs) -> None:
        """Authlib's Django signals are not used; oauth.signals.token_issued is."""


def json_error(error: OAuth2Error) -> HttpResponse:
    """An RFC 6749 §5.2 error answer outside Authlib (parsing, wrong method)."""
    return server.handle_error_response(None, error)


def json_response(payload: dict, *, status: int = 200, headers=None) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), status=status)
    for name, value in headers if headers is not None else default_json_headers:
        response[name] = value
    return response


def oauth_request(http_request, *, allow_repeated: bool = False) -> GatehouseRequest:
    return GatehouseRequest(http_request, read_params(http_request, allow_repeated=allow_repeated))


#: Extensions of the authorization-code grant, applied at both the authorization and the
#: token endpoint: ``grants.OpenIDToken`` adds the id_token (OIDC Core §3.1.3.3).
CODE_GRANT_EXTENSIONS: list = [grants.OpenIDToken()]

server = GatehouseAuthorizationServer()
server.register_grant(grants.ClientCredentialsGrant)
server.register_grant(grants.AuthorizationCodeGrant, CODE_GRANT_EXTENSIONS)
server.register_grant(grants.RefreshTokenGrant)
server.register_endpoint(grants.RevocationEndpoint)
server.register_endpoint(grants.IntrospectionEndpoint)
