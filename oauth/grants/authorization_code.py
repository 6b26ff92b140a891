"""The authorization code grant (RFC 6749 §4.1) with exact redirect URIs (RFC 9700 §2.1,
RFC 8252 §7.3 loopback ports), RFC 9207 ``iss``, RFC 8707 resources and single-use codes,
and its OpenID Connect extension, the id_token (OIDC Core §3.1.3.3).

PKCE is Authlib's extension, tightened in ``oauth.grants.pkce``; both extensions are
registered with this grant in ``oauth.server``.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oidc.core.grants import OpenIDToken as _OpenIDToken
from django.utils import timezone

from kernel import credentials
from oauth import dpop, rowsql
from oauth.client_auth import ASSERTION_METHODS, BASIC, NONE, POST
from oauth.grants import resources, scopes, tokens
from oauth.grants.errors import AuthorizationPageError, safe_text
from oauth.grants.request_objects import consume_pushed_request
from oauth.models import AuthorizationCode, Client, Token
from oauth.oidc import authorization as oidc_authorization
from oauth.oidc import tokens as oidc_tokens
from oauth.registration import documents
from oauth.services import codes as code_services

PROMPTS = {"none", "login", "consent", "select_account"}
#: AuthorizationCode.nonce and GrantFamily.nonce hold at most this many characters.
MAX_NONCE_LENGTH = 500
#: Parameters of an authorization request that may appear at most once (RFC 6749 §3.1).
AUTHORIZATION_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "resource",
    "response_mode",
    "max_age",
    "acr_values",
    "dpop_jkt",
)
#: Where an error goes depends on these, so a repeated one is shown to the user.
_ROUTING_PARAMETERS = ("client_id", "redirect_uri")


def _repeated(request, name: str) -> bool:
    return len(request.payload.datalist.get(name) or []) > 1


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1. Storage hooks: ``save_authorization_code``, ``query_authorization_code``,
    ``authenticate_user``; the code is consumed in ``save_token``."""

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST, NONE, *ASSERTION_METHODS]

    # -- authorization endpoint (RFC 6749 §4.1.1, §4.1.2) --

    @classmethod
    def check_authorization_endpoint(cls, request) -> bool:
        """Authlib's ``get_authorization_grant`` picks the grant by ``response_type`` and, when
        none matches, raises ``unsupported_response_type`` itself: for a missing
        ``response_type`` too (RFC 6749 §4.1.2.1: that is ``invalid_request``), with the raw
        value in a description ``OAuth2Error`` refuses with a ``ValueError`` (a 500) when it
        holds a character RFC 6749 §5.2 forbids, and routed by the first of repeated
        ``client_id`` values. This is the only authorization grant, so it takes every
        authorization request and ``validate_authorization_request`` checks
        ``response_type`` once the client and redirect URI are known."""
        return True

    @staticmethod
    def validate_no_multiple_request_parameter(request) -> None:
        """Authlib's check (called by ``get_consent_grant``) runs before the redirect URI is
        validated, so a repeated ``scope``, ``state`` or ``response_type`` becomes an error
        the user sees instead of one sent back to the client (RFC 6749 §4.1.2.1), and it
        checks five parameters only. Here only a repeated ``client_id`` or ``redirect_uri``
        is refused, as a page; the others go back to the client, from
        ``validate_authorization_request`` (RFC 6749 §3.1: no parameter more than once)."""
        if any(_repeated(request, name) for name in _ROUTING_PARAMETERS):
            raise AuthorizationPageError("The client_id or redirect_uri parameter is repeated.")

    def validate_authorization_request(self) -> str:
        """RFC 6749 §4.1.1 and §4.1.2.1: the client and redirect URI are checked first and any
        problem with them is shown to the user (never a redirect); every later problem goes
        back to the redirect URI (with ``state``, set by ``get_consent_grant``, and ``iss``).

        Replaces Authlib's ``validate_code_authorization_request``, which quotes an
        unregistered redirect URI in its description (``OAuth2Error`` raises ``ValueError``,
        a 500, when the URI holds a quote or backslash, RFC 6749 §5.2), checks
        ``response_type`` only with ``client.check_response_type`` (a missing or unknown one
        would be ``unauthorized_client``; RFC 6749 §4.1.2.1: ``invalid_request``,
        ``unsupported_response_type``), never checks that the client may use the code grant,
        and has no RFC 8707 ``resource``, OIDC ``nonce``, ``prompt`` or ``max_age``.
        Extensions still run on ``after_validate_authorization_request_payload``.
        """
        request = self.request
        client_id = request.payload.client_id
        if not client_id:
            raise AuthorizationPageError("The request names no client (client_id is missing).")
        if documents.is_document_client_id(client_id):
            try:
                client = documents.document_client(client_id)
            except documents.DocumentError as error:
                raise AuthorizationPageError(
                    safe_text(f"The application that sent you here cannot be used: {error}.")
                ) from None
        else:
            client = self.server.query_client(client_id)
        if client is None:
            raise AuthorizationPageError("The application that sent you here is not known.")
        redirect_uri = request.payload.redirect_uri
        if redirect_uri:
            if not client.check_redirect_uri(redirect_uri):
                raise AuthorizationPageError(
                    "The redirect URI is not registered for this application."
                )
        else:
            redirect_uri = client.get_default_redirect_uri()
            if not redirect_uri:
                raise AuthorizationPageError(
                    "The request names no redirect URI and the application has several."
                )
        request.client = client
        try:
            self._validate_parameters(client, redirect_uri)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def _validate_parameters(self, client: Client, redirect_uri: str) -> None:
        request = self.request
        data = request.payload.data
        for name in AUTHORIZATION_PARAMETERS:
            if _repeated(request, name):
                raise InvalidRequestError(f"The {name} parameter is repeated.")
        response_type = data.get("response_type")
        if not response_type:
            raise InvalidRequestError("The response_type parameter is missing.")
        if response_type != "code":
            raise UnsupportedResponseTypeError(response_type=safe_text(response_type))
        if not client.check_response_type("code") or not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the authorization code flow."
            )
        request.scope = scopes.allowed_scope(client, data.get("scope"))
        self.execute_hook("after_validate_authorization_request_payload", redirect_uri)
        if len(data.get("nonce") or "") > MAX_NONCE_LENGTH:
            raise InvalidRequestError(f"The nonce is longer than {MAX_NONCE_LENGTH} characters.")
        prompts = set((data.get("prompt") or "").split())
        if not prompts <= PROMPTS or ("none" in prompts and len(prompts) > 1):
            raise InvalidRequestError("The prompt parameter is invalid.")
        try:
            oidc_authorization.parse_max_age(data.get("max_age"))
        except ValueError as error:
            raise InvalidRequestError(str(error)) from None
        request.resource = resources.requested_resource(request, client)
        dpop.check_jkt_parameter(data.get("dpop_jkt"))

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """RFC 6749 §4.1.2: Authlib's response (a new code and ``state``) plus RFC 9207 §2
        ``iss``, which Authlib adds only through its ``IssuerParameter`` server extension,
        whose ``get_issuer()`` is given no request and so cannot name this tenant. A
        pushed request's ``request_uri`` is used up first (RFC 9126 §4, one-time use)."""
        consume_pushed_request(self.request)
        status, body, headers = super().create_authorization_response(redirect_uri, grant_user)
        location = add_params_to_uri(dict(headers)["Location"], [("iss", self.request.issuer)])
        return status, body, [("Location", location)]

    def generate_authorization_code(self) -> str:
        return credentials.new_secret()

    def save_authorization_code(self, code: str, request) -> AuthorizationCode:
        data = request.payload.data
        challenge = data.get("code_challenge") or ""
        return code_services.authorization_code_create(
            client=request.client,
            user=request.user,
            code=code,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope or "",
            auth_time=request.auth_time or timezone.now(),
            nonce=data.get("nonce") or "",
            code_challenge=challenge,
            code_challenge_method="S256" if challenge else "",
            resource=request.resource,
            amr=request.amr,
            dpop_jkt=data.get("dpop_jkt") or "",
            sid=getattr(request, "sid", ""),
        )

    # -- token endpoint (RFC 6749 §4.1.3, §4.1.4) --

    def validate_token_request(self) -> None:
        """Authlib's ``validate_token_request`` (with PKCE on its hook) ignores ``resource``;
        RFC 8707 §2.2: it must be registered for the client and, when the authorization named
        one, be that one; it becomes the token's audience."""
        super().validate_token_request()
        request = self.request
        granted = request.authorization_code.resource
        resource = resources.granted_resource(request, request.client, granted)
        request.audience = resources.token_audience(request, request.client, resource)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The unused, unexpired code issued to ``client``. A used one is a replay (RFC 6749
        §4.1.2): the family it started is revoked before the request is refused."""
        # select_related("user").filter(code_digest=...).first(), as a statement built once.
        row = rowsql.first_with_related(
            AuthorizationCode, ("user",), "code_digest", credentials.digest(code)
        )
        if row is None or row.client_id != client.pk:
            return None
        if row.used_at is not None:
            code_services.authorization_code_replayed(code_id=row.pk)
            return None
        if row.expires_at <= timezone.now():
            return None
        return row

    def authenticate_user(self, authorization_code: AuthorizationCode):
        user = authorization_code.user
        return user if user.is_active else None

    @hooked
    def create_token_response(self):
        """RFC 6749 §4.1.4: Authlib's ``create_token_response`` without its
        ``log.debug("Issue token %r to %r", token, client)``, which writes the access and
        refresh token in clear to the log at DEBUG level (RFC 6749 §10.3-10.4: they MUST be
        kept confidential in storage). A client registered for ``refresh_token`` gets one
        without asking for ``offline_access`` (DESIGN.md §4)."""
        client = self.request.client
        authorization_code = self.request.authorization_code
        user = self.authenticate_user(authorization_code)
        if not user:
            raise InvalidGrantError("The user of this authorization code is not active.")
        self.request.user = user
        token = self.generate_token(
            user=user,
            scope=authorization_code.get_scope(),
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        self.save_token(token)
        self.delete_authorization_code(authorization_code)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Authlib calls this after ``save_token``, so between the two a concurrent request
        could redeem the same code (RFC 6749 §4.1.2: a code is used once). The code is
        consumed in ``save_token`` instead, under its row lock, and marked used rather than
        deleted: replay detection needs it."""


def save_token(token: dict, request) -> Token:
    """Redeem ``request.authorization_code`` for ``token`` under the code's row lock and start
    a grant family (RFC 6749 §4.1.2, §4.1.4). A code another request redeemed first is a
    replay: its family is revoked and the answer is ``invalid_grant``."""
    code = request.authorization_code
    dpop.check_code_binding(request, bound_jkt=code.dpop_jkt)
    jti = tokens.jwt_access_token(request, token, user=request.user, auth_time=code.auth_time)
    result = code_services.authorization_code_redeem(
        code_id=code.pk,
        client=request.client,
        token=token,
        jti=jti,
        audience=request.audience,
        dpop_jkt=request.dpop_jkt,
    )
    if result.outcome is not code_services.Redemption.ISSUED:
        raise InvalidGrantError("The authorization code is invalid, expired or used.")
    return result.token


class OpenIDToken(_OpenIDToken):
    """OIDC Core §3.1.3.3: when ``openid`` was granted, the code exchange also returns an
    id_token (Core §2, §3.1.3.6). An extension of ``AuthorizationCodeGrant``
    (``server.CODE_GRANT_EXTENSIONS``); Authlib's ``process_token`` hook adds it.

    Not Authlib's ``OpenIDCode``: prompt, max_age and nonce are handled by the authorization
    view and ``validate_authorization_request``. The nonce is passed through untouched
    (Core §15.5.2).
    """

    def encode_id_token(self, token, request) -> str:
        """Authlib's ``encode_id_token`` signs with a key per client
        (``resolve_client_private_key``) and one issuer from ``get_jwt_config()``, given no
        request; an id_token here is signed with the tenant's current key by ``oauth.signing``
        and names the tenant's issuer (OIDC Core §2), built by ``oidc.tokens.build_id_token``."""
        code = request.authorization_code
        return oidc_tokens.build_id_token(
            issuer=request.issuer,
            client=request.client,
            user=request.user,
            auth_time=code.auth_time,
            nonce=code.nonce or None,
            access_token=token["access_token"],
            amr=code.get_amr(),
            sid=code.sid or None,
        )
