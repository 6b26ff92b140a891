"""The device authorization endpoint (RFC 8628 §3.1, §3.2), Authlib's
``DeviceAuthorizationEndpoint`` with our storage and the tenant's verification URI."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import UnauthorizedClientError
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _DeviceAuthorizationEndpoint
from django.urls import reverse

from oauth.client_auth import TOKEN_ENDPOINT_AUTH_METHODS
from oauth.device import services
from oauth.grants import resources, scopes


class DeviceAuthorizationEndpoint(_DeviceAuthorizationEndpoint):
    """§3.1: the client authenticates with its registered method, as at the token endpoint
    (a public client sends its ``client_id``: ``Client.check_endpoint_auth_method``), and
    must be registered for the device code grant type."""

    CLIENT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)

    def create_endpoint_response(self, request):
        """§3.2. Authlib's checks the requested scope only against the server-wide
        ``scopes_supported`` (RFC 6749 §3.3 needs the client's own scopes, its defaults
        when none is named), ignores RFC 8707 ``resource``, never checks that the client
        may use this grant, stores the raw codes through ``save_device_credential`` and
        names one ``verification_uri`` for every tenant (``get_verification_uri`` is given
        no request). Here the device code and user code are stored as digests
        (``services.device_authorization_create``), and ``verification_uri`` is this
        tenant's ``/device``."""
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError(
                "This client is not registered for the device authorization grant."
            )
        scope = scopes.allowed_scope(client, request.payload.scope)
        resource = resources.requested_resource(request, client)
        issued = services.device_authorization_create(client=client, scope=scope, resource=resource)
        row = issued.row
        verification_uri = request.issuer + reverse("device")
        data = {
            "device_code": issued.device_code,
            "user_code": issued.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": (
                f"{verification_uri}?{urlencode({'user_code': issued.user_code})}"
            ),
            "expires_in": int((row.expires_at - row.created_at).total_seconds()),
            "interval": row.interval_seconds,
        }
        return 200, data, default_json_headers
