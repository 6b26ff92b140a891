"""Forms of the console's client pages. They parse what the admin typed; every rule about
what a client may be registered with lives in ``oauth.client_metadata.ClientMetadata``, and
its ``ClientError`` is shown next to the field it names."""

from django import forms

from oauth.client_metadata import ClientError, ClientMetadata
from oauth.console.forms.client_keys import ClientKeysFields
from oauth.grant_types import DEVICE_CODE, GRANT_TYPES
from oauth.models import Client, SigningKey
from oauth.security_profile import ASYMMETRIC_ALGS
from oauth.services.clients import MAX_GRACE_SECONDS

MAX_LIST_TEXT = 20_000
#: ``ClientMetadata`` fields the edit form does not show (yet): kept from the client.
MAX_LIFETIME = 10 * 365 * 86400


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def _lines_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_LIST_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=help_text,
    )


class MetadataForm(forms.Form):
    """A form whose ``metadata()`` builds a ``ClientMetadata``, or puts the reason it could
    not next to the field at fault and returns None."""

    def metadata_arguments(self) -> dict:
        raise NotImplementedError

    def metadata(self) -> ClientMetadata | None:
        if not self.is_valid():
            return None
        try:
            return ClientMetadata(**self.metadata_arguments())
        except ClientError as exc:
            self.add_client_error(exc)
            return None

    def add_client_error(self, exc: ClientError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, _sentence(exc.web))


def _dpop_field() -> forms.BooleanField:
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``, in the create and the edit form."""
    return forms.BooleanField(
        required=False,
        label="DPoP-bound access tokens",
        help_text="every token request must carry a DPoP proof (RFC 9449)",
    )


class ClientForm(MetadataForm, ClientKeysFields):
    """Registration: the kind of application decides the grants and the auth method (a
    confidential one may pick an assertion method instead, RFC 7523 §2.2)."""

    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=[
            ("web", "Web application (confidential, authorization code + refresh)"),
            ("spa", "Browser or native app (public, PKCE, authorization code + refresh)"),
            ("service", "Machine to machine (confidential, client credentials)"),
            ("device", "TV or command-line tool (public, device authorization + refresh)"),
        ]
    )
    redirect_uris = _lines_field("Redirect URIs", "one per line")
    scopes = forms.CharField(
        required=False, max_length=2000, help_text="space-separated, e.g. openid profile email api"
    )
    can_introspect = forms.BooleanField(required=False, label="Resource server (may introspect)")
    dpop_bound_access_tokens = _dpop_field()
    auth_method = forms.ChoiceField(
        label="Token endpoint authentication",
        required=False,
        choices=[
            ("", "client secret (HTTP Basic), or none for a public app"),
            (Client.AuthMethod.PRIVATE_KEY_JWT, Client.AuthMethod.PRIVATE_KEY_JWT.label),
            (Client.AuthMethod.SECRET_JWT, Client.AuthMethod.SECRET_JWT.label),
        ],
        help_text="private_key_jwt needs the client's public keys below",
    )

    def metadata_arguments(self) -> dict:
        data = self.cleaned_data
        kind = data["kind"]
        chosen = data["auth_method"] if kind != "spa" else ""
        grant_types = (
            ["client_credentials"] if kind == "service" else ["authorization_code", "refresh_token"]
        )
        if kind == "device":  # RFC 8628
            grant_types = [DEVICE_CODE, "refresh_token"]
        return {
            "name": data["name"],
            "grant_types": grant_types,
            "redirect_uris": _lines(data["redirect_uris"]),
            "scopes": data["scopes"].split(),
            "auth_method": chosen
            or (Client.AuthMethod.NONE if kind in ("spa", "device") else Client.AuthMethod.BASIC),
            "can_introspect": data["can_introspect"],
            "dpop_bound_access_tokens": data["dpop_bound_access_tokens"],
            **self.keys_arguments(),
        }


class ClientEditForm(MetadataForm, ClientKeysFields):
    """Every field a client is registered with (RFC 7591 §2, OIDC Registration §2)."""

    name = forms.CharField(max_length=200, help_text="shown to users on the consent page")
    auth_method = forms.ChoiceField(
        label="Token endpoint authentication",
        choices=Client.AuthMethod.choices,
        help_text="none = public client (PKCE); public and confidential cannot be swapped",
    )
    grant_types = forms.MultipleChoiceField(
        label="Grant types",
        required=False,
        choices=[(g, g) for g in GRANT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )
    redirect_uris = _lines_field("Redirect URIs", "exact match; one per line")
    post_logout_redirect_uris = _lines_field(
        "Post-logout redirect URIs", "where sign-out may return to; one per line"
    )
    scopes = forms.CharField(
        label="Allowed scopes",
        required=False,
        max_length=MAX_LIST_TEXT,
        help_text="space-separated",
    )
    default_scopes = forms.CharField(
        label="Default scopes",
        required=False,
        max_length=MAX_LIST_TEXT,
        help_text="granted when a request names none; empty = all allowed scopes",
    )
    resources = _lines_field("Resource indicators (RFC 8707)", "absolute URIs, one per line")
    cors_origins = _lines_field(
        "CORS origins", "browser origins allowed to call the token endpoints, one per line"
    )
    access_token_format = forms.ChoiceField(
        label="Access token format", choices=Client.AccessTokenFormat.choices
    )
    access_token_lifetime = forms.IntegerField(
        label="Access token lifetime (seconds)",
        required=False,
        min_value=1,
        max_value=MAX_LIFETIME,
        help_text="empty = the tenant's default",
    )
    refresh_token_lifetime = forms.IntegerField(
        label="Refresh token lifetime (seconds)",
        required=False,
        min_value=1,
        max_value=MAX_LIFETIME,
        help_text="empty = the tenant's default",
    )
    id_token_signed_response_alg = forms.ChoiceField(
        label="ID token signing algorithm", choices=SigningKey.Alg.choices
    )
    can_introspect = forms.BooleanField(required=False, label="Resource server (may introspect)")
    token_exchange_audiences = _lines_field(
        "Token exchange audiences (RFC 8693)",
        "audiences or resources this client may request by token exchange, beyond the "
        "subject token's own; one per line",
    )
    require_pushed_authorization_requests = forms.BooleanField(
        required=False,
        label="Require PAR",
        help_text="authorization requests must be pushed to /oauth/par first (RFC 9126)",
    )
    request_object_signing_alg = forms.ChoiceField(
        label="Request object signing algorithm",
        required=False,
        choices=[("", "none: signed request objects are refused")]
        + [(alg, alg) for alg in ASYMMETRIC_ALGS],
        help_text="RFC 9101 / OIDC Core 6.1; verified with the client's registered keys",
    )
    dpop_bound_access_tokens = _dpop_field()
    backchannel_logout_uri = forms.CharField(
        label="Back-channel logout URI",
        required=False,
        max_length=2000,
        help_text="https URL told when a user signs out (OIDC Back-Channel Logout); empty = none",
    )
    backchannel_logout_session_required = forms.BooleanField(
        required=False, label="Needs the session id (sid) in logout tokens"
    )

    @classmethod
    def for_client(cls, client: Client, data=None) -> "ClientEditForm":
        initial = {
            "name": client.name,
            "auth_method": client.token_endpoint_auth_method,
            "grant_types": list(client.grant_types),
            "redirect_uris": "\n".join(client.redirect_uris),
            "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
            "scopes": " ".join(client.scopes),
            "default_scopes": " ".join(client.default_scopes),
            "resources": "\n".join(client.resources),
            "cors_origins": "\n".join(client.cors_origins),
            "access_token_format": client.access_token_format,
            "access_token_lifetime": client.access_token_lifetime,
            "refresh_token_lifetime": client.refresh_token_lifetime,
            "id_token_signed_response_alg": client.id_token_signed_response_alg,
            "can_introspect": client.can_introspect,
            "token_exchange_audiences": "\n".join(client.token_exchange_audiences),
            "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
            "request_object_signing_alg": client.request_object_signing_alg,
            "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
            "backchannel_logout_uri": client.backchannel_logout_uri,
            "backchannel_logout_session_required": client.backchannel_logout_session_required,
            **ClientKeysFields.keys_initial(client),
        }
        return cls(data, initial=initial)

    def metadata_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "require_pushed_authorization_requests": data["require_pushed_authorization_requests"],
            "request_object_signing_alg": data["request_object_signing_alg"],
            "name": data["name"],
            "auth_method": data["auth_method"],
            "grant_types": list(data["grant_types"]),
            "redirect_uris": _lines(data["redirect_uris"]),
            "post_logout_redirect_uris": _lines(data["post_logout_redirect_uris"]),
            "scopes": data["scopes"].split(),
            "default_scopes": data["default_scopes"].split(),
            "resources": _lines(data["resources"]),
            "cors_origins": _lines(data["cors_origins"]),
            "access_token_format": data["access_token_format"],
            "access_token_lifetime": data["access_token_lifetime"],
            "refresh_token_lifetime": data["refresh_token_lifetime"],
            "id_token_signed_response_alg": data["id_token_signed_response_alg"],
            "can_introspect": data["can_introspect"],
            "token_exchange_audiences": _lines(data["token_exchange_audiences"]),
            "dpop_bound_access_tokens": data["dpop_bound_access_tokens"],
            "backchannel_logout_uri": data["backchannel_logout_uri"].strip(),
            "backchannel_logout_session_required": data["backchannel_logout_session_required"],
            **self.keys_arguments(),
        }


class RotateSecretForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        label="The current secret keeps working for",
        coerce=int,
        initial=86400,
        choices=[
            (0, "no time: it stops at once"),
            (300, "5 minutes"),
            (3600, "1 hour"),
            (86400, "24 hours"),
            (7 * 86400, "7 days"),
            (MAX_GRACE_SECONDS, "30 days"),
            (-1, "a custom time (below)"),
        ],
    )
    custom_seconds = forms.IntegerField(
        label="Custom overlap (seconds)", required=False, min_value=0, max_value=MAX_GRACE_SECONDS
    )

    def grace(self) -> int:
        data = self.cleaned_data
        if data["grace_seconds"] >= 0:
            return data["grace_seconds"]
        return data["custom_seconds"] or 0

    def clean(self):
        data = super().clean()
        if data.get("grace_seconds") == -1 and data.get("custom_seconds") is None:
            self.add_error("custom_seconds", "Enter the overlap in seconds.")
        return data
