"""OAuth requests as Authlib sees them, parsed by our own strict form parser.

``read_params`` parses the query string of a GET or the ``application/x-www-form-urlencoded``
body of a POST (RFC 6749 §3.1, §3.2). Repeated parameters, non-UTF-8 bytes, oversized values
and wrong content types are clean 400 ``invalid_request`` answers, never a 500. The views
build a ``GatehouseRequest`` from the result and hand it to the server (``oauth.server``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request
from django.core.exceptions import RequestDataTooBig

from oauth import selectors
from oauth.grants.errors import safe_text

#: At most this many parameters, names of this length and values of this length: far more
#: than any OAuth request needs, far less than what would make parsing costly.
MAX_PARAMETERS = 64
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 8192
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class FormPayload(OAuth2Payload):
    """The parameters of one request: ``data`` has the first value of each, ``datalist`` all."""

    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist = params
        self._data = {name: values[0] for name, values in params.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist

    @property
    def state(self) -> str | None:
        """RFC 6749 §4.1.2.1: an error carries "the exact value received" as ``state``.
        A repeated ``state`` has no exact value, so none is echoed (Authlib's
        ``get_consent_grant`` copies ``payload.state`` into every error it raises)."""
        values = self._datalist.get("state") or []
        return values[0] if len(values) == 1 else None


class GatehouseRequest(OAuth2Request):
    """An Authlib request over a Django request, with the tenant's issuer attached.

    Beside Authlib's own attributes (``client``, ``user``, ``scope``, ``authorization_code``,
    ``refresh_token``) it carries what our grants resolve for the storage hooks:
    ``auth_time``, ``amr``, ``resource`` and ``audience``.
    """

    def __init__(self, http_request, params: dict[str, list[str]]) -> None:
        """Authlib's ``OAuth2Request.__init__`` raises ``InsecureTransportError`` for a plain
        http URI. It is raised while the server builds the request, outside the error
        handling of ``create_token_response`` and ``create_endpoint_response``, so Django
        answers 500, and ``insecure_transport`` is no RFC 6749 §5.2 error code. RFC 6749
        §3.1 and §3.2 require TLS: here it is a clean 400 ``invalid_request``."""
        uri = http_request.build_absolute_uri()
        if not is_secure_transport(uri):
            raise InvalidRequestError("This endpoint is served over https only.")
        super().__init__(http_request.method, uri, headers=http_request.headers)
        self.payload = FormPayload(params)
        self.http_request = http_request
        self.issuer = selectors.issuer_for_request(http_request)
        #: When the user signed in (OIDC Core §2 ``auth_time``), set by the authorization view.
        self.auth_time = None
        #: How the user signed in (RFC 8176 ``amr``), set by the authorization view.
        self.amr: list[str] = []
        #: The RFC 8707 resource an authorization request named, stored with the code.
        self.resource = ""
        #: The audience of the token being issued (RFC 8707 §2, RFC 9068 §3).
        self.audience = ""
        #: Set at the PAR endpoint (RFC 9126 §2.1) while the pushed request is validated.
        self.pushing = False
        #: The parameters as sent, when a request object or ``request_uri`` replaced them
        #: (``oauth.grants.request_objects``); the login and consent pages carry these on.
        self.front_channel: dict[str, list[str]] | None = None
        #: The RFC 9126 ``request_uri`` this request came from, used up with the decision.
        self.pushed_request_uri = ""
        #: The thumbprint of the DPoP key the tokens are bound to (RFC 9449 §6, ``oauth.dpop``).
        self.dpop_jkt: str | None = None

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
                f"The {safe_text(name)} parameter is longer than {MAX_VALUE_LENGTH} characters."
            )
        # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        if value != "":
            params.setdefault(name, []).append(value)
    return params


def read_params(http_request, *, allow_repeated: bool = False) -> dict[str, list[str]]:
    """The parameters of an OAuth request: the query string of a GET, the form body of a
    POST (RFC 6749 §3.1, §3.2). Raises ``InvalidRequestError`` for anything malformed.

    Authlib's ``DjangoOAuth2Request`` would read the token endpoint's parameters from the
    query string and the body together (RFC 6749 §2.3.1: client credentials MUST NOT be in
    the URI) and keep empty and repeated values (RFC 6749 §3.1, §3.2).
    """
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
                    f"The {safe_text(name)} parameter is repeated (RFC 6749 section 3.2)."
                )
    return params


def oauth_request(http_request, *, allow_repeated: bool = False) -> GatehouseRequest:
    """The ``GatehouseRequest`` of a Django request (``allow_repeated`` at the authorization
    endpoint, whose grant reports repeated parameters itself, RFC 6749 §3.1)."""
    return GatehouseRequest(http_request, read_params(http_request, allow_repeated=allow_repeated))
