"""The device code grant at the token endpoint (RFC 8628 §3.4, §3.5): polling answered
``authorization_pending``, ``slow_down``, ``expired_token`` or ``access_denied`` until the
user decides, then tokens once; an id_token when ``openid`` was granted (OIDC Core §3.1.3.3
applied to this grant, as Keycloak and others do)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    AuthorizationPendingError,
    ExpiredTokenError,
    SlowDownError,
)
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oidc.core.grants import OpenIDToken as _OpenIDToken
from django.utils import timezone

from oauth import selectors as oauth_selectors
from oauth.client_auth import TOKEN_ENDPOINT_AUTH_METHODS
from oauth.device import selectors, services
from oauth.grants import resources, tokens
from oauth.models import DeviceAuthorization, Token
from oauth.oidc import tokens as oidc_tokens

GRANT_TYPE = DEVICE_CODE_GRANT_TYPE


class DeviceCodeGrant(_DeviceCodeGrant):
    """RFC 8628 §3.4-§3.5, for any client registered with this grant type, authenticated
    with its registered method (a public client names itself with ``client_id``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)

    def validate_token_request(self) -> None:
        """Authlib's ``validate_token_request`` answers an unknown device code with
        ``invalid_request`` and another client's with a bare ``unauthorized_client`` (RFC
        6749 §5.2: a grant that is invalid or issued to another client is
        ``invalid_grant``), never checks RFC 8707 ``resource``, and leaves the decision to
        ``query_user_grant``/``should_slow_down`` hooks that cannot enforce the interval
        atomically. Here, in order: the client, the device code, a redeemed one
        (``invalid_grant``; past the tenant's reuse window a replay, which revokes its
        family), its expiry (§3.5 ``expired_token``), the user's denial
        (``access_denied``), and for a pending one the polling interval, enforced in one
        conditional UPDATE (``slow_down``, else ``authorization_pending``)."""
        request = self.request
        device_code = request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("The device_code parameter is missing.")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the device authorization grant."
            )
        row = selectors.device_authorization_by_device_code(device_code)
        if row is None or row.client_id != client.pk:
            raise InvalidGrantError("The device code is invalid.")
        state = DeviceAuthorization.State
        if row.state == state.CONSUMED:
            services.device_code_replayed(
                authorization_id=row.pk,
                reuse_window=oauth_selectors.issuer_policy(fresh=True).refresh_reuse_window,
            )
            raise InvalidGrantError("The device code was already used.")
        if row.expires_at <= timezone.now():
            raise ExpiredTokenError(
                "The device code has expired; start a new device authorization."
            )
        if row.state == state.DENIED:
            raise AccessDeniedError("The user denied the authorization request.")
        if row.state == state.PENDING:
            if not services.device_authorization_poll(authorization_id=row.pk):
                raise SlowDownError(
                    "Polling too often: wait 5 seconds more between requests (RFC 8628 "
                    "section 3.5)."
                )
            raise AuthorizationPendingError("The user has not yet approved the request.")
        user = row.user
        if user is None or not user.is_active:
            raise InvalidGrantError("The user of this device code is not active.")
        resource = resources.granted_resource(request, client, row.resource)
        request.audience = resources.token_audience(request, client, resource)
        request.user = user
        request.client = client
        request.credential = row

    @hooked
    def create_token_response(self):
        """§3.5: Authlib's ``create_token_response`` without its ``log.debug("Issue token
        %r to %r", token, client)``, which writes the tokens in clear to the log at DEBUG
        level (RFC 6749 §10.3). A refresh token when the client is registered for one."""
        client = self.request.client
        token = self.generate_token(
            user=self.request.user,
            scope=self.request.credential.get_scope(),
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def save_token(token: dict, request) -> Token:
    """Redeem ``request.credential`` (the approved device authorization) for ``token``
    under its row lock (``services.device_authorization_redeem``); a device code another
    poll redeemed first is ``invalid_grant``."""
    row = request.credential
    jti = tokens.jwt_access_token(request, token, user=request.user, auth_time=row.auth_time)
    result = services.device_authorization_redeem(
        authorization_id=row.pk,
        client=request.client,
        token=token,
        jti=jti,
        audience=request.audience,
        dpop_jkt=request.dpop_jkt,
    )
    if result.outcome is not services.Redemption.ISSUED:
        raise InvalidGrantError("The device code is invalid, expired or used.")
    return result.token


class DeviceOpenIDToken(_OpenIDToken):
    """OIDC Core §3.1.3.3 for this grant: with ``openid`` granted, the token response also
    carries an id_token, signed with the tenant's current key (``oidc.tokens``), with the
    approving sign-in's ``auth_time``, ``amr`` and ``acr``; no ``nonce`` (the device
    authorization request has none). Authlib's ``process_token`` hook adds it."""

    def encode_id_token(self, token, request) -> str:
        row = request.credential
        return oidc_tokens.build_id_token(
            issuer=request.issuer,
            client=request.client,
            user=request.user,
            auth_time=row.auth_time or row.decided_at,
            nonce=None,
            access_token=token["access_token"],
            amr=row.get_amr(),
        )
