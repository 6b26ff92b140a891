"""Grants and token endpoints, as small subclasses of Authlib's (registered in server.py).

Each fills in Authlib's storage hooks with our selectors and services and tightens the
protocol where RFC 9700 asks for more than RFC 6749: exact redirect URIs, PKCE with S256
only (required for public clients), single-use codes under a row lock, refresh rotation
with reuse detection. No token, code or secret is ever logged.
"""

from __future__ import annotations

import hmac
import re

from authlib.common.urls import add_params_to_uri
from authlib.consts import default_json_headers
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDToken as _OpenIDToken
from django.utils import timezone

from kernel import credentials as digests
from oauth import selectors
from oauth.client_auth import BASIC, NONE, POST
from oauth.models import AuthorizationCode, Client
from oauth.oidc import authorization as oidc_authorization
from oauth.oidc import tokens as oidc_tokens
from oauth.services import codes as code_services
from oauth.services import tokens as token_services
from oauth.signals import token_issued

#: RFC 7636 §4.1 (verifier) and §4.2 (an S256 challenge is base64url of 32 bytes).
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
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
)


def safe_text(text: str) -> str:
    """Error descriptions may only use %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)[:300]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is not allowed for this client."""

    error = "invalid_target"


class AuthorizationPageError(OAuth2Error):
    """An authorization request that cannot be sent back to the client, because the client
    or its redirect URI is unknown (RFC 6749 §4.1.2.1): shown to the user as a 400 page."""

    error = "invalid_request"


def generate_bearer_token(
    grant_type: str,
    client: Client,
    user=None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict:
    """The token response body (RFC 6749 §5.1): 256-bit random opaque tokens.

    ``scope`` arrives resolved (the grant checked it against the client), so it is used as
    is. The lifetime is the client's, else the tenant's ``IssuerSettings``.
    """
    if expires_in is None:
        # JWT access tokens: sign_jwt checks exp against the fresh policy, so read it fresh.
        policy = selectors.issuer_policy(fresh=oidc_tokens.uses_jwt_access_tokens(client))
        expires_in = client.access_token_lifetime or policy.access_token_lifetime
    token = {
        "access_token": digests.new_secret(),
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if include_refresh_token:
        token["refresh_token"] = digests.new_secret()
    if scope:
        token["scope"] = scope
    return token


def jwt_access_token(
    request, token: dict, *, user=None, audience: str = "", auth_time=None
) -> str | None:
    """RFC 9068: for a client registered with ``access_token_format=jwt``, replace the opaque
    access token in ``token`` by a JWT (``typ: at+jwt``, built by ``oidc``) signed with the
    tenant's current key (``oauth.signing``) and return its ``jti``; None for opaque clients.
    ``audience`` is the one ``token_audience`` resolved.

    Like an opaque token it is stored as a digest, so introspection and revocation treat
    both formats alike; resource servers may also verify it offline against JWKS.
    """
    client = request.client
    if not oidc_tokens.uses_jwt_access_tokens(client):
        return None
    token["access_token"], jti = oidc_tokens.build_jwt_access_token(
        issuer=request.issuer,
        client=client,
        user=user,
        scope=token.get("scope"),
        audience=audience,
        expires_in=token["expires_in"],
        auth_time=auth_time,
    )
    return jti


def requested_resource(request, client: Client) -> str:
    """RFC 8707 §2: at most one ``resource``, and one the client is registered for."""
    resource = request.payload.data.get("resource") or ""
    if resource and resource not in client.resources:
        raise InvalidTargetError("The requested resource is not registered for this client.")
    return resource


def granted_resource(request, client: Client, granted: str) -> str:
    """RFC 8707 §2.2: a ``resource`` at the token endpoint must be registered for the client
    and, when the authorization named one, be that one; without it, the authorized one."""
    requested = requested_resource(request, client)
    if requested and granted and requested != granted:
        raise InvalidTargetError("The requested resource is not the one that was authorized.")
    return requested or granted


def token_audience(request, client: Client, resource: str) -> str:
    """The audience stored with the access token: the resource, or for RFC 9068 JWT access
    tokens the tenant's default (``oidc.access_token_audience``: never a client_id)."""
    if not oidc_tokens.uses_jwt_access_tokens(client):
        return resource
    try:
        return oidc_tokens.access_token_audience(resource=resource, issuer=request.issuer)
    except oidc_tokens.AudienceError as error:
        raise InvalidTargetError(str(error)) from None


def _issued(grant, token: dict) -> tuple[int, dict, list]:
    token_issued.send(
        sender=grant.__class__, grant_type=grant.GRANT_TYPE, client_id=grant.client.client_id
    )
    return 200, token, grant.TOKEN_RESPONSE_HEADER


# --- client_credentials (RFC 6749 §4.4) -------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4 for confidential clients, ``client_secret_basic`` or ``_post``.

    Scope omitted: the client's default scopes; any scope outside the client's allowed
    scopes: ``invalid_scope`` (§3.3). No refresh token (§4.4.3).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST]

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the client_credentials grant."
            )
        self.request.client = client
        scope = client.get_allowed_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError("The requested scope is not allowed for this client.")
        self.request.scope = scope
        self.resource = token_audience(
            self.request, client, requested_resource(self.request, client)
        )

    @hooked
    def create_token_response(self):
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        jti = jwt_access_token(self.request, token, audience=self.resource)
        token_services.token_issue(client=self.client, token=token, audience=self.resource, jti=jti)
        return _issued(self, token)


# --- authorization_code (RFC 6749 §4.1, RFC 7636, RFC 9207) -----------------------------------


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1 with PKCE (RFC 7636, S256 only, required for public clients),
    exact redirect URIs with RFC 8252 §7.3 loopback ports, RFC 9207 ``iss`` and
    single-use codes redeemed under a row lock.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST, NONE]

    # -- authorization endpoint --

    def _single(self, name: str) -> str | None:
        values = self.request.payload.datalist.get(name) or []
        return values[0] if len(values) == 1 else None

    def _repeated(self, name: str) -> bool:
        return len(self.request.payload.datalist.get(name) or []) > 1

    def validate_authorization_request(self) -> str:
        """RFC 6749 §4.1.1 and §4.1.2.1: the client and redirect URI are checked first and
        any problem with them is shown to the user (never a redirect); every later problem
        goes back to the redirect URI with ``state`` (and ``iss``, added by the view)."""
        request = self.request
        if self._repeated("client_id") or self._repeated("redirect_uri"):
            raise AuthorizationPageError("The client_id or redirect_uri parameter is repeated.")
        client_id = self._single("client_id")
        if not client_id:
            raise AuthorizationPageError("The request names no client (client_id is missing).")
        client = self.server.query_client(client_id)
        if client is None:
            raise AuthorizationPageError("The application that sent you here is not known.")
        requested_uri = self._single("redirect_uri")
        if requested_uri:
            if not client.check_redirect_uri(requested_uri):
                raise AuthorizationPageError(
                    "The redirect URI is not registered for this application."
                )
            redirect_uri = requested_uri
        else:
            redirect_uri = client.get_default_redirect_uri()
            if not redirect_uri:
                raise AuthorizationPageError(
                    "The request names no redirect URI and the application has several."
                )
        request.client = client
        self.redirect_uri = redirect_uri
        state = None if self._repeated("state") else self._single("state")
        try:
            self._validate_parameters(client)
            self.execute_hook("after_validate_authorization_request_payload", redirect_uri)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            error.state = state
            raise
        return redirect_uri

    def _validate_parameters(self, client: Client) -> None:
        request = self.request
        data = request.payload.data
        for name in AUTHORIZATION_PARAMETERS:
            if self._repeated(name):
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
        scope = client.get_allowed_scope(data.get("scope"))
        if scope is None:
            raise InvalidScopeError("The requested scope is not allowed for this client.")
        request.scope = scope
        validate_code_challenge(data, client)
        if len(data.get("nonce") or "") > MAX_NONCE_LENGTH:
            raise InvalidRequestError(f"The nonce is longer than {MAX_NONCE_LENGTH} characters.")
        prompts = set((data.get("prompt") or "").split())
        if not prompts <= PROMPTS or ("none" in prompts and len(prompts) > 1):
            raise InvalidRequestError("The prompt parameter is invalid.")
        try:
            oidc_authorization.parse_max_age(data.get("max_age"))
        except ValueError as error:
            raise InvalidRequestError(str(error)) from None
        self.resource = requested_resource(request, client)

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """RFC 6749 §4.1.2: a code (and ``state``, and RFC 9207 ``iss``) back to the client;
        ``access_denied`` (§4.1.2.1) when the user said no."""
        state = self.request.payload.state
        if not grant_user:
            raise AccessDeniedError(redirect_uri=redirect_uri, state=state)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        params = [("code", code)]
        if state:
            params.append(("state", state))
        params.append(("iss", self.request.issuer))
        return 302, "", [("Location", add_params_to_uri(redirect_uri, params))]

    def generate_authorization_code(self) -> str:
        return digests.new_secret()

    def save_authorization_code(self, code: str, request):
        data = request.payload.data
        challenge = data.get("code_challenge") or ""
        return code_services.authorization_code_create(
            client=request.client,
            user=request.user,
            code=code,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope or "",
            auth_time=getattr(request, "auth_time", None) or timezone.now(),
            nonce=data.get("nonce") or "",
            code_challenge=challenge,
            code_challenge_method="S256" if challenge else "",
            resource=getattr(self, "resource", ""),
        )

    # -- token endpoint --

    @hooked
    def validate_token_request(self):
        """RFC 6749 §4.1.3 and RFC 7636 §4.5-4.6."""
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the authorization_code grant."
            )
        code = self.request.form.get("code")
        if not code:
            raise InvalidRequestError("The code parameter is missing.")
        authorization_code = self.query_authorization_code(code, client)
        if authorization_code is None:
            raise InvalidGrantError("The authorization code is invalid, expired or used.")
        original = authorization_code.get_redirect_uri()
        if original and self.request.payload.redirect_uri != original:
            raise InvalidGrantError("The redirect_uri differs from the authorization request.")
        verify_code_verifier(authorization_code, self.request.form.get("code_verifier"))
        self.request.client = client
        resource = granted_resource(self.request, client, authorization_code.resource)
        self.resource = token_audience(self.request, client, resource)
        self.request.authorization_code = authorization_code

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The unused, unexpired code issued to ``client``. A used one is a replay (RFC 6749
        §4.1.2): the family it started is revoked before the request is refused."""
        row = (
            AuthorizationCode.objects.select_related("user")
            .filter(code_digest=digests.digest(code))
            .first()
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

    def delete_authorization_code(self, authorization_code):
        """Codes are marked used, never deleted: replay detection needs them."""

    @hooked
    def create_token_response(self):
        """RFC 6749 §4.1.4. A client registered for ``refresh_token`` gets one without
        asking for ``offline_access`` (DESIGN.md §4)."""
        client = self.request.client
        authorization_code = self.request.authorization_code
        user = self.authenticate_user(authorization_code)
        if user is None:
            raise InvalidGrantError("The user of this authorization code is not active.")
        token = self.generate_token(
            user=user,
            scope=authorization_code.get_scope(),
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        jti = jwt_access_token(
            self.request,
            token,
            user=user,
            audience=self.resource,
            auth_time=authorization_code.auth_time,
        )
        result = code_services.authorization_code_redeem(
            code_id=authorization_code.pk,
            client=client,
            token=token,
            jti=jti,
            audience=self.resource,
        )
        if result.outcome is not code_services.Redemption.ISSUED:
            raise InvalidGrantError("The authorization code is invalid, expired or used.")
        self.request.user = user
        return _issued(self, token)


def validate_code_challenge(data: dict, client: Client) -> None:
    """RFC 7636 §4.3 at the authorization endpoint, as RFC 9700 §2.1.1 tightens it: S256
    only (``plain`` and a challenge without a method are refused), required for public
    clients, honoured for confidential ones."""
    challenge = data.get("code_challenge")
    method = data.get("code_challenge_method")
    if not challenge:
        if method:
            raise InvalidRequestError("code_challenge_method was sent without code_challenge.")
        if client.is_public:
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
        return
    if method != "S256":
        raise InvalidRequestError("code_challenge_method must be S256.")
    if not S256_CHALLENGE.match(challenge):
        raise InvalidRequestError("code_challenge must be the base64url SHA-256 of a verifier.")


def verify_code_verifier(authorization_code: AuthorizationCode, verifier: str | None) -> None:
    """RFC 7636 §4.6; RFC 9700 §2.1.1: a verifier without a challenge is refused too."""
    challenge = authorization_code.code_challenge
    if not challenge:
        if verifier:
            raise InvalidRequestError("code_verifier was sent but the request had no challenge.")
        return
    if not verifier:
        raise InvalidRequestError("The code_verifier parameter is missing.")
    if not CODE_VERIFIER.match(verifier):
        raise InvalidRequestError("The code_verifier is malformed.")
    if not hmac.compare_digest(create_s256_code_challenge(verifier), challenge):
        raise InvalidGrantError("The code_verifier does not match the code_challenge.")


class OpenIDToken(_OpenIDToken):
    """OIDC Core §3.1.3.3: when ``openid`` was granted, the code exchange also returns an
    id_token (Core §2, §3.1.3.6), built by ``oidc.build_id_token`` and signed with the
    tenant's key by ``oauth.signing`` instead of Authlib's client-key path. An extension of
    AuthorizationCodeGrant (``server.CODE_GRANT_EXTENSIONS``). Authlib's ``OpenIDCode``
    would also hook its prompt handling into the authorization request, with errors that
    lose ``state``; prompt, max_age and nonce are handled by the authorization view and
    ``_validate_parameters`` instead. The nonce is passed through untouched (Core §15.5.2)."""

    def encode_id_token(self, token, request) -> str:
        code = request.authorization_code
        return oidc_tokens.build_id_token(
            issuer=request.issuer,
            client=request.client,
            user=request.user,
            auth_time=code.auth_time,
            nonce=code.nonce or None,
            access_token=token["access_token"],
        )


# --- refresh_token (RFC 6749 §6, RFC 9700 §4.14.2) --------------------------------------------


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use. The new member keeps the family's granted scope; a narrower
    ``scope`` narrows only the new access token. Races and reuse:
    ``services.tokens.refresh_token_rotate``.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST, NONE]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the refresh_token grant."
            )
        self.request.client = client
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("The refresh_token parameter is missing.")
        row = self.authenticate_refresh_token(value)
        if row is None or row.family_id is None or not row.check_client(client):
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.")
        granted = row.family.scope.split()
        requested = (self.request.payload.scope or "").split()
        if requested and not set(requested) <= set(granted):
            raise InvalidScopeError("The requested scope exceeds the scope originally granted.")
        self.request.scope = " ".join(dict.fromkeys(requested)) if requested else " ".join(granted)
        self.request.refresh_token = row
        resource = granted_resource(self.request, client, row.family.resource) or row.audience
        self.resource = token_audience(self.request, client, resource)

    def authenticate_refresh_token(self, refresh_token: str):
        return selectors.refresh_token_by_value(value=refresh_token)

    def authenticate_user(self, refresh_token):
        user = refresh_token.user
        return user if user is not None and user.is_active else None

    def revoke_old_credential(self, refresh_token):
        """Done inside ``token_services.refresh_token_rotate``, under the same row lock."""

    @hooked
    def create_token_response(self):
        row = self.request.refresh_token
        user = self.authenticate_user(row)
        if user is None:
            raise InvalidGrantError("The user of this refresh token is not active.")
        token = self.generate_token(user=user, scope=self.request.scope, include_refresh_token=True)
        jti = jwt_access_token(
            self.request, token, user=user, audience=self.resource, auth_time=row.family.auth_time
        )
        policy = selectors.issuer_policy(fresh=True)
        result = token_services.refresh_token_rotate(
            token_id=row.pk,
            family_id=row.family_id,
            client=self.request.client,
            token=token,
            jti=jti,
            audience=self.resource,
            reuse_window=policy.refresh_reuse_window,
        )
        if result.outcome is not token_services.Rotation.ROTATED:
            raise InvalidGrantError(result.description)
        self.request.user = user
        return _issued(self, token)


# --- Revocation (RFC 7009) and introspection (RFC 7662) ---------------------------------------


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009. Confidential clients authenticate with a secret; a public client names
    itself with ``client_id`` (§2.1). Unknown, expired or already revoked tokens: 200
    (§2.2). Another client's token: refused with ``invalid_grant``, nothing revoked."""

    CLIENT_AUTH_METHODS = [BASIC, POST, NONE]

    def check_params(self, request, client):
        # An unknown or wrong token_type_hint is not an error: the server searches both
        # kinds (§2.1), so only a missing token is.
        if not request.form.get("token"):
            raise InvalidRequestError("The token parameter is missing.")

    def query_token(self, token_string, token_type_hint):
        return selectors.token_by_value(value=token_string, hint=token_type_hint)

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        found = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if found is not None and not found[0].check_client(client):
            raise InvalidGrantError("The token was issued to another client.")
        return found

    def revoke_token(self, token, request):
        row, kind = token
        token_services.token_revoke(token=row, kind=kind)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662. Answers the token's own client and clients marked ``can_introspect``;
    anyone else, and every revoked, expired, rotated-out or unknown token, gets
    ``{"active": false}`` (§2.2, §4: no token scanning)."""

    CLIENT_AUTH_METHODS = [BASIC, POST]

    def check_params(self, request, client):
        if not request.form.get("token"):
            raise InvalidRequestError("The token parameter is missing.")

    def query_token(self, token_string, token_type_hint):
        return selectors.token_by_value(value=token_string, hint=token_type_hint)

    def check_permission(self, token, client, request) -> bool:
        row, _kind = token
        return row.client_id == client.pk or client.can_introspect

    def create_endpoint_response(self, request):
        client = self.authenticate_endpoint_client(request)
        found = self.authenticate_token(request, client)
        return 200, self.introspection_payload(found, issuer=request.issuer), default_json_headers

    def introspection_payload(self, found, *, issuer: str) -> dict:
        if not found:
            return {"active": False}
        row, kind = found
        if kind == selectors.ACCESS:
            expires_at, token_type = row.access_expires_at, "Bearer"
        else:
            expires_at, token_type = row.refresh_expires_at, "refresh_token"
        if row.is_revoked() or expires_at is None or expires_at <= timezone.now():
            return {"active": False}
        # A disabled client's tokens, and a deactivated user's, stop working at once: the
        # console's "Disable" is the tenant admin's kill switch (RFC 7662 §2.2, "active").
        if row.client.disabled or (row.user_id is not None and not row.user.is_active):
            return {"active": False}
        scope = row.family.scope if kind == selectors.REFRESH and row.family_id else row.scope
        payload = {
            "active": True,
            "client_id": row.client.client_id,
            "scope": scope,
            "exp": int(expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "token_type": token_type,
            "iss": issuer,
        }
        if row.user_id is not None:
            payload["sub"] = str(row.user_id)
        if row.audience:
            payload["aud"] = row.audience
        return payload


def authorization_error_location(error: OAuth2Error, issuer: str) -> str:
    """The redirect of an authorization error (RFC 6749 §4.1.2.1) with RFC 9207 ``iss``."""
    params = [(k, v) for k, v in error.get_body() if k != "error_uri"]
    params.append(("iss", issuer))
    return add_params_to_uri(error.redirect_uri, params)


def is_page_error(error: OAuth2Error) -> bool:
    """Errors that must not be redirected: no validated client and redirect URI."""
    return isinstance(error, AuthorizationPageError | InvalidClientError) or not getattr(
        error, "redirect_uri", None
    )
